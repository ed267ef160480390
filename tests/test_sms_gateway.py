"""Your own SMS gateway (``SMS_PROVIDER=gateway``), preset by preset — Kannel, Jasmin, SMS Gateway for Android
and the generic "external channel": the exact requests we send (URL, query, body, auth), the gateway's answers,
its incoming texts and delivery reports (``tests.gateway_support`` writes them as each gateway sends them), the
same SMS line as Twilio and Africa's Talking behind them, and what is refused: junk (400), forged or unsigned
callbacks (403), a gateway left unconfigured (404). Nothing leaves the machine (``responses``); the real Kannel
is driven in ``test_kannel.py``."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
import requests
import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from core.config import ConfigError, Settings
from core.db import db
from core.events import DeliveryReport, IncomingSms
from core.outbox import OutboxItem, OutboxStatus
from core.signals import message_status_changed
from core.vocabulary import MessageStatus
from listeners.models import LessonProgress, Listener, ProgressStatus
from providers.base import OutboundSms
from providers.gateway import android, generic, jasmin, kannel
from providers.gateway import sms as gateway_sms
from providers.gateway.wire import IGNORED, Callback
from providers.webhooks import MARK, MAX_BODY_BYTES
from sms.models import Message
from tests.conftest import NOW, _truncate_all, make_app, send_outbox
from tests.gateway_support import (
    ACKS,
    BASE,
    PHONE,
    PRESETS,
    RECEIVE,
    SECRET,
    SIGNING_KEY,
    STATUS,
    URLS,
    Call,
    FakeGateway,
    android_event,
    android_signed,
    gateway_env,
    inbound,
    report,
)
from tests.test_sms_line import COURSES_FR, HELP_FR, STOPPED_FR, to_sms

STATUS_URL = f"{BASE}{STATUS}"


def settings_for(preset: str, **overrides: str) -> Settings:
    return Settings.from_env({"PUBLIC_BASE_URL": BASE, **gateway_env(preset, **overrides)})


class Line:
    """One gateway's side of the line: a listener's texts in through its callbacks, the replies out through the
    real sender to its fake send API; its delivery reports back."""

    def __init__(self, app, preset: str, gateway: FakeGateway):
        self.app, self.preset, self.gateway = app, preset, gateway
        self.client = app.test_client()

    def text(self, body: str, phone: str = PHONE, *, ucs2: bool = False) -> list[str]:
        before = len(self.gateway.sent)
        response = inbound(self.preset, body, phone, ucs2=ucs2).send(self.client)
        assert (response.status_code, response.get_data(as_text=True)) == (200, ACKS[self.preset])
        assert len(self.gateway.sent) == before, "a webhook must never call the gateway"
        send_outbox(self.app)
        sent = self.gateway.sent[before:]
        assert all(s.to == phone for s in sent)
        return [s.text for s in sent]

    def report(self, sent, outcome: str):
        return report(self.preset, sent, outcome).send(self.client)


def gateway_app(database_url: str, preset: str, **overrides: str):
    return make_app(database_url, **gateway_env(preset, **overrides))


@pytest.fixture
def line(request, database_url, monkeypatch):
    """``line`` for the preset named by the test's ``preset`` parameter (SMS_PROVIDER=gateway)."""
    preset = request.getfixturevalue("preset")
    app = gateway_app(database_url, preset)
    monkeypatch.setattr("sms.routes.utcnow", lambda: NOW)
    with app.app_context():
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            yield Line(app, preset, FakeGateway(preset, mock))
        db.session.remove()
        if db.engine.dialect.name == "postgresql":
            _truncate_all(app)
        db.engine.dispose()


def outbound_rows() -> list[Message]:
    return db.session.scalars(select(Message).filter_by(direction="outbound").order_by(Message.id)).all()


def count(model, **where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).filter_by(**where))


# --- out: the exact request per preset ------------------------------------------------------------------

GSM_TEXT = "Lecon : épargner, c'est 500 francs & 1 sac [ou plus] !"
UCS2_TEXT = "I ni sɔgɔma! Ɲininkali 1/2"
REF = "42"
DLR_URL = f"{STATUS_URL}?ref={REF}"


def _sent_request(preset: str, body: str, **overrides: str):
    """The one request the adapter makes for a text (answered as the gateway would), and its result."""
    settings = settings_for(preset, **overrides)
    with responses.RequestsMock() as mock:
        gateway = FakeGateway(preset, mock) if not overrides else None
        if gateway is None:
            method = settings.sms_gateway_method
            mock.add(method, urlparse(settings.sms_gateway_url)._replace(query="").geturl(), body="ok")
        (result,) = gateway_sms.build(settings).send([OutboundSms(to=PHONE, body=body, reference=REF)])
        (call,) = mock.calls
    return call.request, result


@pytest.mark.parametrize(
    ("body", "coding"),
    [(GSM_TEXT, "0"), (UCS2_TEXT, "2")],
    ids=["gsm7", "ucs2"],
)
def test_kannel_sendsms_request(body, coding):
    request, result = _sent_request("kannel", body)
    assert request.method == "GET"
    assert request.url.startswith(
        URLS["kannel"] + "?username=kalanso&password=kannel-pass&from=36001&to=%2B22376123456&"
    )
    query = parse_qs(urlparse(request.url).query, keep_blank_values=True)
    assert list(query) == ["username", "password", "from", "to", "text", "charset", "coding", "dlr-mask", "dlr-url"]
    assert {k: v[0] for k, v in query.items()} == {
        "username": "kalanso",
        "password": "kannel-pass",
        "from": "36001",
        "to": PHONE,
        "text": body,
        "charset": "UTF-8",
        "coding": coding,
        "dlr-mask": "31",
        "dlr-url": f"{DLR_URL}&status=%d&answer=%A",
    }
    assert "dlr-url=https%3A%2F%2Fkalanso.example.org%2Fsms%2Fgateway%2F" in request.url  # %d travels as %25d
    assert request.url.endswith("%3Fref%3D42%26status%3D%25d%26answer%3D%25A")
    assert request.body is None
    assert (result.status, result.provider_message_id, result.provider_status) == (
        MessageStatus.QUEUED,
        "kalanso-42",
        "0: Accepted for delivery",
    )


@pytest.mark.parametrize(
    ("body", "text_fields"),
    [
        (GSM_TEXT, [("content", GSM_TEXT)]),
        (UCS2_TEXT, [("coding", "8"), ("hex-content", UCS2_TEXT.encode("utf-16-be").hex())]),
    ],
    ids=["gsm7", "ucs2"],
)
def test_jasmin_send_request(body, text_fields):
    request, result = _sent_request("jasmin", body)
    assert (request.method, request.url) == ("POST", URLS["jasmin"])
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert "jasmin-pass" not in request.url  # the password travels in the body, not in URLs and access logs
    fields = [(k, v) for k, vs in parse_qs(request.body.decode(), keep_blank_values=True).items() for v in vs]
    assert fields == [
        ("username", "kalanso"),
        ("password", "jasmin-pass"),
        ("to", PHONE),
        ("from", "36001"),
        *text_fields,
        ("dlr", "yes"),
        ("dlr-url", DLR_URL),
        ("dlr-level", "3"),
        ("dlr-method", "POST"),
    ]
    assert (result.status, result.provider_message_id, result.provider_status) == (
        MessageStatus.QUEUED,
        "00000000-0000-0000-0000-000000000001",
        "Success",
    )


