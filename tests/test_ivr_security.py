"""Who may talk to the voice webhooks: Twilio's signature (signed with the SDK's own RequestValidator,
directly and behind a proxy), Africa's Talking's secret path segment. Forged requests: 403, nothing changes."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from core.db import db
from ivr.models import CallSession
from listeners.models import Listener
from tests import voice_support as w
from tests.conftest import make_app


def _rows() -> tuple[int, int]:
    return (
        db.session.scalar(select(func.count()).select_from(CallSession)),
        db.session.scalar(select(func.count()).select_from(Listener)),
    )


@pytest.mark.parametrize("path", ["/ivr/twilio/voice", "/ivr/twilio/voice?ev=gather", "/ivr/twilio/status"])
def test_signed_requests_pass(path, client, clock):
    params = w.twilio_gather("2") if "gather" in path else w.twilio_call()
    if "status" in path:
        params = w.twilio_status("no-answer", duration="0")
    response = w.post_twilio(client, path, params)
    assert response.status_code == 200
    assert response.mimetype == "text/xml"


def test_signed_behind_a_tls_proxy(client, clock):
    """TLS ends at the proxy: Twilio signed https://voice.example.net/..., the app sees http://localhost/..."""
    params = w.twilio_call()
    url = "https://voice.example.net/ivr/twilio/voice"
    signature = RequestValidator(w.TOKEN).compute_signature(url, params)
    response = client.post(
        "/ivr/twilio/voice",
        data=params,
        headers={
            "X-Twilio-Signature": signature,
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "voice.example.net",
        },
    )
    assert response.status_code == 200
    assert _rows() == (1, 1)


def test_signed_with_a_query_string_behind_a_proxy(client, clock):
    w.post_twilio(client, "/ivr/twilio/voice", w.twilio_call())
    params = w.twilio_gather("2")
    url = "https://voice.example.net/ivr/twilio/voice?ev=gather"
    signature = RequestValidator(w.TOKEN).compute_signature(url, params)
    headers = {"X-Twilio-Signature": signature, "X-Forwarded-Proto": "https", "X-Forwarded-Host": "voice.example.net"}
    assert client.post("/ivr/twilio/voice?ev=gather", data=params, headers=headers).status_code == 200
    # the same signature without the proxy's headers does not match what the app sees
    assert (
        client.post("/ivr/twilio/voice?ev=gather", data=params, headers={"X-Twilio-Signature": signature}).status_code
        == 403
    )


def test_signed_for_the_public_base_url(clock, database_url):
    """Without proxy headers, the URL under PUBLIC_BASE_URL is accepted (the URL in the Twilio console)."""
    app = make_app(database_url)
    with app.app_context():
        params = w.twilio_call()
        signature = RequestValidator(w.TOKEN).compute_signature(f"{w.BASE}/ivr/twilio/voice", params)
        response = app.test_client().post("/ivr/twilio/voice", data=params, headers={"X-Twilio-Signature": signature})
        assert response.status_code == 200
        db.session.remove()


@pytest.mark.parametrize(
    "headers",
    [
        {},  # unsigned
        {"X-Twilio-Signature": ""},
        {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"},  # forged
    ],
)
@pytest.mark.parametrize("path", ["/ivr/twilio/voice", "/ivr/twilio/status"])
def test_unsigned_or_forged_twilio_requests_are_refused(headers, path, client, clock):
    response = client.post(path, data=w.twilio_call(), headers=headers)
    assert response.status_code == 403
    assert _rows() == (0, 0)


def test_a_tampered_parameter_breaks_the_signature(client, clock):
    params = w.twilio_call()
    signature = RequestValidator(w.TOKEN).compute_signature("http://localhost/ivr/twilio/voice", params)
    response = client.post(
        "/ivr/twilio/voice", data=params | {"From": "+22376000000"}, headers={"X-Twilio-Signature": signature}
    )
    assert response.status_code == 403
    assert _rows() == (0, 0)


def test_signed_with_another_token_is_refused(client, clock):
    params = w.twilio_call()
    signature = RequestValidator("another-token").compute_signature("http://localhost/ivr/twilio/voice", params)
    assert client.post("/ivr/twilio/voice", data=params, headers={"X-Twilio-Signature": signature}).status_code == 403


@pytest.mark.parametrize("secret", ["wrong-secret-0123456789", "s3cretPathSegment012", "s3cretPathSegment01234"])
def test_at_wrong_secret_is_refused(secret, client, clock):
    assert client.post(f"/ivr/at/{secret}/voice", data=w.at_call()).status_code == 403
    assert client.post(f"/ivr/at/{secret}/voice", data=w.at_final()).status_code == 403
    assert _rows() == (0, 0)


def test_at_without_a_configured_secret_refuses_everything(database_url):
    app = make_app(database_url, AT_CALLBACK_SECRET="")
    with app.app_context():
        client = app.test_client()
        for path in ("/ivr/at//voice", "/ivr/at/s3cretPathSegment0123/voice", "/ivr/at/anything/voice"):
            assert client.post(path, data=w.at_call()).status_code in (403, 404)
        assert _rows() == (0, 0)
        db.session.remove()
