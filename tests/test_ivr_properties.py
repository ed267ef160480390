"""Properties: whatever a caller (or a confused provider) sends, the answer is well-formed XML, never a 5xx;
and the pure menu machine always answers something, listening or ending, in a known node."""

from __future__ import annotations

import itertools
import re
from xml.etree import ElementTree as ET

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from content.loader import COURSES_DIR, load_catalog
from engine import Bookmark, Result
from ivr import menu
from tests import voice_support as w

KEYS = st.sampled_from(list("0123456789*#"))
ACTIONS = st.lists(
    st.one_of(
        st.tuples(st.just("key"), KEYS),
        st.tuples(st.just("key"), st.text(max_size=6)),  # junk in the digits field
        st.tuples(st.just("timeout"), st.none()),
        st.tuples(st.just("start"), st.none()),
        st.tuples(st.just("hangup"), st.none()),
        st.tuples(st.just("junk"), st.none()),
    ),
    min_size=1,
    max_size=25,
)
CALLS = itertools.count(1)
REFUSED = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # control characters: no provider sends them


def _twilio(client, action, value, sid):
    if action == "start":
        return w.post_twilio(client, "/ivr/twilio/voice", w.twilio_call(CallSid=sid))
    if action == "key":
        return w.post_twilio(client, "/ivr/twilio/voice?ev=gather", w.twilio_gather(value) | {"CallSid": sid})
    if action == "timeout":
        return w.post_twilio(client, "/ivr/twilio/voice?ev=gather", w.twilio_gather(None) | {"CallSid": sid})
    if action == "hangup":
        return w.post_twilio(client, "/ivr/twilio/status", w.twilio_status("completed") | {"CallSid": sid})
    return w.post_twilio(client, "/ivr/twilio/voice?ev=gather", {"CallSid": sid, "Direction": "?", "Digits": "x"})


def _at(client, action, value, sid):
    if action == "start":
        return client.post(w.AT_URL, data=w.at_call(sessionId=sid))
    if action == "key":
        return client.post(w.AT_URL + "?ev=digits", data=w.at_call(sessionId=sid, dtmfDigits=value))
    if action == "timeout":
        return client.post(w.AT_URL + "?ev=timeout", data=w.at_call(sessionId=sid))
    if action == "hangup":
        return client.post(w.AT_URL, data=w.at_final() | {"sessionId": sid})
    return client.post(w.AT_URL, data={"sessionId": sid, "isActive": "2"})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=ACTIONS, provider=st.sampled_from(["twilio", "africastalking"]))
def test_every_answer_is_well_formed_xml(client, clock, actions, provider):
    call = next(CALLS)
    sid = f"CA{call:032d}" if provider == "twilio" else f"ATVId_p{call}"
    send = _twilio if provider == "twilio" else _at
    send(client, "start", None, sid)
    for action, value in actions:
        response = send(client, action, value, sid)
        if value is not None and REFUSED.search(value):  # refused before any parser (providers.webhooks)
            assert response.status_code == 400, (action, value)
            continue
        assert response.status_code == 200, (action, value)
        assert response.mimetype == "text/xml"
        root = ET.fromstring(response.get_data())
        assert root.tag == "Response"
        verbs = [child.tag for child in root]
        # never dead air: a live call always says or plays something, or is a status acknowledgement
        if verbs:
            assert any(child.tag in ("Say", "Play") for child in root.iter()) or verbs == ["Reject"]


CATALOG = load_catalog(COURSES_DIR)
CTX_COURSES = tuple(
    menu.CourseEntry(c.id, c.title, tuple(menu.LessonEntry(lesson.id, lesson.title) for lesson in c.lessons))
    for c in CATALOG
)
NODES = {"language", "main", "courses", "lessons", "lesson", "lesson_end", "campaign_end", "opt_out_confirm", "end"}
ENDINGS = ("back", "completed", "no_input")


@settings(max_examples=300, deadline=None)
@given(
    inputs=st.lists(st.one_of(KEYS, st.none()), max_size=30),
    language=st.sampled_from([None, "bm", "fr"]),
    resume=st.booleans(),
    entry=st.sampled_from(["menu", "lesson"]),
    endings=st.lists(st.sampled_from(ENDINGS), min_size=1, max_size=5),
)
def test_the_menu_machine_is_total(inputs, language, resume, entry, endings):
    """Whatever keys and silences: a known node, never dead air (a listening answer always ends with a prompt
    to act on), and an opt-out only ever after 9 pressed at the opt-out question."""
    course = CATALOG.course("money")
    lesson = course.lessons[0]
    ctx = menu.Context(
        language=language, courses=CTX_COURSES, resume=(course.id, lesson.id) if resume else None, lessons=3
    )
    state = {"entry": entry, "course_id": course.id, "lesson_id": lesson.id} if entry == "lesson" else {}
    step = menu.begin(state, ctx)
    lessons_run = 0
    for key in inputs:
        assert step.state["node"] in NODES
        assert step.lines or step.effects, "never dead air"
        if not step.listen:
            break
        for effect in step.effects:
            if isinstance(effect, menu.SetLanguage):
                ctx = menu.Context(**{**ctx.__dict__, "language": effect.lang})
        if any(isinstance(e, menu.LessonTurn) for e in step.effects):
            # stand-in for the engine: the lesson session ends (back, completed or too many misses)
            from engine import End, LessonComplete

            reason = endings[lessons_run % len(endings)]
            lessons_run += 1
            steps = (LessonComplete(1, 2, True),) if reason == "completed" else ()
            done = Result((*steps, End(reason)), Bookmark(course.id, lesson.id), None)
            step = step.then(menu.lesson_result(step.state, ctx, done))
            continue
        assert isinstance(step.lines[-1], menu.Prompt), "a listening answer ends with one of the line's prompts"
        before = step.state["node"]
        step = menu.press(step.state, ctx, key) if key is not None else menu.silence(step.state, ctx)
        if any(isinstance(e, menu.OptOut) for e in step.effects):
            assert (before, key) == ("opt_out_confirm", menu.OPT_OUT_KEY)
            assert not step.listen


@settings(max_examples=200, deadline=None)
@given(keys=st.lists(st.one_of(KEYS, st.none()), min_size=1, max_size=10))
def test_one_stray_nine_never_opts_out(keys):
    """From the main menu, only 9 then 9 opts out; any other sequence that does not contain it keeps the caller."""
    ctx = menu.Context(language="fr", courses=CTX_COURSES)
    step = menu.press({"node": "main"}, ctx, menu.OPT_OUT_KEY)
    for key in keys:
        if not step.listen:
            break
        was = step.state["node"]
        step = menu.press(step.state, ctx, key) if key is not None else menu.silence(step.state, ctx)
        opted = any(isinstance(e, menu.OptOut) for e in step.effects)
        assert opted == (was == "opt_out_confirm" and key == menu.OPT_OUT_KEY)
