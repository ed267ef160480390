"""Your own SMS gateway in tests: each preset's exact callbacks (what Kannel, Jasmin, the Android app or a generic
gateway sends us) and a fake of each gateway's send API behind ``responses`` (no network), which reads the
request in that gateway's wire format and answers as that gateway does."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import parse_qs, quote, urlencode, urlparse

import responses

from tests.conftest import BASE_CONFIG, NOW

SECRET = "gatewaySecret0123456789"
SIGNING_KEY = "app-signing-key-7Qx2"
BASE = BASE_CONFIG["PUBLIC_BASE_URL"]
RECEIVE = f"/sms/gateway/{SECRET}/receive"
STATUS = f"/sms/gateway/{SECRET}/status"
PHONE = "+22376123456"
URLS = {
    "kannel": "http://kannel.test:13013/cgi-bin/sendsms",
    "jasmin": "http://jasmin.test:1401/send",
    "android": "http://phone.test:8080/message",
    "generic": "https://gateway.test/api/sms/send",
}
CONFIG = {
    "kannel": {
        "SMS_GATEWAY_PRESET": "kannel",
        "SMS_GATEWAY_URL": URLS["kannel"],
        "SMS_GATEWAY_USERNAME": "kalanso",
        "SMS_GATEWAY_PASSWORD": "kannel-pass",
        "SMS_GATEWAY_SENDER": "36001",
    },
    "jasmin": {
        "SMS_GATEWAY_PRESET": "jasmin",
        "SMS_GATEWAY_URL": URLS["jasmin"],
        "SMS_GATEWAY_USERNAME": "kalanso",
        "SMS_GATEWAY_PASSWORD": "jasmin-pass",
        "SMS_GATEWAY_SENDER": "36001",
    },
    "android": {
        "SMS_GATEWAY_PRESET": "android",
        "SMS_GATEWAY_URL": URLS["android"],
        "SMS_GATEWAY_USERNAME": "sms",
        "SMS_GATEWAY_PASSWORD": "android-pass",
        "SMS_GATEWAY_SIGNING_KEY": SIGNING_KEY,
    },
    "generic": {
        "SMS_GATEWAY_PRESET": "generic",
        "SMS_GATEWAY_URL": URLS["generic"],
        "SMS_GATEWAY_SENDER": "+22320000000",
    },
}
PRESETS = list(CONFIG)
ACKS = {"kannel": "", "jasmin": "ACK/Jasmin", "android": "", "generic": ""}


def gateway_env(preset: str, **overrides: str) -> dict[str, str]:
    return {"SMS_PROVIDER": "gateway", "SMS_GATEWAY_CALLBACK_SECRET": SECRET, **CONFIG[preset], **overrides}


# --- what the gateways send us -------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One HTTP request to our app: method, path with query, body and headers."""

    method: str
    path: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    def send(self, client):
        return client.open(self.path, method=self.method, data=self.body, headers=self.headers)


