"""The pure menu machine, node by node, and an outbound campaign lesson call ending with the opt-out key."""

from __future__ import annotations

import pytest
import responses
from sqlalchemy import select

from content.loader import COURSES_DIR, load_catalog
from core.db import db
from core.vocabulary import CallStatus
from ivr import menu
from ivr.models import CallSession
from ivr.outbound import start_call
from listeners.models import Listener
from tests import voice_support as w
from tests.conftest import NOW, send_outbox

CATALOG = load_catalog(COURSES_DIR)
COURSES = tuple(
    menu.CourseEntry(c.id, c.title, tuple(menu.LessonEntry(lesson.id, lesson.title) for lesson in c.lessons))
    for c in CATALOG
)
P = menu.Prompt


def ctx(**kw) -> menu.Context:
    return menu.Context(**({"language": "fr", "courses": COURSES} | kw))


@pytest.mark.parametrize(
    ("state", "context", "key", "node", "lines", "effects", "listen"),
    [
        ({"node": "language"}, ctx(language=None), "1", "main", [P("language-set", lang="bm"), P("menu-main")],
         [menu.SetLanguage("bm")], True),
        ({"node": "language"}, ctx(language=None), "3", "language",
         [P("invalid-key"), P("language-menu", lang="bm"), P("language-menu", lang="fr")], [], True),
        ({"node": "main"}, ctx(resume=("money", "saving-a-little")), "1", "lesson", [],
         [menu.LessonTurn("money", "saving-a-little", menu.Start())], True),
        ({"node": "main"}, ctx(), "4", "language", [P("language-menu", lang="bm"), P("language-menu", lang="fr")],
         [], True),
        ({"node": "main"}, ctx(), "9", "end", [P("opted-out")], [menu.OptOut()], False),
        ({"node": "main"}, ctx(), "3", "main", [P("progress-none"), P("menu-main")], [], True),
        ({"node": "main", "misses": 2}, ctx(), "8", "end", [P("invalid-key"), P("goodbye")], [], False),
        ({"node": "courses"}, ctx(), "0", "main", [P("menu-main")], [], True),
        ({"node": "courses"}, ctx(), "9", "courses", None, [], True),  # only as many keys as courses
        ({"node": "campaign_end", "entry": "lesson"}, ctx(), "9", "end", [P("opted-out")], [menu.OptOut()], False),
        ({"node": "campaign_end", "entry": "lesson"}, ctx(), "1", "main", [P("menu-main")], [], True),
    ],
)  # fmt: skip
def test_press(state, context, key, node, lines, effects, listen):
    step = menu.press(state, context, key)
    assert step.state["node"] == node
    if lines is not None:
        assert list(step.lines) == lines
    assert list(step.effects) == effects
    assert step.listen is listen


def test_star_repeats_and_resets_misses():
    step = menu.press({"node": "main", "misses": 2}, ctx(), "*")
    assert (step.state["misses"], list(step.lines)) == (0, [P("menu-main")])


def test_silence_twice_then_goodbye():
    step = menu.silence({"node": "main"}, ctx())
    step = menu.silence(step.state, ctx())
    assert list(step.lines) == [P("no-input"), P("menu-main")] and step.listen
    step = menu.silence(step.state, ctx())
    assert list(step.lines) == [P("no-input"), P("goodbye")] and not step.listen


@responses.activate
def test_outbound_campaign_lesson_call_ends_with_the_opt_out_key(client, clock):
    """The campaigns issue's entry point: a lesson call placed through Twilio; 9 at the end stops our calls."""
    listener = Listener(phone=w.CALLER, language="fr", created_at=NOW)
    db.session.add(listener)
    db.session.flush()
    lesson = CATALOG.course("child-labour").lessons[0]
    entry = {"entry": "lesson", "course_id": "child-labour", "lesson_id": lesson.id, "campaign_delivery_id": 7}
    session = start_call(listener, entry, NOW, provider="twilio")
    db.session.commit()
    sid = "CA" + "c" * 32
    responses.add(
        responses.POST,
        f"https://api.twilio.com/2010-04-01/Accounts/AC{'0' * 32}/Calls.json",
        json={"sid": sid, "status": "queued"},
        status=201,
        content_type="application/json",
    )
    assert send_outbox(client.application).sent == 1
    db.session.expire_all()
    assert db.session.get(CallSession, session.id).provider_call_id == sid

    params = w.twilio_call(CallSid=sid, Direction="outbound-api", From=w.TWILIO_NUMBER, To=w.CALLER)
    body = w.post_twilio(client, f"/ivr/twilio/voice?ref={session.id}", params).get_data(as_text=True)
    assert lesson.title.text("fr") in body and lesson.items[0].body.text("fr")[:40] in body
    for key in ("1", "1", "2"):  # continue, answer Awa (right), answer Moussa (right)
        body = w.post_twilio(client, "/ivr/twilio/voice?ev=gather", w.twilio_gather(key) | {"CallSid": sid}).get_data(
            as_text=True
        )
    assert menu_text("campaign-end") in body
    body = w.post_twilio(client, "/ivr/twilio/voice?ev=gather", w.twilio_gather("9") | {"CallSid": sid}).get_data(
        as_text=True
    )
    assert menu_text("opted-out") in body and body.endswith("<Hangup /></Response>")
    db.session.expire_all()
    assert db.session.get(Listener, listener.id).opted_out
    outbound = db.session.get(CallSession, session.id)
    assert outbound.state["campaign_delivery_id"] == 7
    assert [node for _, node in outbound.path] == ["queued", "lesson", "campaign_end", "opted_out"]
    # and no further call may be started to them
    assert start_call(db.session.get(Listener, listener.id), {"entry": "menu"}, NOW) is None
    assert db.session.scalars(select(CallSession)).one().status == CallStatus.IN_PROGRESS


def menu_text(key: str) -> str:
    from ivr.prompts import prompt

    return prompt(key).text("fr")
