"""A Somleng-shaped fake: the exact parameters Somleng posts to Kalanso, signed as Somleng signs them, and its REST
API's answers (for ``responses``). Written from Somleng's own code (docs/somleng.md has the sources), independently
of the Twilio SDK and of the code under test.

- Voice requests (somleng-switch ``CallController#request_twiml``): ``Caller``, ``Called``, ``From``, ``To``,
  ``CallSid``, ``Direction``, ``AccountSid``, ``ApiVersion``, ``CallStatus`` (``ringing`` on the first request,
  ``in-progress`` after), plus ``Digits`` on a ``<Gather>`` action when keys were pressed. Sids are UUIDs.
- Status callback (``TwilioAPI::Webhook::VoiceStatusCallbackSerializer``), one per call, when it ends.
- SMS (``TwilioAPI::Webhook::MessageSerializer``; the status callback adds ``MessageStatus``).
- Signature (``TwiMLEndpoint#twilio_signature``, ``TwilioAPI::NotifyWebhook``): ``X-Twilio-Signature`` =
  base64(HMAC-SHA1(auth token, URL + each name and value, sorted by name)).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from urllib.parse import parse_qs

BASE = "https://kalanso.example.org"  # PUBLIC_BASE_URL (tests/conftest.py)
API = "https://api.somleng.example.org"  # TWILIO_API_BASE_URL: Somleng's API lives on its "api" subdomain
ACCOUNT_SID = "6f1a2b3c-0d4e-4f50-8a61-72b8c9d0e1f2"
AUTH_TOKEN = "Kx7_t0kenOfTheSomlengAccountForKalansoTests_9"  # the account's auth token, shown in Somleng's dashboard
NUMBER = "+22370001122"  # a SIM in the GSM gateway, Somleng's incoming phone number for the account
CALLER = "+22376123456"
API_VERSION = "2010-04-01"
CALLS = f"{API}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
MESSAGES = f"{API}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"

CONFIG = {
    "TWILIO_COMPATIBLE": "somleng",
    "TWILIO_API_BASE_URL": API,
    "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
    "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
    "TWILIO_NUMBER": NUMBER,
}

# What Somleng's request schemas read (TwilioAPI::PhoneCallRequestSchema, MessageRequestSchema); anything else is
# dropped unread, so Kalanso sends nothing else.
CALL_PARAMS = {"To", "From", "Url", "Method", "Twiml", "StatusCallback", "StatusCallbackMethod"}
MESSAGE_PARAMS = {
    "From", "MessagingServiceSid", "To", "Body", "StatusCallback", "ValidityPeriod", "SmartEncoded", "SendAt",
    "ScheduleType",
}  # fmt: skip


def call_sid(n: int) -> str:
    return f"{n:08x}-5a1e-4c0d-9e2f-{n:012x}"


def message_sid(n: int) -> str:
    return f"{n:08x}-3b7d-4e21-8f90-{n:012x}"


def signature(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
    """Somleng's ``twilio_signature``: ``uri.to_s + payload.sort.join``, HMAC-SHA1 with the auth token, base64."""
    data = url + "".join(f"{name}{value}" for name, value in sorted(params.items()))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def post(client, path: str, params: dict[str, str], *, token: str = AUTH_TOKEN):
    """POST as Somleng does: a form, its User-Agent, the signature of ``PUBLIC_BASE_URL`` + path."""
    headers = {"X-Twilio-Signature": signature(BASE + path, params, token), "User-Agent": "TwilioProxy/1.1"}
    return client.post(path, data=params, headers=headers)


# --- voice -----------------------------------------------------------------------------------------


def voice(sid: str, *, status: str = "ringing", direction: str = "inbound", caller: str = CALLER,
          called: str = NUMBER, digits: str | None = None) -> dict[str, str]:  # fmt: skip
    """A request to the voice URL (first: ``ringing``) or to an action URL (``in-progress``); an empty
    ``<Gather>`` result has no ``Digits`` at all (ExecuteGather#build_callback_params)."""
    params = {
        "Caller": caller,
        "Called": called,
        "From": caller,
        "To": called,
        "CallSid": sid,
        "Direction": direction,
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": API_VERSION,
        "CallStatus": status,
    }
    if digits:
        params["Digits"] = digits
    return params