@pytest.mark.parametrize("body", [GSM_TEXT, UCS2_TEXT], ids=["gsm7", "ucs2"])
def test_android_message_request(body):
    request, result = _sent_request("android", body)
    assert (request.method, request.url) == ("POST", URLS["android"])
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Authorization"] == "Basic c21zOmFuZHJvaWQtcGFzcw=="
    assert json.loads(request.body) == {
        "id": "kalanso-42",
        "textMessage": {"text": body},
        "phoneNumbers": [PHONE],
        "withDeliveryReport": True,
    }
    assert (result.status, result.provider_message_id, result.provider_status) == (
        MessageStatus.QUEUED,
        "kalanso-42",
        "Pending",
    )


GENERIC_CASES = [
    pytest.param(
        {},
        "POST",
        URLS["generic"],
        "application/x-www-form-urlencoded",
        "id=kalanso-42&text=I+ni+s%C9%94g%C9%94ma%21+%C6%9Dininkali+1%2F2&to=%2B22376123456&from=%2B22320000000"
        "&dlr_url=https%3A%2F%2Fkalanso.example.org%2Fsms%2Fgateway%2FgatewaySecret0123456789%2Fstatus%3Fref%3D42",
        id="default-form",
    ),
    pytest.param(
        {
            "SMS_GATEWAY_CONTENT_TYPE": "json",
            "SMS_GATEWAY_METHOD": "PUT",
            "SMS_GATEWAY_BODY": '{"to": "{{to_no_plus}}", "message": "{{text}}", "ref": "{{id}}", "cb": "{{dlr_url}}"}',
        },
        "PUT",
        URLS["generic"],
        "application/json; charset=utf-8",
        f'{{"to": "22376123456", "message": "I ni sɔgɔma! Ɲininkali 1/2", "ref": "kalanso-42", "cb": "{DLR_URL}"}}',
        id="json-template",
    ),
    pytest.param(
        {"SMS_GATEWAY_CONTENT_TYPE": "xml"},
        "POST",
        URLS["generic"],
        "application/xml; charset=utf-8",
        "<message><id>kalanso-42</id><text>I ni sɔgɔma! Ɲininkali 1/2</text><to>+22376123456</to>"
        f"<from>+22320000000</from><dlr_url>{DLR_URL}</dlr_url></message>",
        id="default-xml",
    ),
    pytest.param(
        {
            "SMS_GATEWAY_METHOD": "GET",
            "SMS_GATEWAY_URL": "https://gateway.test/api/sms/send?key=k1&number={{to_no_plus}}&msg={{text}}&ref={{id}}",
        },
        "GET",
        "https://gateway.test/api/sms/send?key=k1&number=22376123456&msg=I%20ni%20s%C9%94g%C9%94ma%21%20"
        "%C6%9Dininkali%201%2F2&ref=kalanso-42",
        None,
        None,
        id="get-url-template",
    ),
]


@pytest.mark.parametrize(("env", "method", "url", "content_type", "body"), GENERIC_CASES)
def test_generic_request_fills_the_template(env, method, url, content_type, body):
    request, result = _sent_request("generic", UCS2_TEXT, **env)
    assert (request.method, request.url) == (method, url)
    assert request.headers.get("Content-Type") == content_type
    assert (request.body.decode() if request.body else None) == body
    assert (result.status, result.provider_message_id) == (MessageStatus.QUEUED, "kalanso-42")


def test_generic_json_body_escapes_quotes_and_new_lines():
    text = 'Il a dit "oui"\nPuis \\ non'
    request, _ = _sent_request(
        "generic", text, SMS_GATEWAY_CONTENT_TYPE="json", SMS_GATEWAY_BODY='{"text": "{{text}}", "to": "{{to}}"}'
    )
    assert json.loads(request.body) == {"text": text, "to": PHONE}


def test_a_get_with_no_variables_carries_the_default_fields_as_its_query():
    request, _ = _sent_request(
        "generic", "Bonjour", SMS_GATEWAY_METHOD="GET", SMS_GATEWAY_URL="https://g.test/send?k=1"
    )
    query = {k: v[0] for k, v in parse_qs(urlparse(request.url).query).items()}
    assert query == {"k": "1", "id": "kalanso-42", "text": "Bonjour", "to": PHONE, "from": "+22320000000",
                     "dlr_url": DLR_URL}  # fmt: skip
    assert request.body is None


# --- out: what each gateway answers -----------------------------------------------------------------------

ANSWERS = [
    # (preset, HTTP status, body, our status, provider id, error, retryable)
    ("kannel", 202, "0: Accepted for delivery", MessageStatus.QUEUED, "kalanso-42", "", False),
    ("kannel", 202, "3: Queued for later delivery", MessageStatus.QUEUED, "kalanso-42", "", False),
    ("kannel", 403, "Authorization failed for sendsms", MessageStatus.FAILED, None,
     "403: Authorization failed for sendsms", False),
    ("kannel", 400, "Missing receiver number, rejected", MessageStatus.FAILED, None,
     "400: Missing receiver number, rejected", False),
    ("kannel", 503, "Temporal failure, try again later.", MessageStatus.FAILED, None,
     "503: Temporal failure, try again later.", True),
    ("jasmin", 200, 'Success "07033084-5cfd-4812-90a4-e4d24ffb6e3d"', MessageStatus.QUEUED,
     "07033084-5cfd-4812-90a4-e4d24ffb6e3d", "", False),
    ("jasmin", 412, 'Error "No route found"', MessageStatus.FAILED, None, '412: Error "No route found"', False),
    ("jasmin", 403, 'Error "Authentication failure for username:kalanso"', MessageStatus.FAILED, None,
     '403: Error "Authentication failure for username:kalanso"', False),
    ("jasmin", 500, 'Error "Cannot send submit_sm, check SMPPClientManagerPB log file for details"',
     MessageStatus.FAILED, None, '500: Error "Cannot send submit_sm, check SMPPClientManagerPB log file for details"',
     False),
    ("android", 202, '{"id": "kalanso-42", "state": "Pending", "recipients": [{"phoneNumber": "+22376123456", '
     '"state": "Pending"}]}', MessageStatus.QUEUED, "kalanso-42", "", False),
    ("android", 202, '{"id": "kalanso-42", "state": "Failed", "recipients": [{"phoneNumber": "+22376123456", '
     '"state": "Failed", "error": "RESULT_ERROR_GENERIC_FAILURE"}]}', MessageStatus.FAILED, "kalanso-42",
     "RESULT_ERROR_GENERIC_FAILURE", False),
    ("android", 202, "not json", MessageStatus.QUEUED, "kalanso-42", "", False),  # taken: the webhooks will tell
    ("android", 401, '{"message": "Unauthorized"}', MessageStatus.FAILED, None, '401: {"message": "Unauthorized"}',
     False),
    ("android", 429, "Too Many Requests", MessageStatus.FAILED, None, "429: Too Many Requests", True),
    ("generic", 200, "anything", MessageStatus.QUEUED, "kalanso-42", "", False),
    ("generic", 201, "", MessageStatus.QUEUED, "kalanso-42", "", False),
    ("generic", 500, "<html>\n  boom\n</html>", MessageStatus.FAILED, None, "500: <html> boom </html>", False),
]  # fmt: skip


