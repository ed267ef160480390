"""Call me to record (ivr/studio.py ``call_me``, dashboard/studio_items.py ``call_me``): a signed-in user who may
record asks the line to call the phone on their account; the call is a row first (one queued call session and its
outbox row, purpose ``studio``), placed by the sender, and answered it opens the studio without the PIN — exact
XML on Twilio-shaped and Africa's-Talking-shaped webhooks. Refusals are said next to the button; a second request
while the first call is not over places nothing."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

import pytest
import responses
from sqlalchemy import func, select

from accounts.models import AuditEvent, User
from accounts.roles import Role
from core.db import db
from core.outbox import OutboxItem, OutboxStatus, Priority
from core.vocabulary import CallStatus, Channel, Direction, Purpose
from ivr.models import CallSession, StudioTake
from listeners.models import Listener
from listeners.service import find_or_create_listener, opt_out
from studio.service import PIN_LOCK_AFTER, set_pin
from tests import voice_support as w
from tests.conftest import NOW
from tests.dashboard_support import csrf_token, sign_in
from tests.test_studio_phone import AT_RECORDING, EDITOR, PROVIDERS, TW_RECORDING, P, Phone, _item, _needed

CALL = "/dashboard/studio/call"
PIN_PAGE = "/dashboard/studio/pin"
TWILIO_CALLS = f"https://api.twilio.com/2010-04-01/Accounts/AC{'0' * 32}/Calls.json"
AT_CALL_API = "https://voice.sandbox.africastalking.com/call"


@pytest.fixture
def editor(app, make_user):
    """An editor with a phone on the account and no studio PIN: none is needed to be called."""
    return make_user(Role.EDITOR, phone=EDITOR)


def _ask(client, *, token: str | None = None):
    return client.post(CALL, data={"csrf_token": token or csrf_token(client, PIN_PAGE)})


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _asked() -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "studio.call_me")))


def _nothing_placed() -> None:
    assert (_count(CallSession), _count(OutboxItem), _asked()) == (0, 0, [])


# --- the dashboard ------------------------------------------------------------------------------------------------


def test_the_pin_page_offers_the_call_and_the_studio_pages_lead_to_it(client, audio, editor):
    sign_in(client, editor)
    page = client.get(PIN_PAGE).get_data(as_text=True)
    assert 'id="call"' in page and "Appelez-moi pour enregistrer" in page and f'action="{CALL}"' in page
    item = client.get("/dashboard/studio/items/money/saving-a-little/small-sums").get_data(as_text=True)
    coverage = client.get("/dashboard/studio/").get_data(as_text=True)
    for other in (item, coverage):
        assert f'href="{PIN_PAGE}#call"' in other


def test_call_me_places_one_studio_call_to_the_account_phone(backend, client, audio, editor):
    sign_in(client, editor)
    answer = _ask(client)
    assert answer.status_code == 303 and answer.headers["Location"] == f"{PIN_PAGE}?called=1#call"
    page = client.get(f"{PIN_PAGE}?called=1").get_data(as_text=True)
    assert "la ligne vous appelle dans un instant au +2237600****" in page and EDITOR not in page
    session = db.session.scalars(select(CallSession)).one()
    listener = db.session.scalars(select(Listener)).one()  # found or created for that number: calls need one
    assert listener.phone == EDITOR
    assert (session.direction, session.status, session.phone, session.listener_id, session.provider) == (
        Direction.OUTBOUND, CallStatus.QUEUED, EDITOR, listener.id, "local",
    )  # fmt: skip
    assert session.state == {"entry": "studio", "studio_user": editor.id}
    row = db.session.scalars(select(OutboxItem)).one()
    assert (row.channel, row.purpose, row.priority, row.status, row.call_session_id, row.phone, row.due_at) == (
        Channel.VOICE, Purpose.STUDIO.value, Priority.CALLBACK, OutboxStatus.PENDING, session.id, EDITOR, NOW,
    )  # fmt: skip
    [asked] = _asked()
    assert (asked.user_id, asked.target, asked.detail) == (editor.id, f"call:{session.id}", {"phone": "+2237600****"})


@pytest.mark.parametrize(
    ("status", "minutes_ago", "refused"),
    [
        (CallStatus.QUEUED, 0, True),
        (CallStatus.RINGING, 5, True),
        (CallStatus.IN_PROGRESS, 14, True),
        (CallStatus.IN_PROGRESS, 16, False),  # older than 15 minutes: its end was never heard of
        (CallStatus.COMPLETED, 1, False),  # over: another may be asked for
        (CallStatus.NO_ANSWER, 1, False),
        (CallStatus.FAILED, 1, False),
    ],
)
def test_no_second_call_while_the_first_is_not_over(client, app, audio, editor, status, minutes_ago, refused):
    sign_in(client, editor)
    app.config["KALANSO_CLOCK"] = lambda: NOW - timedelta(minutes=minutes_ago)
    assert _ask(client).status_code == 303
    first = db.session.scalars(select(CallSession)).one()
    first.status = status
    db.session.commit()
    app.config["KALANSO_CLOCK"] = lambda: NOW
    answer = _ask(client)
    if refused:
        assert answer.status_code == 422
        assert "Un appel du studio pour vous est déjà prévu ou en cours" in answer.get_data(as_text=True)
        assert (_count(CallSession), _count(OutboxItem), len(_asked())) == (1, 1, 1)
    else:
        assert answer.status_code == 303
        assert (_count(CallSession), _count(OutboxItem), len(_asked())) == (2, 2, 2)


def test_another_users_call_to_a_number_does_not_block_theirs(client, audio, editor, make_user):
    other = make_user(Role.REVIEWER, phone="+22376000222")
    sign_in(client, other)
    assert _ask(client).status_code == 303
    client.post("/dashboard/logout", data={"csrf_token": csrf_token(client, "/dashboard/studio/pin")})
    sign_in(client, editor)
    assert _ask(client).status_code == 303
    assert sorted(s.state["studio_user"] for s in db.session.scalars(select(CallSession))) == [editor.id, other.id]


@pytest.mark.parametrize(
    ("case", "said"),
    [
        ("no phone", "demandez à un administrateur de l'ajouter, puis la ligne pourra vous appeler"),
        ("opted out", "Votre numéro est désinscrit de la ligne"),
    ],
)
def test_refusals_are_said_next_to_the_button(backend, client, audio, make_user, case, said):
    user = make_user(Role.EDITOR, phone=None if case == "no phone" else EDITOR)
    if case == "opted out":  # someone sent STOP from that number
        opt_out(find_or_create_listener(EDITOR, NOW), NOW, "sms")
        db.session.commit()
    sign_in(client, user)
    answer = _ask(client)
    page = answer.get_data(as_text=True).replace("&#39;", "'")
    assert answer.status_code == 422 and said in page
    assert page.index('id="call"') < page.index(said)  # in the call's section, by its button
    assert (_count(CallSession), _count(OutboxItem), _asked()) == (0, 0, [])


def test_a_pin_is_not_needed_nor_a_lock_in_the_way(client, audio, editor):
    """Asked while signed in with the password: the PIN (or its lock by wrong PINs on the phone) does not matter."""
    set_pin(editor, "4826")
    editor.studio_pin_failures = PIN_LOCK_AFTER
    db.session.commit()
    sign_in(client, editor)
    assert _ask(client).status_code == 303


def test_without_the_csrf_token_nothing_is_placed(client, audio, editor):
    sign_in(client, editor)
    assert client.post(CALL).status_code == 400
    assert _ask(client, token="forged").status_code == 400
    _nothing_placed()


@pytest.mark.parametrize("role", [Role.AGENT, Role.VIEWER])
def test_a_role_that_may_not_record_is_refused(client, audio, make_user, role):
    sign_in(client, make_user(role, phone=EDITOR))
    assert _ask(client, token=csrf_token(client, "/dashboard/")).status_code == 403
    _nothing_placed()


def test_signed_out_goes_to_the_sign_in_page(client, audio, editor):
    answer = _ask(client, token=csrf_token(client))
    assert answer.status_code == 302 and "/dashboard/login" in answer.headers["Location"]
    _nothing_placed()


def test_two_requests_at_once_place_one_call(backend, app, audio, editor, monkeypatch):
    """The user's row is locked before looking for a call already asked for: the second request waits for the
    first to commit, then sees its call (the placing is slowed down here, to open the window wide)."""
    import ivr.studio

    real_start_call = ivr.studio.start_call

    def slow_start_call(*args, **kwargs):
        threading.Event().wait(0.3)
        return real_start_call(*args, **kwargs)

    monkeypatch.setattr(ivr.studio, "start_call", slow_start_call)
    find_or_create_listener(EDITOR, NOW)  # there already (else creating it would make the second wait anyway)
    email = editor.email
    db.session.commit()  # this test's own session holds nothing (SQLite: the write lock) while the browsers ask
    clients = []
    for _ in range(2):  # two browsers (each request in an app context of its own, as in a real server)
        with app.app_context():
            client = app.test_client()
            sign_in(client, email)
            clients.append((client, csrf_token(client, PIN_PAGE)))
            db.session.remove()
    barrier = threading.Barrier(2, timeout=30)
    codes: list[int] = []

    def ask(client, token):
        with app.app_context():
            barrier.wait()
            codes.append(_ask(client, token=token).status_code)
            db.session.remove()

    threads = [threading.Thread(target=ask, args=pair) for pair in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes) == [303, 422]
    db.session.expire_all()
    assert (_count(CallSession), _count(OutboxItem), len(_asked())) == (1, 1, 1)


# --- the call, answered ---------------------------------------------------------------------------------------------


class Called(Phone):
    """The provider's side of the call we placed to ``callee``: Twilio posts ``Direction=outbound-api`` with the
    callee in ``To`` (and our reference on the first request); Africa's Talking ``direction=Outbound``."""

    def __init__(self, provider: str, client, callee: str, call_id: str, reference: int):
        super().__init__(provider, client, callee, call_id)
        self.reference = reference

    def _twilio(self, query: str, **params: str):
        base = w.twilio_call(
            CallSid=self.call_id, Direction="outbound-api", From=w.TWILIO_NUMBER, Caller=w.TWILIO_NUMBER,
            To=self.caller, Called=self.caller,
        )  # fmt: skip
        return w.post_twilio(self.client, f"/ivr/twilio/voice{query}", base | params)

    def _at(self, query: str, **params: str):
        base = w.at_call(sessionId=self.call_id, callerNumber=self.caller, direction="Outbound")
        return self.client.post(f"{w.AT_URL}{query}", data=base | params)

    def start(self) -> str:
        self.turn = 1
        if self.provider == "twilio":
            answer = self._twilio(f"?ref={self.reference}", CallStatus="in-progress")
        else:
            answer = self._at("")
        assert answer.status_code == 200, answer.status_code
        return answer.get_data(as_text=True)