def android_signed(body: bytes, when: datetime = NOW, key: str = SIGNING_KEY) -> dict[str, str]:
    stamp = str(int(when.timestamp()))
    signature = hmac.new(key.encode(), body + stamp.encode(), hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Signature": signature, "X-Timestamp": stamp}


def android_event(event: str, payload: dict, event_id: str | None = None) -> bytes:
    data = {
        "deviceId": "ffffffffceb0b1db0000018e937c815b",
        "event": event,
        "id": event_id or uuid.uuid4().hex[:21],
        "payload": payload,
        "webhookId": f"kalanso-{event.partition(':')[2]}",
    }
    return json.dumps(data).encode()


def inbound(preset: str, text: str, phone: str = PHONE, message_id: str | None = None, *, ucs2: bool = False) -> Call:
    """An incoming text as the preset's gateway sends it (``ucs2``: the way a UCS-2 text arrives)."""
    message_id = message_id or str(uuid.uuid4())
    if preset == "kannel":  # get-url = ...receive?from=%p&to=%P&text=%b&coding=%c&charset=%C&time=%T&id=%I
        raw = text.encode("utf-16-be") if ucs2 else text.encode()
        coding, charset = ("2", "UTF-16BE") if ucs2 else ("0", "UTF-8")
        query = urlencode({"from": phone, "to": "36001"}) + "&text=" + quote(raw, safe="").replace("%20", "+")
        query += "&" + urlencode({"coding": coding, "charset": charset, "time": "1795514400", "id": message_id})
        return Call("GET", f"{RECEIVE}?{query}")
    if preset == "jasmin":  # an HTTP client connector, method POST
        raw = text.encode("utf-16-be") if ucs2 else text.encode()
        form = {
            "id": message_id,
            "from": phone,
            "to": "36001",
            "origin-connector": "smppc01",
            "priority": "0",
            "coding": "8" if ucs2 else "0",
            "validity": "None",
            "content": raw,
            "binary": raw.hex(),
        }
        return Call("POST", RECEIVE, urlencode(form).encode(), {"Content-Type": "application/x-www-form-urlencoded"})
    if preset == "android":
        payload = {
            "messageId": hashlib.sha1(text.encode()).hexdigest()[:16],  # content-based: not unique
            "message": text,
            "phoneNumber": phone,
            "simNumber": 1,
            "receivedAt": "2026-11-24T10:00:00.000+00:00",
        }
        body = android_event("sms:received", payload, message_id[:21])
        return Call("POST", RECEIVE, body, android_signed(body))
    form = {"from": phone, "text": text, "date": "2026-11-24T10:00:00Z", "id": message_id}
    return Call("POST", RECEIVE, urlencode(form).encode(), {"Content-Type": "application/x-www-form-urlencoded"})


KANNEL_DLR = {"sent": "8", "delivered": "1", "failed": "2", "buffered": "4", "rejected": "16"}
JASMIN_DLR = {"sent": "ESME_ROK", "delivered": "DELIVRD", "failed": "UNDELIV", "buffered": "ACCEPTD"}
ANDROID_DLR = {"sent": "sms:sent", "delivered": "sms:delivered", "failed": "sms:failed"}


def report(preset: str, sent: Sent, outcome: str) -> Call:
    """The gateway's delivery report about a text it was given (``outcome``: sent, delivered, failed...)."""
    if preset == "kannel":  # GET the dlr-url, %d and %A filled in
        answer = {"8": "ACK/", "1": "", "2": "id:0001 sub:001 dlvrd:000 stat:UNDELIV err:001"}.get(
            KANNEL_DLR[outcome], ""
        )
        url = sent.dlr_url.replace("%d", KANNEL_DLR[outcome]).replace("%A", quote(answer, safe=""))
        return Call("GET", _path(url))
    if preset == "jasmin":
        form = {"id": sent.provider_id, "message_status": JASMIN_DLR[outcome], "level": "3"}
        if outcome != "sent":
            form |= {"id_smsc": "2567", "sub": "001", "dlvrd": "001" if outcome == "delivered" else "000"}
            form |= {"subdate": "2611241000", "donedate": "2611241001", "err": "000" if outcome != "failed" else "034"}
            form |= {"text": sent.text[:20]}
        body = urlencode(form).encode()
        return Call("POST", _path(sent.dlr_url), body, {"Content-Type": "application/x-www-form-urlencoded"})
    if preset == "android":
        payload = {"messageId": sent.provider_id, "phoneNumber": sent.to, "simNumber": None}
        payload |= {"sent": {"sentAt": "2026-11-24T10:00:05.000+00:00", "partsCount": 1}}.get(outcome, {})
        payload |= {"delivered": {"deliveredAt": "2026-11-24T10:00:09.000+00:00"}}.get(outcome, {})
        payload |= {"failed": {"failedAt": "2026-11-24T10:00:09.000+00:00", "reason": "RESULT_ERROR_NO_SERVICE"}}.get(
            outcome, {}
        )
        body = android_event(ANDROID_DLR[outcome], payload)
        return Call("POST", STATUS, body, android_signed(body))
    form = {"status": outcome} | ({"error": "absent subscriber"} if outcome == "failed" else {})
    return Call(
        "POST", _path(sent.dlr_url), urlencode(form).encode(), {"Content-Type": "application/x-www-form-urlencoded"}
    )


def _path(url: str) -> str:
    assert url.startswith(BASE), url
    return url[len(BASE) :]


# --- the gateways' send APIs ----------------------------------------------------------------------------


@dataclass
class Sent:
    """One text a fake gateway accepted: to whom, the text as the gateway decoded it, our reference."""

    to: str
    text: str
    encoding: str  # GSM-7 | UCS-2, as the request said
    dlr_url: str
    provider_id: str
    request: object = None


class FakeGateway:
    """The preset's send API: reads each request in that gateway's wire format, answers as it does."""

    def __init__(self, preset: str, mock: responses.RequestsMock):
        self.preset, self.sent = preset, []
        self.ids = itertools.count(1)
        self.before_answering = None  # called with the text just taken, before the answer leaves
        mock.add_callback(responses.GET if preset == "kannel" else responses.POST, URLS[preset], self._serve)

    def _serve(self, request):
        answer = getattr(self, f"_{self.preset}")(request)
        if self.before_answering is not None:
            self.before_answering(self.sent[-1])
        return answer

    def _kannel(self, request):
        query = {k: v[0] for k, v in parse_qs(urlparse(request.url).query, keep_blank_values=True).items()}
        assert (query["username"], query["password"], query["from"]) == ("kalanso", "kannel-pass", "36001")
        assert (query["charset"], query["dlr-mask"]) == ("UTF-8", "31")
        encoding = {"0": "GSM-7", "2": "UCS-2"}[query["coding"]]
        self.sent.append(Sent(query["to"], query["text"], encoding, query["dlr-url"], "", request))
        return 202, {"Content-Type": "text/html"}, "0: Accepted for delivery"

    def _jasmin(self, request):
        form = {k: v[0] for k, v in parse_qs(request.body.decode(), keep_blank_values=True).items()}
        assert (form["username"], form["password"], form["from"]) == ("kalanso", "jasmin-pass", "36001")
        assert (form["dlr"], form["dlr-level"], form["dlr-method"]) == ("yes", "3", "POST")
        if "hex-content" in form:
            assert form["coding"] == "8" and "content" not in form
            text, encoding = bytes.fromhex(form["hex-content"]).decode("utf-16-be"), "UCS-2"
        else:
            text, encoding = form["content"], "GSM-7"
        message_id = str(uuid.UUID(int=next(self.ids)))
        self.sent.append(Sent(form["to"], text, encoding, form["dlr-url"], message_id, request))
        return 200, {"Content-Type": "text/plain"}, f'Success "{message_id}"'

    def _android(self, request):
        assert request.headers["Authorization"] == "Basic c21zOmFuZHJvaWQtcGFzcw=="  # sms:android-pass
        data = json.loads(request.body)
        assert set(data) == {"id", "textMessage", "phoneNumbers", "withDeliveryReport"} and data["withDeliveryReport"]
        (to,) = data["phoneNumbers"]
        self.sent.append(Sent(to, data["textMessage"]["text"], "", "", data["id"], request))
        state = {"id": data["id"], "deviceId": "ffffffffceb0b1db", "state": "Pending", "isHashed": False}
        state |= {"isEncrypted": False, "recipients": [{"phoneNumber": to, "state": "Pending"}], "states": {}}
        return 202, {"Content-Type": "application/json"}, json.dumps(state)

    def _generic(self, request):
        assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
        form = {k: v[0] for k, v in parse_qs(request.body.decode(), keep_blank_values=True).items()}
        assert form["from"] == "+22320000000"
        self.sent.append(Sent(form["to"], form["text"], "", form["dlr_url"], form["id"], request))
        return 200, {"Content-Type": "application/json"}, '{"ok": true}'
