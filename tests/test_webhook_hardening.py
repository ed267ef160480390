"""Every provider webhook against what no provider sends: refused before any signature check (400/413), or
bounded by the parsers and answered politely (200); never a 5xx, never a traceback, nothing changed.

The seven webhooks: Twilio voice and call status, Twilio SMS and SMS status, Africa's Talking voice, AT SMS
incoming and AT delivery reports. Twilio requests are signed for the URL under PUBLIC_BASE_URL, so junk
reaches the parsers; malformed bodies carry a (useless) signature, the shape of the unauthenticated 500 the
SDK's validator gave on an unnamed multipart part.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from core.db import db
from ivr.models import CallSession
from listeners.models import Listener
from providers.webhooks import MARK, MAX_BODY_BYTES, MAX_FIELDS
from sms.models import Message
from tests import voice_support as w
from tests.test_ivr_webhooks import P
from tests.test_sms_line import EMPTY_TWIML, SECRET, at_inbound, twilio_inbound, wire  # noqa: F401

PHONE = w.CALLER
SMS_SID = "SM" + "7" * 32


@dataclass(frozen=True)
class Hook:
    """One provider webhook: where it is, a valid request, what a polite refusal of junk looks like."""

    name: str
    path: str
    twilio: bool  # signed with X-Twilio-Signature (else: AT's secret path segment)
    params: dict[str, str]
    polite: tuple[int, str]  # (status, body) when the parser cannot use the request
    ids: tuple[str, ...]  # its id fields
    numbers: tuple[str, ...]  # its phone fields
    numeric: tuple[str, ...] = ()  # numbers that must stay in range (out of range: ignored, not refused)


def _sms_status(sid: str) -> dict[str, str]:
    return {"MessageSid": sid, "SmsSid": sid, "MessageStatus": "delivered", "To": PHONE, "From": w.TWILIO_NUMBER}


HOOKS = [
    Hook(
        "twilio-voice",
        "/ivr/twilio/voice",
        True,
        w.twilio_call(),
        (200, w.twiml_hangup(P("sorry"))),
        ("CallSid",),
        ("From",),
    ),
    Hook(
        "twilio-status",
        "/ivr/twilio/status",
        True,
        w.twilio_status("completed"),
        (200, w.TWIML_EMPTY),
        ("CallSid",),
        ("From",),
        ("CallDuration",),
    ),
    Hook(
        "twilio-sms",
        "/sms/twilio",
        True,
        twilio_inbound("QUIZ", PHONE, SMS_SID),
        (200, EMPTY_TWIML),
        ("MessageSid",),
        ("From",),
    ),
    Hook("twilio-sms-status", "/sms/twilio/status", True, _sms_status(SMS_SID), (204, ""), ("MessageSid",), ()),
    Hook("at-voice", w.AT_URL, False, w.at_call(), (200, w.at_end(P("sorry"))), ("sessionId",), ("callerNumber",)),
    Hook(
        "at-sms",
        f"/sms/at/{SECRET}/incoming",
        False,
        at_inbound("QUIZ", PHONE, "ATXid_in1"),
        (200, ""),
        ("id",),
        ("from",),
    ),
    Hook(
        "at-sms-delivery",
        f"/sms/at/{SECRET}/delivery",
        False,
        {"id": "ATXid_out1", "status": "Success", "phoneNumber": PHONE, "networkCode": "99999"},
        (200, ""),
        ("id",),
        (),
    ),
]
BY_NAME = {hook.name: hook for hook in HOOKS}
AT_FINAL = Hook(
    "at-voice-final",
    w.AT_URL,
    False,
    w.at_final(),
    (200, w.at_end(P("sorry"))),
    ("sessionId",),
    ("callerNumber",),
    ("durationInSeconds", "amount"),
)


def signature(path: str, params) -> str:
    return RequestValidator(w.TOKEN).compute_signature(w.BASE + path, params)


def post_form(client, hook: Hook, params, query: str = ""):
    """A well-formed request (signed for Twilio): junk in it reaches the parsers."""
    path = hook.path + (f"?{query}" if query else "")
    headers = {"X-Twilio-Signature": signature(path, params)} if hook.twilio else {}
    return client.post(path, data=params, headers=headers)


def post_raw(client, hook: Hook, body: bytes, content_type: str | None, query: str = ""):
    """Any body: what no provider sends. Twilio endpoints get a signature header, as an attacker would send."""
    path = hook.path + (f"?{query}" if query else "")
    headers = {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"} if hook.twilio else {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    return client.post(path, data=body, headers=headers)


def counts() -> tuple[int, int, int]:
    return tuple(
        db.session.scalar(select(func.count()).select_from(model)) for model in (Listener, CallSession, Message)
    )


def answer(response) -> tuple[int, str]:
    return response.status_code, response.get_data(as_text=True)


# --- malformed bodies: refused before any signature check ----------------------------------------------


def _multipart(parts: list[tuple[str | None, str]]) -> bytes:
    chunks = []
    for name, value in parts:
        disposition = "form-data" if name is None else f'form-data; name="{name}"'
        chunks.append(f"--kb\r\nContent-Disposition: {disposition}\r\n\r\n{value}\r\n")
    return ("".join(chunks) + "--kb--\r\n").encode()


FORM = "application/x-www-form-urlencoded"
MALFORMED = [
    # (case, body from the hook's valid params, content type, query, expected status)
    (
        "multipart-unnamed-part",
        lambda p: _multipart([(None, "x"), *p.items()]),
        "multipart/form-data; boundary=kb",
        "",
        400,
    ),
    ("multipart", lambda p: _multipart(list(p.items())), "multipart/form-data; boundary=kb", "", 400),
    ("json", lambda p: json.dumps(p).encode(), "application/json", "", 400),
    ("text-plain", lambda p: urlencode(p).encode(), "text/plain", "", 400),
    ("no-content-type", lambda p: urlencode(p).encode(), None, "", 400),
    ("nul-in-a-value", lambda p: urlencode({**p, "Body": "QUIZ\x00", "text": "a\x00b"}).encode(), FORM, "", 400),
    ("nul-in-a-name", lambda p: urlencode({**p, "Na\x00me": "1"}).encode(), FORM, "", 400),
    ("escape-in-a-value", lambda p: urlencode({**p, "From": PHONE + "\x1b"}).encode(), FORM, "", 400),
    ("nul-in-the-query", lambda p: urlencode(p).encode(), FORM, "ev=gather%00", 400),
    ("not-utf-8", lambda p: urlencode(p).encode() + b"&x=\xff\xfe", FORM, "", 400),
    (
        "too-many-fields",
        lambda p: urlencode({**p, **{f"f{i}": "1" for i in range(MAX_FIELDS)}}).encode(),
        FORM,
        "",
        400,
    ),
    ("too-big", lambda p: urlencode({**p, "Pad": "x" * MAX_BODY_BYTES}).encode(), FORM, "", 413),
]


@pytest.mark.parametrize(("case", "body", "content_type", "query", "status"), MALFORMED, ids=[m[0] for m in MALFORMED])
@pytest.mark.parametrize("hook", HOOKS, ids=[h.name for h in HOOKS])
def test_malformed_bodies_are_refused_before_anything_reads_them(
    hook,
    case,
    body,
    content_type,
    query,
    status,
    client,
    clock,
    wire,  # noqa: F811
):
    response = post_raw(client, hook, body(hook.params), content_type, query)
    assert response.status_code == status
    assert counts() == (0, 0, 0)
    assert wire == []


@pytest.mark.parametrize("hook", HOOKS, ids=[h.name for h in HOOKS])
def test_the_valid_request_of_each_row_passes(hook, client, clock, wire):  # noqa: F811
    """The requests the tables above spoil are good ones: the refusals are about the spoiling."""
    response = post_form(client, hook, hook.params)
    assert response.status_code in (200, 204)
    if hook.name in ("twilio-voice", "twilio-sms", "at-voice", "at-sms"):  # a call or a text: rows written
        assert counts() != (0, 0, 0)


def test_every_provider_webhook_is_guarded(app):
    """The guard is one decorator; every provider route has it (a new webhook without it fails here)."""
    provider_rules = [
        rule
        for rule in app.url_map.iter_rules()
        if "POST" in (rule.methods or ()) and re.match(r"^/(ivr|sms)/(twilio|at)\b", rule.rule)
    ]
    assert len(provider_rules) == 7
    unguarded = [rule.rule for rule in provider_rules if not getattr(app.view_functions[rule.endpoint], MARK, False)]
    assert unguarded == []


# --- fields out of bounds: the parsers refuse them, the routes answer politely -------------------------

HUGE = "9" * 5000
LONG_ID = "X" * 65
LONG_NUMBER = "+223" + "7" * 29


def _case(hook: str, case: str, query: str = "", known_call: bool = False, **changes: str):
    return pytest.param(BY_NAME[hook], query, changes, known_call, id=f"{hook}-{case}")


OUT_OF_BOUNDS = [
    # (webhook, query string, fields changed, whether the call is known first)
    _case("twilio-voice", "huge-ref", query=f"ref={HUGE}"),
    _case("twilio-voice", "ref-over-int32", query="ref=2147483648"),
    _case("twilio-voice", "ref-not-ascii", query="ref=%C2%B2"),  # "²" passes str.isdigit(), not int()
    _case("twilio-voice", "long-callsid", CallSid=LONG_ID),
    _case("twilio-voice", "callsid-with-a-tab", CallSid="CA\t1"),
    _case("twilio-voice", "long-number", From=LONG_NUMBER),
    _case("twilio-voice", "long-direction", Direction="inbound" + " " * 30 + "x" * 64),
    _case("twilio-voice", "long-digits", query="ev=gather", known_call=True, Digits=HUGE[:4000]),
    _case("twilio-status", "huge-ref", query=f"ref={HUGE}"),
    _case("twilio-status", "ref-over-int32", query="ref=2147483648"),
    _case("twilio-status", "long-callsid", CallSid=LONG_ID, known_call=True),
    _case("twilio-status", "long-status", CallStatus="completed" + "x" * 100, known_call=True),
    _case("twilio-sms", "long-messagesid", MessageSid=LONG_ID, SmsSid=LONG_ID, SmsMessageSid=LONG_ID),
    _case("twilio-sms", "messagesid-with-a-tab", MessageSid="SM\t1", SmsSid="SM\t1"),
    _case("twilio-sms", "long-number", From=LONG_NUMBER),
    _case("twilio-sms-status", "long-messagesid", MessageSid=LONG_ID, SmsSid=LONG_ID),
    _case("twilio-sms-status", "long-error-code", ErrorCode="3" * 100),
    _case("at-voice", "long-sessionid", sessionId=LONG_ID),
    _case("at-voice", "sessionid-with-a-tab", sessionId="AT\t1"),
    _case("at-voice", "long-number", callerNumber=LONG_NUMBER),
    _case("at-voice", "long-digits", query="ev=digits", known_call=True, dtmfDigits=HUGE[:4000]),
    _case("at-sms", "long-id", id=LONG_ID),
    _case("at-sms", "long-number", **{"from": LONG_NUMBER}),
    _case("at-sms-delivery", "long-id", id=LONG_ID),
    _case("at-sms-delivery", "long-status", status="Success" + "x" * 100),
]


@pytest.mark.parametrize(("hook", "query", "changes", "known_call"), OUT_OF_BOUNDS)
def test_fields_out_of_bounds_get_the_polite_answer_and_change_nothing(
    hook,
    query,
    changes,
    known_call,
    client,
    clock,
    caplog,
    wire,  # noqa: F811
):
    if known_call:
        start = BY_NAME["twilio-voice"] if hook.twilio else BY_NAME["at-voice"]
        assert post_form(client, start, start.params).status_code == 200
    before = counts()
    caplog.clear()
    response = post_form(client, hook, {**hook.params, **changes}, query)
    assert answer(response) == hook.polite
    assert counts() == before
    assert wire == []
    assert [r for r in caplog.records if r.exc_info] == []  # refused by the parser, not by a crash


@pytest.mark.parametrize("value", [HUGE, "86401", "-1", "1e3", "٣", "4.5"])
def test_a_call_duration_out_of_range_is_ignored_not_refused(value, client, clock):
    w.post_twilio(client, "/ivr/twilio/voice", w.twilio_call())
    response = w.post_twilio(client, "/ivr/twilio/status", w.twilio_status("completed", duration=value))
    assert answer(response) == (200, w.TWIML_EMPTY)
    call = db.session.scalars(select(CallSession)).one()
    assert (call.status, call.duration_seconds) == ("completed", None)


@pytest.mark.parametrize(
    ("duration", "amount"),
    [(HUGE, "1" * 5000), ("86401", "1e999999"), ("x", "NaN"), ("", "Infinity"), ("39", "-sNaN"), ("39", "1E+8")],
)
def test_at_duration_and_cost_out_of_range_are_ignored(duration, amount, client, clock):
    client.post(w.AT_URL, data=w.at_call())
    response = client.post(w.AT_URL, data=w.at_final() | {"durationInSeconds": duration, "amount": amount})
    assert response.status_code == 200
    call = db.session.scalars(select(CallSession)).one()
    assert call.cost is None
    assert call.duration_seconds == (39 if duration == "39" else None)


@pytest.mark.parametrize("hook", [BY_NAME["twilio-sms"], BY_NAME["at-sms"]], ids=["twilio", "africastalking"])
def test_a_5000_digit_sms_is_cut_to_1600_characters_and_answered(hook, client, wire, drain):  # noqa: F811
    """Nothing a provider sends is longer than 1600 characters: a longer text is cut, not refused, and a
    number too long for int() never reaches it (the SMS line picked a course with int() of the first word)."""
    params = {**hook.params, "Body" if hook.twilio else "text": HUGE}
    response = post_form(client, hook, params)
    assert answer(response) == hook.polite
    inbound = db.session.scalars(select(Message).filter_by(direction="inbound")).one()
    assert inbound.body == HUGE[:1600]
    drain()  # the sender sends the reply
    assert [to for to, _ in wire] == [PHONE]  # answered (the welcome and the list of courses)


def test_at_delivery_reason_is_cut_to_the_column(client, wire):  # noqa: F811
    from tests.test_sms_edges import sent_message

    message = sent_message("africastalking", "ATXid_42")
    params = {"id": "ATXid_42", "status": "Failed", "failureReason": "R" * 5000}
    assert client.post(f"/sms/at/{SECRET}/delivery", data=params).status_code == 200
    db.session.refresh(message)
    assert (message.status, message.error) == ("failed", "R" * 200)


# --- the fuzz: every webhook through the HTTP layer ---------------------------------------------------

FIELD_NAMES = sorted({name for hook in [*HOOKS, AT_FINAL] for name in hook.params} | {"Digits", "dtmfDigits"})
CLEAN = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
VALUES = st.one_of(
    st.text(CLEAN, max_size=30),
    st.text(max_size=12),  # anything, control characters and NUL included
    st.from_regex(r"\A[0-9]{1,5000}\Z", fullmatch=True).map(str),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from(["", " ", PHONE, "+223 76 12 34 56", "0022376123456", "NaN", "Infinity", "1e999", "²", "٣", "0"]),
    st.sampled_from([HUGE, "2147483648", "86401", LONG_ID, LONG_NUMBER, "1" * 1601]),  # just out of bounds
)
QUERIES = st.dictionaries(st.sampled_from(["ev", "t", "ref"]), VALUES, max_size=3)
EXAMPLES = itertools.count(1)
BODY_KINDS = st.sampled_from(["form", "form", "form", "multipart", "json", "raw"])


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
# Known shapes first (every run), then Hypothesis's own: numbers too long for int(), over int32, ids over 64.
@example(
    changes={"Body": HUGE, "text": HUGE, "Digits": HUGE[:4000], "dtmfDigits": HUGE[:4000]},
    dropped=set(),
    query={"ev": "gather", "ref": "2147483648"},
    kind="form",
    raw=b"",
)
@example(
    changes={"CallSid": LONG_ID, "MessageSid": LONG_ID, "SmsSid": LONG_ID, "sessionId": LONG_ID, "id": LONG_ID},
    dropped=set(),
    query={"ref": HUGE},
    kind="form",
    raw=b"",
)
@example(
    changes={"CallDuration": HUGE, "durationInSeconds": HUGE, "amount": "1e999999", "From": "+" + HUGE},
    dropped=set(),
    query={},
    kind="form",
    raw=b"",
)
@example(changes={}, dropped=set(), query={}, kind="multipart", raw=b"")
@example(changes={}, dropped=set(), query={"t": "²"}, kind="raw", raw=b"From=%2B223\xff&Body=\x00")
@given(
    changes=st.dictionaries(st.one_of(st.sampled_from(FIELD_NAMES), st.text(CLEAN, max_size=8)), VALUES, max_size=6),
    dropped=st.sets(st.sampled_from(FIELD_NAMES), max_size=3),
    query=QUERIES,
    kind=BODY_KINDS,
    raw=st.binary(max_size=200),
)
def _fuzz(hook, client, caplog, changes, dropped, query, kind, raw):
    caplog.clear()
    n = next(EXAMPLES)  # a new message id per example: the same one would only be a provider's retry
    fresh = {"MessageSid": f"SM{n:032d}", "SmsSid": f"SM{n:032d}", "id": f"ATXid_f{n}"} if "/sms/" in hook.path else {}
    fresh = {k: v for k, v in fresh.items() if k in hook.params and not hook.path.endswith(("status", "delivery"))}
    params = {k: v for k, v in {**hook.params, **fresh, **changes}.items() if k not in dropped}
    query_string = urlencode(query)
    if kind == "form":
        response = post_form(client, hook, params, query_string)  # signed: reaches the parsers
    elif kind == "multipart":
        response = post_raw(
            client, hook, _multipart([(None, "x"), *params.items()]), "multipart/form-data; boundary=kb"
        )
    elif kind == "json":
        response = post_raw(client, hook, json.dumps(params).encode(), "application/json", query_string)
    else:
        response = post_raw(client, hook, raw, FORM, query_string)
    assert response.status_code < 500, (kind, params, query)
    assert response.status_code in (200, 204, 400, 403, 413)
    tracebacks = [r for r in caplog.records if r.exc_info or r.stack_info]
    assert tracebacks == [], [r.getMessage() for r in tracebacks]
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize("hook", [*HOOKS, AT_FINAL], ids=[h.name for h in [*HOOKS, AT_FINAL]])
def test_fuzz_every_webhook_no_5xx_no_traceback(hook, client, clock, caplog, wire):  # noqa: F811
    caplog.set_level(logging.DEBUG)
    if hook.twilio and hook.path.startswith("/ivr"):
        w.post_twilio(client, "/ivr/twilio/voice", w.twilio_call())  # a known call too: junk about it
    elif hook.path.startswith("/ivr"):
        client.post(w.AT_URL, data=w.at_call())
    _fuzz(hook, client, caplog)


@pytest.mark.parametrize("after", [HUGE, "2147483648", "²", "-1"])
def test_the_simulator_conversation_bounds_its_cursor(after, client):
    response = client.get(f"/simulator/sms/messages?phone=%2B22376123456&after={after}")
    assert (response.status_code, response.get_json()["messages"]) == (200, [])