@pytest.mark.parametrize(("preset", "code", "body", "status", "provider_id", "error", "retryable"), ANSWERS)
def test_the_gateways_answers_are_read(preset, code, body, status, provider_id, error, retryable):
    settings = settings_for(preset)
    with responses.RequestsMock() as mock:
        mock.add(responses.GET if preset == "kannel" else responses.POST, URLS[preset], status=code, body=body)
        (result,) = gateway_sms.build(settings).send([OutboundSms(to=PHONE, body="Bonjour", reference=REF)])
    assert (result.status, result.provider_message_id, result.error, result.retryable) == (
        status,
        provider_id,
        error,
        retryable,
    )


@pytest.mark.parametrize("preset", PRESETS)
def test_an_unreachable_gateway_is_tried_again_only_when_the_request_never_arrived(preset):
    settings = settings_for(preset)
    message = OutboundSms(to=PHONE, body="Bonjour", reference=REF)
    method = responses.GET if preset == "kannel" else responses.POST
    for error, retryable in ((requests.ConnectTimeout(), True), (requests.ReadTimeout(), False)):
        with responses.RequestsMock() as mock:
            mock.add(method, URLS[preset], body=error)
            (result,) = gateway_sms.build(settings).send([message])
        assert (result.status, result.retryable) == (MessageStatus.FAILED, retryable)
        assert result.error == f"unreachable: {error.__class__.__name__}"


def test_the_password_never_reaches_a_log_line(caplog):
    from core.logs import configure_logging

    settings = settings_for("kannel")
    configure_logging(secrets=settings.secrets)
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, URLS["kannel"], body=requests.ConnectionError(f"boom {URLS['kannel']}?password=x"))
        gateway_sms.build(settings).send([OutboundSms(to=PHONE, body="Bonjour", reference=REF)])
    assert "kannel-pass" not in caplog.text and "unreachable for message 42: ConnectionError" in caplog.text
    assert {"kannel-pass", SECRET} <= set(settings.secrets)


def test_an_unconfigured_gateway_fails_each_text_with_the_reason():
    settings = Settings.from_env({})
    (result,) = gateway_sms.build(settings).send([OutboundSms(to=PHONE, body="Bonjour", reference=REF)])
    assert (result.status, result.error) == (MessageStatus.FAILED, gateway_sms.NOT_CONFIGURED)


# --- in: each preset's callbacks, parsed --------------------------------------------------------------------


def form(path: str, body: bytes) -> Call:
    return Call("POST", path, body, {"Content-Type": "application/x-www-form-urlencoded"})


def as_json(path: str, body: bytes) -> Call:
    return Call("POST", path, body, {"Content-Type": "application/json"})


def _callback(call: Call) -> Callback:
    _, _, query = call.path.partition("?")
    content_type = call.headers.get("Content-Type", "")
    mimetype, _, params = content_type.partition(";")
    charset = params.partition("charset=")[2].strip().strip('"')
    headers = {k.lower(): v for k, v in call.headers.items()}
    return Callback(call.method, query.encode(), call.body, mimetype.strip(), charset, headers)


INCOMING = [
    # (preset, call, expected event)
    ("kannel", inbound("kannel", "QUIZ 1 é", message_id="956f0c23-f02c-43ca-bf88-8145b0cfff35"),
     IncomingSms("gateway", PHONE, "QUIZ 1 é", "956f0c23-f02c-43ca-bf88-8145b0cfff35")),
    ("kannel", inbound("kannel", "ɔwɔ 1", message_id="k-ucs2", ucs2=True),
     IncomingSms("gateway", PHONE, "ɔwɔ 1", "k-ucs2")),
    ("kannel", Call("GET", f"{RECEIVE}?from=%2B22376123456&to=36001&text=%00I%00+%00n%00i%00+%02T%00k&time=1795560082"
                    "&id=20437105-2ded-49de-8096-afd39180cbfe&coding=2&charset=UTF-16BE"),  # captured from Kannel 1.4.5
     IncomingSms("gateway", PHONE, "I ni ɔk", "20437105-2ded-49de-8096-afd39180cbfe")),
    ("kannel", Call("GET", f"{RECEIVE}?from=0022376123456&to=36001&text=%00A%00B&coding=2&id=x1"),  # no %C: coding says
     IncomingSms("gateway", "0022376123456", "AB", "x1")),
    ("kannel", Call("POST", f"{RECEIVE}?from=%2B22376123456&to=36001&time=1795560082&id=p1", "ɔwɔ".encode("utf-16-be"),
                    {"Content-Type": 'text/plain; charset="UTF-16BE"'}),  # post-url: the body is the text
     IncomingSms("gateway", PHONE, "ɔwɔ", "p1")),
    ("kannel", Call("GET", f"{RECEIVE}?from=%2B22376123456&text=&id=e1"), IncomingSms("gateway", PHONE, "", "e1")),
    ("jasmin", inbound("jasmin", "Oui !", message_id="16fd2706-8baf-433b-82eb-8c7fada847da"),
     IncomingSms("gateway", PHONE, "Oui !", "16fd2706-8baf-433b-82eb-8c7fada847da")),
    ("jasmin", inbound("jasmin", "Ɔwɔ, n bɛ taa", message_id="j-ucs2", ucs2=True),
     IncomingSms("gateway", PHONE, "Ɔwɔ, n bɛ taa", "j-ucs2")),
    ("jasmin", Call("GET", f"{RECEIVE}?id=g1&from=%2B22376123456&to=36001&origin-connector=smppc01&content=STOP"),
     IncomingSms("gateway", PHONE, "STOP", "g1")),  # a GET connector, an older Jasmin (no binary)
    ("android", inbound("android", "STOP", message_id="Ey6ECgOkVVFjz3CL48B8C"),
     IncomingSms("gateway", PHONE, "STOP", "Ey6ECgOkVVFjz3CL48B8C")),
    ("generic", inbound("generic", "AIDE", message_id="in-77"), IncomingSms("gateway", PHONE, "AIDE", "in-77")),
    ("generic", Call("POST", RECEIVE, json.dumps({"from": PHONE, "text": "Kan 1"}).encode(),
                     {"Content-Type": "application/json"}), IncomingSms("gateway", PHONE, "Kan 1", None)),
]  # fmt: skip


