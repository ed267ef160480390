"""The partners' JSON API, version 1, under ``/api/v1``.

A partner calls it with one of their user's API tokens (``Authorization: Bearer kls_...``; tokens are made and
revoked on the dashboard's tokens page). Everything it returns is inside that user's scope
(``accounts.scope.listener_clause``), exactly as the dashboard's pages; a listener out of scope answers 404.
Errors are JSON everywhere under ``/api`` (``{"error": ..., "message": ..., "field": ...}``), never HTML.
Lists use cursor pagination (``api.pagination``); the OpenAPI 3 document is at ``/api/v1/openapi.json``.
"""