def outbound_voice(sid: str, to: str, *, status: str = "ringing", digits: str | None = None) -> dict[str, str]:
    """A request for a call Kalanso placed through the REST API: from our number, ``outbound-api``."""
    return voice(sid, status=status, direction="outbound-api", caller=NUMBER, called=to, digits=digits)


def call_status(sid: str, status: str, duration: str = "52", *, direction: str = "inbound", caller: str = CALLER,
                called: str = NUMBER, sip: str = "200") -> dict[str, str]:  # fmt: skip
    """The one status callback, when the call ends: completed, busy, no-answer, canceled or failed."""
    return {
        "CallSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": caller,
        "To": called,
        "CallStatus": status,
        "ApiVersion": API_VERSION,
        "Direction": direction,
        "CallDuration": duration,
        "SipResponseCode": sip,
        "CallbackSource": "call-progress-events",
        "Timestamp": "Tue, 24 Nov 2026 10:00:00 +0000",
        "SequenceNumber": "0",
    }


# --- SMS -------------------------------------------------------------------------------------------


def sms(sid: str, body: str, phone: str = CALLER) -> dict[str, str]:
    """An incoming text (no ``MessagingServiceSid`` unless the number belongs to a messaging service)."""
    return {
        "MessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": phone,
        "To": NUMBER,
        "Body": body,
        "NumMedia": "0",
        "ReferralNumMedia": "0",
        "ApiVersion": API_VERSION,
    }


def sms_status(sid: str, word: str, phone: str, body: str) -> dict[str, str]:
    """A message status callback: the message's own fields (from our number) and ``MessageStatus``; no
    ``ErrorCode``, no ``SmsSid``/``SmsStatus``."""
    return {
        "MessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": NUMBER,
        "To": phone,
        "Body": body,
        "NumMedia": "0",
        "ReferralNumMedia": "0",
        "ApiVersion": API_VERSION,
        "MessageStatus": word,
    }


# --- the REST API (``responses`` callbacks) ------------------------------------------------------


def form_of(request) -> dict[str, str]:
    """The form Kalanso posted, checked as Somleng checks it: basic auth with the account's sid and token."""
    expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert request.headers["Authorization"] == expected
    form = parse_qs(request.body, keep_blank_values=True)
    assert all(len(values) == 1 for values in form.values()), form
    return {name: values[0] for name, values in form.items()}


def call_resource(sid: str, to: str) -> dict:
    """TwilioAPI::PhoneCallSerializer: a call just created (201)."""
    return {
        "account_sid": ACCOUNT_SID, "annotation": None, "answered_by": None, "api_version": API_VERSION,
        "caller_name": None, "date_created": "Tue, 24 Nov 2026 10:00:00 +0000",
        "date_updated": "Tue, 24 Nov 2026 10:00:00 +0000", "direction": "outbound-api", "duration": None,
        "end_time": None, "forwarded_from": None, "from": NUMBER, "from_formatted": "+223 70 00 11 22",
        "group_sid": None, "parent_call_sid": None, "phone_number_sid": "9d3c8f5e-6a1b-4c2d-8e3f-0a1b2c3d4e5f",
        "price": None, "price_unit": "USD", "sid": sid, "start_time": None, "status": "queued",
        "subresource_uris": {}, "to": to, "to_formatted": to,
        "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{sid}.json",
    }  # fmt: skip


def message_resource(sid: str, to: str, body: str, segments: int = 1) -> dict:
    """TwilioAPI::MessageSerializer: a message just created (201)."""
    return {
        "account_sid": ACCOUNT_SID, "api_version": API_VERSION, "body": body,
        "date_created": "Tue, 24 Nov 2026 10:00:00 +0000", "date_sent": None,
        "date_updated": "Tue, 24 Nov 2026 10:00:00 +0000", "direction": "outbound-api", "error_code": None,
        "error_message": None, "from": NUMBER, "messaging_service_sid": None, "num_media": "0",
        "num_segments": str(segments), "price": None, "price_unit": "USD", "sid": sid, "status": "queued",
        "subresource_uris": {}, "tags": {}, "to": to, "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json",
    }  # fmt: skip


def created(payload: dict):
    return 201, {"Content-Type": "application/json; charset=utf-8"}, json.dumps(payload)