@pytest.mark.parametrize(("preset", "call", "event"), INCOMING)
def test_incoming_texts_as_each_gateway_sends_them(preset, call, event):
    assert gateway_sms.parse_incoming(_callback(call), settings_for(preset)) == event


def test_android_receive_accepts_the_newer_sender_field_and_ignores_other_events():
    settings = settings_for("android")
    body = android_event("sms:received", {"message": "1", "sender": PHONE, "phoneNumber": "+22370000000"}, "ev1")
    assert android.parse_incoming(_callback(Call("POST", RECEIVE, body, android_signed(body))), settings) == (
        IncomingSms("gateway", PHONE, "1", "ev1")
    )
    for event in ("system:ping", "sms:data-received", "mms:received", "sms:delivered"):
        body = android_event(event, {})
        assert android.parse_incoming(_callback(Call("POST", RECEIVE, body, android_signed(body))), settings) is IGNORED


# --- reports: each preset's words mapped to ours --------------------------------------------------------------


def _status_call(preset: str, fields: dict) -> Call:
    if preset == "android":
        body = android_event(fields.pop("event"), fields)
        return Call("POST", STATUS, body, android_signed(body))
    from urllib.parse import urlencode

    if preset == "kannel":
        return Call("GET", f"{STATUS}?{urlencode(fields)}")
    return Call("POST", f"{STATUS}?ref={fields.pop('ref')}" if "ref" in fields else STATUS,
                urlencode(fields).encode(), {"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip


REPORTS = [
    # (preset, fields, expected report)
    ("kannel", {"ref": "42", "status": "1", "answer": ""},
     DeliveryReport("gateway", "kalanso-42", MessageStatus.DELIVERED, "DLR_SUCCESS", "", "42")),
    ("kannel", {"ref": "42", "status": "2", "answer": "id:0001 sub:001 dlvrd:000 stat:UNDELIV err:001"},
     DeliveryReport("gateway", "kalanso-42", MessageStatus.FAILED, "DLR_FAIL",
                    "id:0001 sub:001 dlvrd:000 stat:UNDELIV err:001", "42")),
    ("kannel", {"ref": "42", "status": "4", "answer": ""},
     DeliveryReport("gateway", "kalanso-42", MessageStatus.SENT, "DLR_BUFFERED", "", "42")),
    ("kannel", {"ref": "42", "status": "8", "answer": "ACK/"},
     DeliveryReport("gateway", "kalanso-42", MessageStatus.SENT, "DLR_SMSC_SUCCESS", "", "42")),
    ("kannel", {"ref": "42", "status": "16", "answer": "NACK/0x0000000b/Invalid Destination Address"},
     DeliveryReport("gateway", "kalanso-42", MessageStatus.FAILED, "DLR_SMSC_FAIL",
                    "NACK/0x0000000b/Invalid Destination Address", "42")),
    ("jasmin", {"ref": "42", "id": "j-1", "message_status": "ESME_ROK", "level": "3"},
     DeliveryReport("gateway", "j-1", MessageStatus.SENT, "ESME_ROK", "", "42")),
    ("jasmin", {"ref": "42", "id": "j-1", "message_status": "DELIVRD", "level": "3", "err": "000"},
     DeliveryReport("gateway", "j-1", MessageStatus.DELIVERED, "DELIVRD", "", "42")),
    ("jasmin", {"ref": "42", "id": "j-1", "message_status": "UNDELIV", "level": "3", "err": "034"},
     DeliveryReport("gateway", "j-1", MessageStatus.FAILED, "UNDELIV", "UNDELIV err=034", "42")),
    ("jasmin", {"ref": "42", "id": "j-1", "message_status": "ESME_RINVDSTADR", "level": "1"},
     DeliveryReport("gateway", "j-1", MessageStatus.FAILED, "ESME_RINVDSTADR", "ESME_RINVDSTADR", "42")),
    ("jasmin", {"id": "j-1", "message_status": "EXPIRED", "level": "2", "err": "000"},  # no ref: Jasmin's id finds it
     DeliveryReport("gateway", "j-1", MessageStatus.FAILED, "EXPIRED", "EXPIRED", "")),
    ("android", {"event": "sms:sent", "messageId": "kalanso-42", "phoneNumber": PHONE, "sentAt": "x"},
     DeliveryReport("gateway", "kalanso-42", MessageStatus.SENT, "sent", "", "42")),
    ("android", {"event": "sms:delivered", "messageId": "kalanso-42", "phoneNumber": PHONE},
     DeliveryReport("gateway", "kalanso-42", MessageStatus.DELIVERED, "delivered", "", "42")),
    ("android", {"event": "sms:failed", "messageId": "kalanso-42", "reason": "RESULT_ERROR_NO_SERVICE"},
     DeliveryReport("gateway", "kalanso-42", MessageStatus.FAILED, "failed", "RESULT_ERROR_NO_SERVICE", "42")),
    ("android", {"event": "sms:sent", "messageId": "QzQ4cHkZ1GfQ"},  # sent from the phone by hand: not ours
     DeliveryReport("gateway", "QzQ4cHkZ1GfQ", MessageStatus.SENT, "sent", "", "")),
    ("generic", {"ref": "42", "status": "delivered"},
     DeliveryReport("gateway", "kalanso-42", MessageStatus.DELIVERED, "delivered", "", "42")),
    ("generic", {"id": "kalanso-42", "status": "Failed", "error": "absent subscriber"},
     DeliveryReport("gateway", "kalanso-42", MessageStatus.FAILED, "Failed", "absent subscriber", "42")),
    ("generic", {"id": "1234", "status": "sent"},  # a gateway's own numeric id is not our reference
     DeliveryReport("gateway", "1234", MessageStatus.SENT, "sent", "", "")),
]  # fmt: skip


@pytest.mark.parametrize(("preset", "fields", "expected"), REPORTS)
def test_delivery_reports_as_each_gateway_sends_them(preset, fields, expected):
    assert gateway_sms.parse_report(_callback(_status_call(preset, dict(fields))), settings_for(preset)) == expected


def test_android_status_ignores_events_that_are_not_reports():
    body = android_event("system:ping", {"health": {"status": "pass"}})
    callback = _callback(Call("POST", STATUS, body, android_signed(body)))
    assert android.parse_report(callback, settings_for("android")) is IGNORED


# --- the line behind each gateway -------------------------------------------------------------------------


@pytest.mark.parametrize("preset", PRESETS)
def test_keywords_quiz_and_stop_through_each_gateway(backend, preset, line, catalog):
    assert line.text("AIDE") == [HELP_FR]
    lesson = catalog.lesson("child-labour", "what-is-child-labour")
    chunk, q1, _ = lesson.items
    first = line.text("QUIZ 1")
    assert first[0] == "Lecon : Qu'est-ce que le travail des enfants ?\n" + to_sms(chunk.body.text("fr"))
    assert first[1].startswith("Question 1/2 : Awa a dix ans.")
    assert line.text("oui !")[0].startswith(to_sms(q1.feedback_correct.text("fr")))
    assert line.text("STOP") == [STOPPED_FR]
    assert line.text("1") == [] and line.text("QUIZ") == []
    person = db.session.scalars(select(Listener)).one()
    assert person.opted_out and person.opted_out_channel == "sms"
    inbound_rows = db.session.scalars(select(Message).filter_by(direction="inbound").order_by(Message.id)).all()
    assert [(m.provider, m.body) for m in inbound_rows] == [
        ("gateway", t) for t in ("AIDE", "QUIZ 1", "oui !", "STOP", "1", "QUIZ")
    ]
    rows = outbound_rows()
    assert {(r.provider, r.status, r.encoding) for r in rows} == {("gateway", MessageStatus.QUEUED, "GSM-7")}
    assert [r.provider_message_id for r in rows] == [s.provider_id or f"kalanso-{i}" for i, s in
                                                     enumerate(line.gateway.sent, 1)]  # fmt: skip
    progress = db.session.scalars(select(LessonProgress)).one()
    assert progress.status == ProgressStatus.IN_PROGRESS  # the STOP came before the last answer


@pytest.mark.parametrize("preset", PRESETS)
def test_delivery_reports_are_recorded_and_never_move_a_message_backwards(preset, line):
    assert line.text("QUIZ") == [COURSES_FR]
    (sent,) = line.gateway.sent
    (message,) = outbound_rows()
    seen = []
    message_status_changed.connect(lambda m, **kw: seen.append((m.id, kw["previous"])), weak=False)
    try:
        for outcome in ("sent", "delivered", "delivered", "sent"):  # the last two: a retry, a late one
            response = line.report(sent, outcome)
            assert (response.status_code, response.get_data(as_text=True)) == (200, ACKS[preset])
    finally:
        message_status_changed.receivers.clear()
    db.session.refresh(message)
    assert (message.status, message.delivered_at, message.error) == (MessageStatus.DELIVERED, NOW, "")
    assert seen == [(message.id, MessageStatus.QUEUED), (message.id, MessageStatus.SENT)]


@pytest.mark.parametrize("preset", PRESETS)
def test_a_failure_report_keeps_the_gateways_reason(preset, line):
    line.text("QUIZ")
    (sent,) = line.gateway.sent
    assert line.report(sent, "failed").status_code == 200
    (message,) = outbound_rows()
    expected = {
        "kannel": ("DLR_FAIL", "id:0001 sub:001 dlvrd:000 stat:UNDELIV err:001"),
        "jasmin": ("UNDELIV", "UNDELIV err=034"),
        "android": ("failed", "RESULT_ERROR_NO_SERVICE"),
        "generic": ("failed", "absent subscriber"),
    }[preset]
    assert (message.status, message.provider_status, message.error) == (MessageStatus.FAILED, *expected)


@pytest.mark.parametrize("preset", ["kannel", "jasmin"])
def test_a_bambara_reply_goes_as_ucs2_when_transliteration_is_off(preset, database_url, monkeypatch):
    app = gateway_app(database_url, preset, SMS_TRANSLITERATE="off", SMS_MAX_SEGMENTS="6")
    monkeypatch.setattr("sms.routes.utcnow", lambda: NOW)
    with app.app_context(), responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        line = Line(app, preset, FakeGateway(preset, mock))
        replies = line.text("KALAN", ucs2=True)
        assert replies == ["Kalan dɔ sugandi, a nimɔrɔ ci:\n1) Denmisɛnw ka baara\n2) Wari"]
        assert [s.encoding for s in line.gateway.sent] == ["UCS-2"]
        assert [(m.encoding, m.segments) for m in outbound_rows()] == [("UCS-2", 1)]
        line.text("LANGUE 2")  # "français": ç is not GSM-7 either
        assert [s.encoding for s in line.gateway.sent] == [m.encoding for m in outbound_rows()] == ["UCS-2"] * 2
        db.session.remove()
        db.engine.dispose()


@pytest.mark.parametrize("preset", PRESETS)
def test_a_retried_text_is_handled_once(preset, line):
    call = inbound(preset, "QUIZ", message_id="same-id-on-every-retry")
    for _ in range(3):
        response = call.send(line.client)
        assert (response.status_code, response.get_data(as_text=True)) == (200, ACKS[preset])
    send_outbox(line.app)
    assert [s.text for s in line.gateway.sent] == [COURSES_FR]
    assert count(Message, direction="inbound") == 1


@pytest.mark.parametrize("preset", PRESETS)
def test_a_report_that_beats_the_gateways_answer_finds_its_message(preset, line):
    """Kannel reports "accepted by the SMSC" within milliseconds, before our sender has recorded sendsms's answer:
    the report's ``ref`` (our outbox row) finds the message all the same, and the late answer changes nothing."""
    answers = []
    line.gateway.before_answering = lambda sent: answers.append(line.report(sent, "delivered"))
    inbound(preset, "QUIZ").send(line.client)
    send_outbox(line.app)
    assert [(r.status_code, r.get_data(as_text=True)) for r in answers] == [(200, ACKS[preset])]
    (message,) = outbound_rows()
    assert (message.status, message.delivered_at) == (MessageStatus.DELIVERED, NOW)
    assert message.provider_message_id == (line.gateway.sent[-1].provider_id or "kalanso-1")
    assert db.session.scalars(select(OutboxItem)).one().status == OutboxStatus.SENT


@pytest.mark.parametrize("preset", PRESETS)
def test_a_report_about_a_message_that_is_not_ours_is_acknowledged_and_changes_nothing(preset, line):
    line.text("QUIZ")
    (message,) = outbound_rows()
    fields = {
        "kannel": {"ref": "999", "status": "1"},
        "jasmin": {"ref": "999", "id": "not-ours", "message_status": "DELIVRD"},
        "android": {"event": "sms:delivered", "messageId": "kalanso-999"},
        "generic": {"ref": "999", "status": "delivered"},
    }[preset]
    response = _status_call(preset, fields).send(line.client)
    assert (response.status_code, response.get_data(as_text=True)) == (200, ACKS[preset])
    db.session.refresh(message)
    assert message.status == MessageStatus.QUEUED


def test_a_report_names_a_row_of_its_own_provider_only(app, make_listener):
    """``ref`` is looked up among the gateway's outbox rows: another provider's row with that id is left alone."""
    from sms import outbound

    person = make_listener(phone=PHONE)
    twilio_message = outbound.prepare(person, "Bonjour", NOW, provider="twilio")
    db.session.commit()
    row = db.session.scalars(select(OutboxItem)).one()
    report_ = DeliveryReport("gateway", f"kalanso-{row.id}", MessageStatus.DELIVERED, "DLR_SUCCESS", "", str(row.id))
    assert outbound.apply_report(report_, NOW) is None
    db.session.refresh(twilio_message)
    assert twilio_message.status == MessageStatus.QUEUED


# --- refused: junk, forgeries, an unconfigured gateway, a database that is down -----------------------------

JUNK = [
    # (preset, route, call) — each answered 400, nothing recorded
    ("kannel", "receive", Call("GET", f"{RECEIVE}?to=36001&text=QUIZ")),  # no sender
    ("kannel", "receive", Call("GET", f"{RECEIVE}?from=%2B22376123456")),  # no text
    ("kannel", "receive", Call("GET", f"{RECEIVE}?from={'7' * 40}&text=QUIZ")),  # a number out of bounds
    ("kannel", "receive", Call("GET", f"{RECEIVE}?from=%2B22376123456&text=QUIZ&id={'X' * 65}")),
    ("kannel", "status", Call("GET", f"{STATUS}?ref=42&status=3")),  # no such report type
    ("kannel", "status", Call("GET", f"{STATUS}?status=1")),  # no reference
    ("kannel", "status", Call("GET", f"{STATUS}?ref=2147483648&status=1")),  # not one of our ids
    ("kannel", "status", Call("GET", f"{STATUS}?ref=%C2%B2&status=1")),
    ("jasmin", "receive", form(RECEIVE, b"id=1&to=36001&content=QUIZ")),
    ("jasmin", "receive", form(RECEIVE, b"id=1&from=%2B22376123456&binary=zz")),
    ("jasmin", "receive", form(RECEIVE, b"id=1&from=%2B22376123456")),
    ("jasmin", "status", form(f"{STATUS}?ref=42", b"id=j-1&message_status=EXPLODED")),
    ("jasmin", "status", form(STATUS, b"message_status=DELIVRD")),
    ("generic", "receive", form(RECEIVE, b"text=QUIZ")),
    ("generic", "receive", as_json(RECEIVE, b"[1, 2]")),
    ("generic", "receive", as_json(RECEIVE, b"{not json")),
    ("generic", "receive", as_json(RECEIVE, b'{"from": "+22376123456", "text": ["QUIZ"]}')),
    ("generic", "status", form(f"{STATUS}?ref=42", b"status=exploded")),
    ("generic", "status", form(STATUS, b"status=delivered")),
]  # fmt: skip


def signed_android(route: str, body: bytes) -> Call:
    return Call("POST", RECEIVE if route == "receive" else STATUS, body, android_signed(body))


ANDROID_JUNK = [
    ("receive", b"not json"),
    ("receive", b"[]"),
    ("receive", b'{"payload": {}}'),  # no event
    ("receive", android_event("sms:received", {"message": "QUIZ"})),  # no sender
    ("receive", android_event("sms:received", {"phoneNumber": PHONE})),  # no text
    ("receive", android_event("sms:received", {"phoneNumber": PHONE, "message": ["QUIZ"]})),
    ("status", android_event("sms:delivered", {"phoneNumber": PHONE})),  # no message id
    ("status", android_event("sms:delivered", {"messageId": "X" * 65})),
    ("status", b"[" * 5000 + b"]" * 5000),  # too deep for the JSON parser
]


@pytest.mark.parametrize(
    ("preset", "route", "call"),
    JUNK + [("android", route, signed_android(route, body)) for route, body in ANDROID_JUNK],
)
def test_junk_gets_400_and_changes_nothing(preset, route, call, line, caplog):
    response = call.send(line.client)
    assert (response.status_code, response.get_data(as_text=True)) == (400, "")
    assert (count(Listener), count(Message)) == (0, 0)
    assert line.gateway.sent == []
    assert [r for r in caplog.records if r.exc_info] == []


@pytest.mark.parametrize("preset", PRESETS)
def test_what_no_gateway_sends_is_refused_before_it_is_read(preset, line):
    too_big = b"text=" + b"x" * MAX_BODY_BYTES
    cases = [
        (form(RECEIVE, too_big), 413),
        (Call("POST", RECEIVE, b"--k\r\n\r\nx\r\n--k--\r\n", {"Content-Type": "multipart/form-data; boundary=k"}), 400),
        (Call("GET", f"{RECEIVE}?from=%2B22376123456&text=QUIZ&id=a%00b"), 400),  # a NUL outside the text itself
        (form(STATUS, b"ref=42&status=\xff"), 400),
    ]  # fmt: skip
    for call, status in cases:
        assert call.send(line.client).status_code == status, call
    assert (count(Listener), count(Message)) == (0, 0)


def test_every_gateway_route_is_guarded(app):
    rules = [r for r in app.url_map.iter_rules() if r.rule.startswith("/sms/gateway/")]
    assert sorted((r.rule, sorted(r.methods - {"HEAD", "OPTIONS"})) for r in rules) == [
        ("/sms/gateway/<secret>/receive", ["GET", "POST"]),
        ("/sms/gateway/<secret>/status", ["GET", "POST"]),
    ]
    assert all(getattr(app.view_functions[r.endpoint], MARK, False) for r in rules)


def _spoilt(signature: str) -> str:
    """The same signature, its last digit changed (upper case, which the check accepts)."""
    return (signature[:-1] + ("1" if signature[-1] == "0" else "0")).upper()


def _forged(preset: str) -> list[Call]:
    wrong = "wrongSecret0123456789"
    calls = [
        Call(c.method, c.path.replace(SECRET, wrong), c.body, c.headers)
        for c in (inbound(preset, "STOP"), Call("GET", f"{STATUS}?ref=1&status=1"))
    ]
    if preset == "android":
        body = android_event("sms:received", {"message": "STOP", "phoneNumber": PHONE})
        other = android_event("sms:received", {"message": "QUIZ", "phoneNumber": PHONE})
        signed = android_signed(body)
        calls += [
            Call("POST", RECEIVE, body, {"Content-Type": "application/json"}),  # unsigned
            Call("POST", RECEIVE, body, {**signed, "X-Signature": "0" * 64}),
            Call("POST", RECEIVE, other, signed),  # another body's signature
            Call("POST", RECEIVE, body, android_signed(body, key="another-key")),
            Call("POST", RECEIVE, body, android_signed(body, NOW - timedelta(minutes=6))),  # stale
            Call("POST", RECEIVE, body, android_signed(body, NOW + timedelta(minutes=6))),
            Call("POST", RECEIVE, body, {**signed, "X-Timestamp": "1e9"}),
            Call("POST", STATUS, body, {**signed, "X-Signature": _spoilt(signed["X-Signature"])}),
        ]
    return calls


@pytest.mark.parametrize("preset", PRESETS)
def test_forged_or_unsigned_callbacks_get_403_and_change_nothing(preset, line):
    for call in _forged(preset):
        assert call.send(line.client).status_code == 403, call
    assert (count(Listener), count(Message)) == (0, 0)


def test_an_android_signature_within_five_minutes_passes(database_url, monkeypatch):
    monkeypatch.setattr("sms.routes.utcnow", lambda: NOW)
    app = gateway_app(database_url, "android")
    body = android_event("system:ping", {"health": {"status": "pass"}})
    for when in (NOW - timedelta(minutes=4, seconds=59), NOW + timedelta(minutes=4)):
        assert app.test_client().post(RECEIVE, data=body, headers=android_signed(body, when)).status_code == 200
    with app.app_context():
        db.engine.dispose()


def test_the_callbacks_are_closed_until_the_gateway_is_configured(app):
    client = app.test_client()  # SMS_PROVIDER=local, no SMS_GATEWAY_* settings
    for call in (inbound("kannel", "STOP"), inbound("generic", "STOP"), Call("GET", f"{STATUS}?ref=1&status=1")):
        assert call.send(client).status_code == 404
    assert count(Listener) == 0


@pytest.mark.parametrize("preset", PRESETS)
def test_a_text_that_cannot_be_recorded_is_answered_so_that_the_gateway_sends_it_again(preset, line, monkeypatch):
    def down(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr("sms.service.handle_incoming", down)
    monkeypatch.setattr("sms.outbound.apply_report", down)
    response = inbound(preset, "STOP").send(line.client)
    assert (response.status_code, response.get_data(as_text=True), response.headers["Retry-After"]) == (503, "", "30")
    fields = {
        "kannel": {"ref": "1", "status": "1"},
        "jasmin": {"ref": "1", "id": "j", "message_status": "DELIVRD"},
        "android": {"event": "sms:delivered", "messageId": "kalanso-1"},
        "generic": {"ref": "1", "status": "sent"},
    }[preset]
    response = _status_call(preset, dict(fields)).send(line.client)
    assert (response.status_code, response.get_data(as_text=True)) == (503, "")  # Jasmin: no ACK, so it retries


# --- the outbox: lanes, reconcile ----------------------------------------------------------------------------


def test_android_is_asked_about_an_interrupted_send(database_url, monkeypatch):
    """A sender died while the app had the request: the app knows our id, so reconcile asks it instead of
    leaving the text "unknown" (404: it never got it → sent again)."""
    from sender.loop import Sender

    app = gateway_app(database_url, "android")
    later = NOW + timedelta(minutes=5)
    with app.app_context(), responses.RequestsMock() as mock:
        from sms import outbound

        first = outbound.prepare(PHONE, "Bonjour", NOW, purpose="reply")
        second = outbound.prepare(PHONE, "Bonsoir", NOW, purpose="reply")
        db.session.commit()
        rows = db.session.scalars(select(OutboxItem).order_by(OutboxItem.id)).all()
        for row in rows:
            row.status, row.claimed_at, row.claim_token = OutboxStatus.SENDING, NOW, "dead-sender"
        db.session.commit()
        state = {"id": f"kalanso-{rows[0].id}", "state": "Delivered", "recipients": [{"phoneNumber": PHONE,
                 "state": "Delivered"}]}  # fmt: skip
        mock.add(responses.GET, f"{URLS['android']}/kalanso-{rows[0].id}", json=state)
        mock.add(responses.GET, f"{URLS['android']}/kalanso-{rows[1].id}", status=404, json={"message": "not found"})
        counts = Sender(app, inline=True, clock=lambda: later).reconcile(later)
        assert (counts["recorded"], counts["requeued"]) == (1, 1)
        db.session.expire_all()
        assert [(r.status, r.provider_id) for r in db.session.scalars(select(OutboxItem).order_by(OutboxItem.id))] == [
            (OutboxStatus.SENT, f"kalanso-{rows[0].id}"),
            (OutboxStatus.PENDING, ""),
        ]
        assert db.session.get(Message, first.id).status == MessageStatus.DELIVERED
        assert db.session.get(Message, second.id).status == MessageStatus.QUEUED
        db.session.remove()
        db.engine.dispose()


def test_kannel_cannot_be_asked_so_an_interrupted_send_is_never_sent_blindly(database_url):
    from sender.loop import Sender
    from sms import outbound

    app = gateway_app(database_url, "kannel")
    later = NOW + timedelta(minutes=5)
    with app.app_context(), responses.RequestsMock():
        outbound.prepare(PHONE, "Bonjour", NOW, purpose="reply")
        db.session.commit()
        row = db.session.scalars(select(OutboxItem)).one()
        row.status, row.claimed_at, row.claim_token = OutboxStatus.SENDING, NOW, "dead-sender"
        db.session.commit()
        assert Sender(app, inline=True, clock=lambda: later).reconcile(later)["unknown"] == 1
        db.session.remove()
        db.engine.dispose()


def test_the_sender_has_no_voice_lane_for_the_gateway(app):
    from sender.loop import Sender

    keys = Sender(app, inline=True)._lane_keys()
    assert ("sms", "gateway") in [(c.value, p) for c, p in keys]
    assert ("voice", "gateway") not in [(c.value, p) for c, p in keys]


# --- settings -------------------------------------------------------------------------------------------------

GOOD = {"SMS_PROVIDER": "gateway", "SMS_GATEWAY_CALLBACK_SECRET": SECRET}
GENERIC = gateway_env("generic")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"VOICE_PROVIDER": "gateway"}, "VOICE_PROVIDER must be one of local, twilio, africastalking, got 'gateway' "
                                        "(it carries SMS only)"),
        ({"SMS_PROVIDER": "gateway"}, "SMS_PROVIDER=gateway needs SMS_GATEWAY_PRESET, SMS_GATEWAY_URL, "
                                      "SMS_GATEWAY_CALLBACK_SECRET to be set"),
        ({**GOOD, "SMS_GATEWAY_PRESET": "smpp", "SMS_GATEWAY_URL": "http://k/x"}, "SMS_GATEWAY_PRESET must be one of"),
        ({**GOOD, "SMS_GATEWAY_PRESET": "kannel", "SMS_GATEWAY_URL": "http://k/x"},
         "SMS_GATEWAY_PRESET=kannel needs SMS_GATEWAY_USERNAME, SMS_GATEWAY_PASSWORD to be set"),
        ({**GOOD, **{k: v for k, v in gateway_env("android").items() if k != "SMS_GATEWAY_SIGNING_KEY"}},
         "SMS_GATEWAY_PRESET=android needs SMS_GATEWAY_SIGNING_KEY"),
        ({**GENERIC, "SMS_GATEWAY_URL": "ftp://gateway.test/send"}, "SMS_GATEWAY_URL must be an http(s) URL"),
        ({**GENERIC, "SMS_GATEWAY_CALLBACK_SECRET": "short"}, "SMS_GATEWAY_CALLBACK_SECRET must be at least 16"),
        ({**GENERIC, "SMS_GATEWAY_CALLBACK_SECRET": "has/a/slash/0123456789"}, "SMS_GATEWAY_CALLBACK_SECRET"),
        ({**GENERIC, "SMS_GATEWAY_METHOD": "PATCH"}, "SMS_GATEWAY_METHOD must be one of GET, POST, PUT"),
        ({**GENERIC, "SMS_GATEWAY_CONTENT_TYPE": "yaml"}, "SMS_GATEWAY_CONTENT_TYPE must be form, json or xml"),
        ({**GENERIC, "SMS_GATEWAY_BODY": "t={{text}}&u={{user}}"}, "SMS_GATEWAY_BODY: unknown variable(s) user"),
        ({**GENERIC, "SMS_GATEWAY_URL": "https://g.test/{{phone}}"}, "SMS_GATEWAY_URL: unknown variable(s) phone"),
        ({**GENERIC, "SMS_GATEWAY_CONTENT_TYPE": "json", "SMS_GATEWAY_BODY": '{"text": {{text}}}'},
         "SMS_GATEWAY_BODY is not JSON once filled in"),
        ({"TARIFFS": "gateway:sms_segment=x,voice_minute=0"}, "TARIFFS"),
    ],
)  # fmt: skip
def test_bad_gateway_settings_name_the_variable(env, message):
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    assert message in str(caught.value)


