"""Twilio's ``X-Twilio-Signature``: one rule for every Twilio webhook, voice and SMS — and Somleng's.

Twilio signs the URL it requested plus every posted parameter with the account's auth token (provider
reference §4). Somleng signs every webhook the same way, under the same header, with its account's auth token
(HMAC-SHA1 of the URL + the sorted names and values, base64: docs/somleng.md), so ``TWILIO_COMPATIBLE`` changes
nothing here. That URL is always one we gave Twilio — in its console, in TwiML, in the REST API — under
``PUBLIC_BASE_URL``, so it is rebuilt from ``PUBLIC_BASE_URL`` + the path + the query string (the ``?``
only when there is a query: ``request.full_path`` adds a lone ``?``, which breaks the signature), and
never from ``Host`` or ``X-Forwarded-*``: those are the client's to choose, and a request Twilio signed
for another deployment of the same account (same token, another host) must not pass here.
``TRUSTED_PROXIES`` (werkzeug's ProxyFix) changes what ``request`` says about the client, not this URL.
"""

from __future__ import annotations

from flask import Request
from twilio.request_validator import RequestValidator

from core.config import Settings

HEADER = "X-Twilio-Signature"


def signed_url(request: Request, settings: Settings) -> str:
    """The URL Twilio requested and signed: ``PUBLIC_BASE_URL`` + path (+ ``?`` + query when there is one)."""
    query = request.query_string.decode("latin-1")
    return settings.public_base_url + request.path + (f"?{query}" if query else "")


def verify(request: Request, settings: Settings) -> bool:
    """Whether the request carries Twilio's signature of ``signed_url`` and every posted parameter.

    The body must already have passed ``providers.webhooks.provider_webhook`` (a plain form); anything the
    SDK's validator still cannot digest is refused, never raised.
    """
    signature = request.headers.get(HEADER, "")
    if not signature or not settings.twilio_auth_token:
        return False
    validator = RequestValidator(settings.twilio_auth_token)
    try:
        return validator.validate(signed_url(request, settings), request.form, signature)
    except (TypeError, ValueError, AttributeError):
        return False
