"""Helpers for the voice-line tests: the providers' exact parameter sets and expected XML, written out
independently of the renderers under test."""

from __future__ import annotations

from html import escape

from twilio.request_validator import RequestValidator

BASE = "https://kalanso.example.org"
TOKEN = "test-twilio-token"
CALLER = "+22376123456"
TWILIO_NUMBER = "+15005550006"
CALL_SID = "CA" + "a" * 32
ACCOUNT_SID = "AC" + "1" * 32
AT_SECRET = "s3cretPathSegment0123"
AT_URL = f"/ivr/at/{AT_SECRET}/voice"
AT_SESSION = "ATVId_abc"
XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>'


# --- Twilio ---------------------------------------------------------------------------------------


def twilio_call(**extra: str) -> dict[str, str]:
    """Reference §15: an incoming call, both spellings of caller and called."""
    params = {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": CALL_SID,
        "CallStatus": "ringing",
        "Called": TWILIO_NUMBER,
        "Caller": CALLER,
        "Direction": "inbound",
        "From": CALLER,
        "FromCountry": "ML",
        "To": TWILIO_NUMBER,
        "ToCountry": "US",
    }
    params.update(extra)
    return params


def twilio_gather(digits: str | None) -> dict[str, str]:
    """A Gather action: ``Digits`` and ``FinishedOnKey``; ``None`` = empty result (Digits omitted)."""
    params = twilio_call(CallStatus="in-progress", FinishedOnKey="")
    if digits is not None:
        params["Digits"] = digits
    return params


def twilio_status(status: str, duration: str = "47") -> dict[str, str]:
    return twilio_call(
        CallStatus=status,
        CallDuration=duration,
        Duration="1",
        SipResponseCode="200",
        Timestamp="Mon, 24 Nov 2025 10:00:00 +0000",
        CallbackSource="call-progress-events",
        SequenceNumber="3",
    )


def post_twilio(client, path: str, params: dict[str, str], *, url: str | None = None, headers=None):
    """POST signed with the SDK's own RequestValidator over the URL Twilio requests: ``PUBLIC_BASE_URL`` + path
    (or ``url``)."""
    signed_url = url or f"{BASE}{path}"
    signature = RequestValidator(TOKEN).compute_signature(signed_url, params)
    return client.post(path, data=params, headers={"X-Twilio-Signature": signature, **(headers or {})})


def say(text: str, voice: str | None = "Polly.Lea") -> str:
    """Twilio's French ``<Say>``; ``voice=None``: Somleng's (a language, no voice)."""
    voice_attr = f' voice="{voice}"' if voice else ""
    return f'<Say language="fr-FR"{voice_attr}>{escape(text, quote=False)}</Say>'


def twiml_gather(*texts: str, turn: int = 1, voice: str | None = "Polly.Lea") -> str:
    """A Gather whose action and timeout URLs carry ``t=<turn>``, the number of the request they will be."""
    inner = "".join(say(t, voice) for t in texts)
    return (
        f'{XML_HEAD}<Response><Gather action="{BASE}/ivr/twilio/voice?ev=gather&amp;t={turn}" '
        f'actionOnEmptyResult="true" finishOnKey="" input="dtmf" method="POST" numDigits="1" timeout="6">{inner}'
        f'</Gather><Redirect method="POST">{BASE}/ivr/twilio/voice?ev=timeout&amp;t={turn}</Redirect></Response>'
    )


def twiml_hangup(*texts: str, voice: str | None = "Polly.Lea") -> str:
    return f"{XML_HEAD}<Response>{''.join(say(t, voice) for t in texts)}<Hangup /></Response>"


TWIML_EMPTY = f"{XML_HEAD}<Response />"


# --- Africa's Talking ----------------------------------------------------------------------------


def at_call(**extra: str) -> dict[str, str]:
    params = {
        "isActive": "1",
        "sessionId": AT_SESSION,
        "direction": "Inbound",
        "callerNumber": CALLER,
        "destinationNumber": "+22344000000",
    }
    params.update(extra)
    return params


def at_final(**extra: str) -> dict[str, str]:
    return at_call(
        isActive="0",
        durationInSeconds="39",
        currencyCode="XOF",
        amount="147.44",
        callSessionState="Completed",
        callStartTime="2025-11-24+10:00:00",
        hangupCause="NORMAL_CLEARING",
        status="Success",
        **extra,
    )


def at_say(text: str) -> str:
    return f'<Say voice="woman">{escape(text, quote=False)}</Say>'


def at_gather(*texts: str, turn: int = 1) -> str:
    url = f"{BASE}{AT_URL}"
    inner = "".join(at_say(t) for t in texts)
    return (
        f'{XML_HEAD}<Response><GetDigits timeout="6" numDigits="1" finishOnKey="#" '
        f'callbackUrl="{url}?ev=digits&amp;t={turn}">{inner}</GetDigits>'
        f"<Redirect>{url}?ev=timeout&amp;t={turn}</Redirect></Response>"
    )


def at_end(*texts: str) -> str:
    return f"{XML_HEAD}<Response>{''.join(at_say(t) for t in texts)}</Response>"


AT_EMPTY = f"{XML_HEAD}<Response />"
