"""The OpenAPI document: public, valid OpenAPI 3 (openapi-spec-validator), and describing every route of
``/api/v1`` with its method."""

from __future__ import annotations

import re

from openapi_spec_validator import validate


def test_the_document_is_public_and_valid_openapi_3(client):
    answer = client.get("/api/v1/openapi.json")
    assert answer.status_code == 200 and answer.is_json
    document = answer.get_json()
    validate(document)
    assert document["openapi"].startswith("3.")
    assert document["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}


def test_every_api_route_and_method_is_described(app, client):
    document = client.get("/api/v1/openapi.json").get_json()
    described = {
        (path, method.upper())
        for path, item in document["paths"].items()
        for method in item
        if method in {"get", "post", "patch", "put", "delete"}
    }
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
            routes |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes == described
    assert len(routes) >= 11


def test_every_operation_names_its_responses_and_errors(client):
    document = client.get("/api/v1/openapi.json").get_json()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            assert operation["summary"], (path, method)
            if path != "/openapi.json":
                assert {"401", "403"} <= set(operation["responses"]), (path, method)
                assert any(code.startswith("2") for code in operation["responses"]), (path, method)