def _placed(app, client, user: User, provider: str, drain) -> Called:
    """The user asks on the dashboard; the sender places the call with the provider (a fake API)."""
    app.config["KALANSO"] = replace(app.config["KALANSO"], voice_provider=provider)
    sign_in(client, user)
    assert _ask(client).status_code == 303
    session = db.session.scalars(select(CallSession)).one()
    call_id = "CA" + "d" * 32 if provider == "twilio" else "ATVId_studio"
    with responses.RequestsMock() as api:
        if provider == "twilio":
            api.post(TWILIO_CALLS, json={"sid": call_id, "status": "queued"}, status=201)
        else:
            entry = {"phoneNumber": user.phone, "status": "Queued", "sessionId": call_id}
            api.post(AT_CALL_API, json={"entries": [entry], "errorMessage": "None"}, status=201)
        assert drain(NOW).sent == 1
        sent = api.calls[0].request.body
        assert (f"To=%2B{EDITOR[1:]}" if provider == "twilio" else f"to=%2B{EDITOR[1:]}") in sent
    db.session.expire_all()
    assert db.session.get(CallSession, session.id).provider_call_id == call_id
    return Called(provider, client, user.phone, call_id, session.id)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_call_answered_opens_the_studio_without_the_pin(
    backend, app, client, clock, audio, editor, provider, drain
):
    _needed("prompts/goodbye")
    phone = _placed(app, client, editor, provider, drain)
    first = phone.start()
    assert first == phone.record(phone.say(P("studio-called")) + _item(phone, "goodbye"))  # no PIN asked
    assert P("studio-welcome") not in first
    url = TW_RECORDING if provider == "twilio" else AT_RECORDING
    choices = phone.say(P("studio-take-intro")) + phone.play(url) + phone.say(P("studio-take-menu"))
    assert phone.recorded() == phone.gather(choices)  # the studio goes on without a PIN on the account
    kept = phone.key("1")
    assert phone.say(P("studio-kept")) in kept and "ev=record" in kept
    take = db.session.scalars(select(StudioTake)).one()
    assert (take.provider, take.stem, take.user_id) == (provider, "prompts/goodbye", editor.id)
    db.session.expire_all()
    session = db.session.scalars(select(CallSession)).one()
    assert session.status == CallStatus.IN_PROGRESS and session.answered_at == NOW
    assert [label for _, label in session.path][:2] == ["queued", "studio"]


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("change", ["deactivated", "now a viewer", "number changed"])
def test_a_user_no_longer_allowed_hears_goodbye(app, client, clock, audio, editor, provider, drain, change):
    phone = _placed(app, client, editor, provider, drain)
    user = db.session.get(User, editor.id)
    if change == "deactivated":
        user.active = False
    elif change == "now a viewer":
        user.role = Role.VIEWER
    else:
        user.phone = "+22376000999"
    db.session.commit()
    assert phone.start() == phone.hangup(phone.say(P("goodbye")))
    assert _count(StudioTake) == 0


def test_on_the_simulator_the_studio_call_rings_and_records_with_the_page(app, client, clock, audio, editor, drain):
    _needed("prompts/goodbye")
    sign_in(client, editor)
    assert _ask(client).status_code == 303  # the local provider (the default in development)
    drain(NOW)
    incoming = client.get(f"/simulator/incoming?phone={EDITOR}").get_json()
    assert incoming["what"] == "Le studio vous appelle pour enregistrer (vous l'avez demandé)"
    turn = client.post("/simulator/voice", json={"action": "answer", "call": incoming["call"], "phone": EDITOR})
    turn = turn.get_json()
    assert (turn["node"], turn["record"]) == ("studio-record", {"max_seconds": 120, "finish_on_key": "#"})
    assert [line["text"] for line in turn["lines"]][:2] == [P("studio-called"), P("studio-menu-text")]