def test_gateway_settings_are_read_and_their_secrets_are_never_logged():
    s = Settings.from_env(gateway_env("android", SMS_GATEWAY_CONTENT_TYPE="JSON", SMS_GATEWAY_METHOD="put"))
    assert (s.sms_provider, s.sms_gateway_preset, s.sms_gateway_url) == ("gateway", "android", URLS["android"])
    assert (s.sms_gateway_method, s.sms_gateway_content_type) == ("PUT", "application/json")
    assert {"android-pass", SECRET, SIGNING_KEY} <= set(s.secrets)
    assert s.tariffs["gateway"] == {"sms_segment": 25, "voice_minute": 0}
    local = Settings.from_env({})  # nothing required unless SMS_PROVIDER=gateway
    assert (local.sms_gateway_preset, local.sms_gateway_content_type, local.sms_gateway_method) == (
        "",
        "application/x-www-form-urlencoded",
        "POST",
    )


def test_presets_expose_the_same_parts():
    for module in (kannel, jasmin, android, generic):
        for name in ("ACCEPTS", "ACK", "outgoing", "read_answer", "verify", "parse_incoming", "parse_report"):
            assert hasattr(module, name), (module.__name__, name)
    assert generic.DEFAULT_BODY.keys() == {"application/x-www-form-urlencoded", "application/json", "application/xml"}


