"""The pure menu machine, node by node (the confirmed opt-out, the end of a lesson, the lesson list's done
marks, the cue after every chunk), and an outbound campaign lesson call ending with the opt-out keys."""

from __future__ import annotations

import pytest
import responses
from sqlalchemy import select

from content.loader import COURSES_DIR, load_catalog
from content.model import Chunk
from core.db import db
from core.vocabulary import CallStatus
from engine import Bookmark, advance, start_bookmark
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
FIRST, SECOND = list(CATALOG)[:2]
L1 = [lesson.id for lesson in FIRST.lessons]
LAST = (list(CATALOG)[-1].id, list(CATALOG)[-1].lessons[-1].id)


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
        # 9 only asks; 9 again opts out; any other key, even 0 or 1, goes back with nothing recorded
        ({"node": "main"}, ctx(), "9", "opt_out_confirm", [P("opt-out-confirm")], [], True),
        ({"node": "opt_out_confirm", "confirm_from": "main"}, ctx(), "9", "end", [P("opted-out")],
         [menu.OptOut()], False),
        ({"node": "opt_out_confirm", "confirm_from": "main"}, ctx(), "1", "main", [P("menu-main")], [], True),
        ({"node": "opt_out_confirm", "confirm_from": "main"}, ctx(resume=("money", "saving-a-little")), "0", "main",
         [P("menu-resume"), P("menu-main")], [], True),
        ({"node": "opt_out_confirm", "confirm_from": "main"}, ctx(), "#", "main", [P("menu-main")], [], True),
        ({"node": "opt_out_confirm", "confirm_from": "main"}, ctx(), "*", "opt_out_confirm", [P("opt-out-confirm")],
         [], True),
        ({"node": "main"}, ctx(), "3", "main", [P("progress-none"), P("menu-main")], [], True),
        ({"node": "main", "misses": 2}, ctx(), "8", "end", [P("invalid-key"), P("goodbye")], [], False),
        ({"node": "courses"}, ctx(), "0", "main", [P("menu-main")], [], True),
        ({"node": "courses"}, ctx(), "9", "courses", None, [], True),  # only as many keys as courses
        ({"node": "campaign_end", "entry": "lesson"}, ctx(), "9", "opt_out_confirm", [P("opt-out-confirm")], [],
         True),
        ({"node": "opt_out_confirm", "entry": "lesson", "confirm_from": "campaign_end"}, ctx(), "9", "end",
         [P("opted-out")], [menu.OptOut()], False),
        ({"node": "opt_out_confirm", "entry": "lesson", "confirm_from": "campaign_end"}, ctx(), "5", "campaign_end",
         [P("campaign-end")], [], True),
        # after a lesson: 1 the next lesson, 2 the lesson list, 0 the main menu
        ({"node": "lesson_end", "course_id": FIRST.id, "lesson_id": L1[0]}, ctx(), "1", "lesson", [],
         [menu.LessonTurn(FIRST.id, L1[1], menu.Start())], True),
        ({"node": "lesson_end", "course_id": FIRST.id, "lesson_id": L1[-1]}, ctx(), "1", "lesson", [],
         [menu.LessonTurn(SECOND.id, SECOND.lessons[0].id, menu.Start())], True),
        ({"node": "lesson_end", "course_id": LAST[0], "lesson_id": LAST[1]}, ctx(), "1", "lesson_end",
         [P("invalid-key"), P("lesson-end-keys")], [], True),
        ({"node": "lesson_end", "course_id": FIRST.id, "lesson_id": L1[0]}, ctx(), "0", "main", [P("menu-main")],
         [], True),
        ({"node": "lesson_end", "course_id": FIRST.id, "lesson_id": L1[0]}, ctx(), "*", "lesson_end",
         [P("lesson-end-next"), P("lesson-end-keys")], [], True),
        ({"node": "lesson_end", "course_id": FIRST.id, "lesson_id": L1[0]}, ctx(), "7", "lesson_end",
         [P("invalid-key"), P("lesson-end-next"), P("lesson-end-keys")], [], True),
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


def test_a_silence_at_the_opt_out_question_goes_back_and_counts_as_a_miss():
    step = menu.press({"node": "main"}, ctx(), "9")
    step = menu.silence(step.state, ctx())
    assert (step.state["node"], list(step.lines), step.effects, step.nodes) == (
        "main", [P("no-input"), P("menu-main")], (), ("!timeout", "main"),
    )  # fmt: skip
    step = menu.silence(step.state, ctx())
    step = menu.silence(step.state, ctx())
    assert (list(step.lines), step.listen, step.effects) == ([P("no-input"), P("goodbye")], False, ())


