"""Who may talk to the webhooks: Twilio's signature (signed with the SDK's own RequestValidator over the
PUBLIC_BASE_URL address, whatever Host or X-Forwarded-* say), Africa's Talking's secret path segment.
Forged requests: 403, nothing changes."""

from __future__ import annotations

import pytest
from flask import request
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from core.db import db
from ivr.models import CallSession
from listeners.models import Listener
from sms.models import Message
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


def test_signed_for_the_public_base_url_behind_a_tls_proxy(client, clock):
    """TLS ends at the proxy: the app sees http://localhost/..., Twilio signed the PUBLIC_BASE_URL address."""
    params = w.twilio_call()
    signature = RequestValidator(w.TOKEN).compute_signature(f"{w.BASE}/ivr/twilio/voice", params)
    headers = {"X-Twilio-Signature": signature, "X-Forwarded-Proto": "https", "X-Forwarded-Host": "kalanso.example.org"}
    response = client.post("/ivr/twilio/voice", data=params, headers=headers)
    assert response.status_code == 200
    assert _rows() == (1, 1)


def test_the_query_string_is_signed(client, clock):
    w.post_twilio(client, "/ivr/twilio/voice", w.twilio_call())
    params = w.twilio_gather("2")
    signature = RequestValidator(w.TOKEN).compute_signature(f"{w.BASE}/ivr/twilio/voice?ev=gather", params)
    headers = {"X-Twilio-Signature": signature}
    assert client.post("/ivr/twilio/voice?ev=gather", data=params, headers=headers).status_code == 200
    assert client.post("/ivr/twilio/voice?ev=timeout", data=params, headers=headers).status_code == 403
    assert client.post("/ivr/twilio/voice", data=params, headers=headers).status_code == 403


# A request Twilio signed for another deployment of the same account (same auth token), replayed here with
# whatever Host or X-Forwarded-* makes the URL match: the signed URL is PUBLIC_BASE_URL's, never the client's.
OTHER_HOST = "https://other-deployment.example.net"
FORGED_HOSTS = [
    pytest.param(f"{OTHER_HOST}{{path}}", {}, id="another-host"),
    pytest.param(
        f"{OTHER_HOST}{{path}}",
        {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "other-deployment.example.net"},
        id="forged-x-forwarded-host",
    ),
    pytest.param(f"{OTHER_HOST}{{path}}", {"Host": "other-deployment.example.net"}, id="forged-host"),
    pytest.param("http://localhost{path}", {}, id="the-url-the-app-sees"),
]


@pytest.mark.parametrize(("url", "headers"), FORGED_HOSTS)
@pytest.mark.parametrize("path", ["/ivr/twilio/voice", "/ivr/twilio/status", "/sms/twilio", "/sms/twilio/status"])
def test_signed_for_another_host_is_refused_and_changes_nothing(url, headers, path, client, clock):
    params = w.twilio_status("completed") if "status" in path else w.twilio_call()
    if path.startswith("/sms"):
        params = {"MessageSid": "SM" + "1" * 32, "From": w.CALLER, "Body": "STOP", "MessageStatus": "delivered"}
    signature = RequestValidator(w.TOKEN).compute_signature(url.format(path=path), params)
    response = client.post(path, data=params, headers={"X-Twilio-Signature": signature, **headers})
    assert response.status_code == 403
    assert _rows() == (0, 0)
    assert db.session.scalar(select(func.count()).select_from(Message)) == 0


@pytest.mark.parametrize(("url", "headers"), FORGED_HOSTS)
def test_trusted_proxies_do_not_make_forwarded_hosts_signable(url, headers, clock, database_url):
    """TRUSTED_PROXIES=1: ProxyFix believes one proxy's X-Forwarded-* (the client's address, scheme, host),
    and the signature is still checked against PUBLIC_BASE_URL only."""
    app = make_app(database_url, TRUSTED_PROXIES="1")
    with app.app_context():
        client = app.test_client()
        params = w.twilio_call()
        forged = RequestValidator(w.TOKEN).compute_signature(url.format(path="/ivr/twilio/voice"), params)
        response = client.post("/ivr/twilio/voice", data=params, headers={"X-Twilio-Signature": forged, **headers})
        assert response.status_code == 403
        assert _rows() == (0, 0)
        assert w.post_twilio(client, "/ivr/twilio/voice", params, headers=headers).status_code == 200
        db.session.remove()


@pytest.mark.parametrize(
    ("proxies", "seen"),
    [("0", ("127.0.0.1", "http", "localhost")), ("1", ("41.1.2.3", "https", "kalanso.example.org"))],
)
def test_trusted_proxies_apply_proxy_fix(proxies, seen, database_url):
    app = make_app(database_url, TRUSTED_PROXIES=proxies)
    app.add_url_rule("/probe", "probe", lambda: f"{request.remote_addr} {request.scheme} {request.host}")
    headers = {
        "X-Forwarded-For": "10.9.9.9, 41.1.2.3",  # the first address is the client's claim; one proxy is trusted
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "kalanso.example.org",
    }
    with app.app_context():
        assert tuple(app.test_client().get("/probe", headers=headers).get_data(as_text=True).split()) == seen
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
    signature = RequestValidator(w.TOKEN).compute_signature(f"{w.BASE}/ivr/twilio/voice", params)
    response = client.post(
        "/ivr/twilio/voice", data=params | {"From": "+22376000000"}, headers={"X-Twilio-Signature": signature}
    )
    assert response.status_code == 403
    assert _rows() == (0, 0)


def test_signed_with_another_token_is_refused(client, clock):
    params = w.twilio_call()
    signature = RequestValidator("another-token").compute_signature(f"{w.BASE}/ivr/twilio/voice", params)
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