@pytest.mark.postgres
def test_reports_racing_for_one_message_never_leave_it_behind(postgres_migrated, monkeypatch):
    """Kannel sends "accepted by the SMSC" (8) and "delivered" (1) within milliseconds, on two connections: in
    whatever order they commit, the message ends delivered (the report locks its message row)."""
    from sms import outbound
    from tests.test_races import _in_threads

    monkeypatch.setattr("sms.routes.utcnow", lambda: NOW)
    app = gateway_app(postgres_migrated, "kannel")
    with app.app_context():
        messages = [outbound.prepare(f"+2237600{n:04d}", "Bonjour", NOW, purpose="reply") for n in range(12)]
        db.session.commit()
        rows = {m.id: r.id for m in messages for r in db.session.scalars(select(OutboxItem).filter_by(message_id=m.id))}
        db.session.commit()

        def dlr(ref: int, code: str):
            return lambda client: client.get(f"{STATUS}?ref={ref}&status={code}&answer=").status_code

        for ref in rows.values():
            assert _in_threads(app, [dlr(ref, "1"), dlr(ref, "8"), dlr(ref, "8"), dlr(ref, "4")]) == [200] * 4
        db.session.expire_all()
        assert {db.session.get(Message, m).status for m in rows} == {MessageStatus.DELIVERED}
        db.session.remove()
        _truncate_all(app)
        db.engine.dispose()