def test_silences_at_the_opt_out_question_never_opt_out():
    state = {"node": "opt_out_confirm", "confirm_from": "campaign_end", "misses": 2}
    step = menu.silence(state, ctx())
    assert (list(step.lines), step.listen, step.effects) == ([P("no-input"), P("goodbye")], False, ())


class Lesson:
    """The menu over the real engine, as the service runs them (bookmark kept here instead of the database)."""

    def __init__(self, course, lesson_index: int = 0, context: menu.Context | None = None):
        self.course, self.lesson = course, course.lessons[lesson_index]
        self.ctx = context or ctx()
        self.bookmark = start_bookmark(course, self.lesson.id)

    def run(self, step: menu.Step) -> menu.Step:
        out = menu.Step(step.state, step.lines, step.listen, (), step.nodes)
        for effect in step.effects:
            result = advance(self.course, self.bookmark, effect.event)
            self.bookmark = result.bookmark
            out = out.then(menu.lesson_result(step.state, self.ctx, result))
        return out

    def start(self) -> menu.Step:
        n = self.course.lessons.index(self.lesson)  # eight lessons a page in the list
        state = {"node": "lessons", "course_id": self.course.id, "page": n // menu.MAX_CHOICES}
        return self.run(menu.press(state, self.ctx, str(n % menu.MAX_CHOICES + 1)))


def S(localized) -> menu.Said:
    return menu.Said(localized)


def test_every_chunk_ends_with_the_same_cue_and_a_useless_key_repeats_it():
    course, index = next(
        (c, n) for c in CATALOG for n, lsn in enumerate(c.lessons) if all(isinstance(i, Chunk) for i in lsn.items[:2])
    )
    lesson = Lesson(course, index)
    first, second = lesson.lesson.items[:2]
    step = lesson.start()
    assert list(step.lines) == [S(lesson.lesson.title), S(first.body), P("chunk-help"), P("chunk-cue")]
    step = lesson.run(menu.press(step.state, lesson.ctx, "5"))  # a key that does nothing at a chunk
    assert (list(step.lines), step.listen, step.state["node"]) == ([P("chunk-cue")], True, "lesson")
    step = lesson.run(menu.press(step.state, lesson.ctx, "*"))
    assert list(step.lines) == [S(first.body), P("chunk-help"), P("chunk-cue")]
    step = lesson.run(menu.silence(step.state, lesson.ctx))  # a silence continues
    assert (list(step.lines), lesson.bookmark.index) == ([S(second.body), P("chunk-cue")], 1)
    step = lesson.run(menu.press(step.state, lesson.ctx, "8"))
    step = lesson.run(menu.press(step.state, lesson.ctx, "8"))
    assert list(step.lines) == [P("chunk-cue")] and step.listen
    step = lesson.run(menu.press(step.state, lesson.ctx, "8"))  # the third useless key in a row: goodbye
    assert (list(step.lines), step.listen, lesson.bookmark.index) == ([P("invalid-key"), P("goodbye")], False, 1)


def _finish(lesson: Lesson) -> menu.Step:
    """Walk a lesson to its end: continue at chunks, answer 1 at questions."""
    step = lesson.start()
    while step.state["node"] == "lesson":
        step = lesson.run(menu.press(step.state, lesson.ctx, "1"))
    return step


def _score(lesson: Lesson) -> menu.Prompt:
    right = sum(next(o for o in q.options if o.key == "1").correct for q in lesson.lesson.questions)
    key = {"pretest": "test-score-pre", "posttest": "test-score-post"}.get(lesson.lesson.kind, "lesson-score")
    return P(key, params=(("score", right), ("total", len(lesson.lesson.questions))))


@pytest.mark.parametrize(
    ("course", "index", "offer"),
    [
        (FIRST, 0, [P("lesson-end-next")]),  # a next lesson in the course
        (FIRST, len(FIRST.lessons) - 1, [P("lesson-end-next-course")]),  # the course is done: the next course
        (list(CATALOG)[-1], len(list(CATALOG)[-1].lessons) - 1, []),  # the very last lesson: no key 1
    ],
)
def test_after_a_lesson_the_score_then_next_lesson_lessons_or_main_menu(course, index, offer):
    lesson = Lesson(course, index)
    step = _finish(lesson)
    assert step.state["node"] == "lesson_end" and step.listen and "lesson_end" in step.nodes
    assert list(step.lines[-(2 + len(offer)) :]) == [_score(lesson), *offer, P("lesson-end-keys")]


def test_a_lesson_done_again_says_so_before_the_keys():
    lesson = Lesson(FIRST, FIRST.lessons.index(FIRST.teaching[0]))  # a lesson, not the pre-test
    lesson.bookmark = Bookmark(FIRST.id, lesson.lesson.id, completed=True)
    step = _finish(lesson)
    assert list(step.lines[-4:]) == [_score(lesson), P("lesson-done-again"), P("lesson-end-next"), P("lesson-end-keys")]


def test_the_lesson_list_marks_the_lessons_done():
    done = frozenset({(FIRST.id, L1[0]), (FIRST.id, L1[2]), (SECOND.id, SECOND.lessons[0].id)})
    step = menu.press({"node": "courses"}, ctx(done=done), "1")
    expected = [S(FIRST.title), P("lessons-intro")]
    for n, lesson in enumerate(FIRST.lessons[: menu.MAX_CHOICES], start=1):  # the first page
        mark = [P("lesson-done-mark")] if n in (1, 3) else []
        expected += [*mark, S(lesson.title), P(f"press-{n}")]
    more = [P("lessons-more")] if len(FIRST.lessons) > menu.MAX_CHOICES else []
    assert (step.state["node"], list(step.lines)) == ("lessons", [*expected, *more, P("menu-keys")])


def test_after_a_lesson_2_lists_the_lessons_with_the_done_mark():
    state = {"node": "lesson_end", "course_id": FIRST.id, "lesson_id": L1[0]}
    step = menu.press(state, ctx(done=frozenset({(FIRST.id, L1[0])})), "2")
    assert step.state["node"] == "lessons"
    assert list(step.lines[2:5]) == [P("lesson-done-mark"), S(FIRST.lessons[0].title), P("press-1")]


def test_a_campaign_lesson_call_still_ends_with_the_campaign_menu():
    lesson = Lesson(FIRST)
    state = {"entry": "lesson", "node": "lesson", "course_id": FIRST.id, "lesson_id": L1[0]}
    step = lesson.run(menu.begin(state, lesson.ctx))
    while step.state["node"] == "lesson":
        step = lesson.run(menu.press(step.state, lesson.ctx, "1"))
    assert (step.state["node"], list(step.lines[-2:])) == ("campaign_end", [_score(lesson), P("campaign-end")])


@responses.activate
def test_outbound_campaign_lesson_call_ends_with_the_opt_out_key(client, clock, catalog):
    """The campaigns issue's entry point: a lesson call placed through Twilio; 9 at the end stops our calls."""
    listener = Listener(phone=w.CALLER, language="fr", created_at=NOW)
    db.session.add(listener)
    db.session.flush()
    lesson = catalog.course("child-labour").lessons[0]  # the courses the test app serves
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
    assert menu_text("opt-out-confirm") in body and not db.session.get(Listener, listener.id).opted_out
    body = w.post_twilio(client, "/ivr/twilio/voice?ev=gather", w.twilio_gather("9") | {"CallSid": sid}).get_data(
        as_text=True
    )
    assert menu_text("opted-out") in body and body.endswith("<Hangup /></Response>")
    db.session.expire_all()
    assert db.session.get(Listener, listener.id).opted_out
    outbound = db.session.get(CallSession, session.id)
    assert outbound.state["campaign_delivery_id"] == 7
    assert [node for _, node in outbound.path] == [
        "queued", "lesson", "lesson:child-labour/what-is-child-labour", "chunk:1/1", "done:2/2", "campaign_end",
        "opt_out_confirm", "opted_out",
    ]  # fmt: skip
    # and no further call may be started to them
    assert start_call(db.session.get(Listener, listener.id), {"entry": "menu"}, NOW) is None
    assert db.session.scalars(select(CallSession)).one().status == CallStatus.IN_PROGRESS
    # the line hung up; Twilio's final status callback (with our reference) closes the record
    status = w.twilio_status("completed", duration="95") | {
        "CallSid": sid, "Direction": "outbound-api", "From": w.TWILIO_NUMBER, "To": w.CALLER,
    }  # fmt: skip
    assert w.post_twilio(client, f"/ivr/twilio/status?ref={session.id}", status).get_data(as_text=True) == w.TWIML_EMPTY
    db.session.expire_all()
    outbound = db.session.scalars(select(CallSession)).one()
    assert (outbound.status, outbound.duration_seconds, outbound.ended_at) == (CallStatus.COMPLETED, 95, NOW)


def menu_text(key: str) -> str:
    from ivr.prompts import prompt

    return prompt(key).text("fr")