# --- the fuzz: each preset's callbacks through the HTTP layer --------------------------------------------------

FUZZ_NAMES = sorted(
    {"from", "to", "text", "id", "coding", "charset", "time", "ref", "status", "answer", "content", "binary"}
    | {"message_status", "err", "level", "date", "error", "event", "payload", "messageId", "message", "phoneNumber"}
)
FUZZ_VALUES = st.one_of(
    st.text(max_size=12),  # control characters, NUL and lone surrogates included
    st.sampled_from(["", PHONE, "0022376123456", "1", "2", "4", "8", "16", "DELIVRD", "ESME_ROK", "delivered"]),
    st.sampled_from(["sms:received", "sms:delivered", "kalanso-1", "2147483648", "%00", "UTF-16BE", "8", "zz"]),
    st.from_regex(r"\A[0-9a-f]{0,40}\Z", fullmatch=True),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    fields=st.dictionaries(st.one_of(st.sampled_from(FUZZ_NAMES), st.text(max_size=6)), FUZZ_VALUES, max_size=7),
    kind=st.sampled_from(["query", "form", "json", "raw"]),
    raw=st.binary(max_size=200),
    route=st.sampled_from(["receive", "status"]),
)
def _fuzz(line, caplog, fields, kind, raw, route):
    caplog.clear()
    path = RECEIVE if route == "receive" else STATUS
    if kind == "query":
        call = Call("GET", f"{path}?{urlencode(fields)}")
    elif kind == "form":
        call = form(path, urlencode(fields).encode())
    elif kind == "json":
        call = as_json(path, json.dumps({"event": fields.get("event", ""), "id": "fz", "payload": fields}).encode())
    else:
        call = Call("POST", path, raw, {"Content-Type": random_type(raw)})
    if line.preset == "android":  # signed: junk reaches the parser
        call = Call(call.method, call.path, call.body, {**call.headers, **android_signed(call.body)})
    response = call.send(line.client)
    assert response.status_code in (200, 400, 403, 413), (kind, fields, raw)
    tracebacks = [r for r in caplog.records if r.exc_info or r.stack_info]
    assert tracebacks == [], [r.getMessage() for r in tracebacks]


def random_type(raw: bytes) -> str:
    return ["application/x-www-form-urlencoded", "application/json", 'text/plain; charset="UTF-16BE"'][len(raw) % 3]


@pytest.mark.parametrize("preset", PRESETS)
def test_fuzz_every_gateway_callback_no_5xx_no_traceback(preset, line, caplog):
    _fuzz(line, caplog)
