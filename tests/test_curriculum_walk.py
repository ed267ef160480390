"""The shipped curriculum walked end to end, as a listener would: every course, from its pre-test through every
lesson to its post-test, by voice (Twilio webhooks) and by SMS (the simulator's SMS line), in Bambara and French.

Each walk answers the pre-test wrong, every lesson right and the post-test right, then checks what was said (every
chunk, every feedback of a lesson, "answer noted" and no feedback in the pre-test, the post-test's score with the
pre-test's) and what was recorded (each lesson completed once with its score, the test scores and the gain).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html import unescape

import pytest
from sqlalchemy import select

from content.loader import COURSES_DIR, load_catalog
from content.model import Chunk, Question
from core.db import db
from core.vocabulary import Channel
from ivr.audio import transliterate_for_tts
from ivr.prompts import prompt
from listeners.models import LessonCompletion, LessonProgress, Listener, ProgressStatus
from listeners.progress import learning_scores
from sms.encoding import to_gsm
from sms.texts import text as sms_text
from tests import voice_support as w

CATALOG = load_catalog(COURSES_DIR)
COURSES = [course for course in CATALOG]
PHONE = "+22376123456"


@pytest.fixture
def shipped(app):
    """The app serving the real curriculum (the other channel tests use tests/fixtures/courses)."""
    app.config["KALANSO_COURSES_DIR"] = COURSES_DIR
    app.extensions.pop("kalanso.catalog", None)
    return app


def wrong_key(question: Question) -> str:
    return next(o.key for o in question.options if not o.correct)


def answers_for(lesson) -> dict[str, str]:
    """The key pressed or texted at each question: wrong in the pre-test, right everywhere else."""
    return {q.id: wrong_key(q) if lesson.kind == "pretest" else q.correct_option.key for q in lesson.questions}


def check_records(course, channel: Channel) -> None:
    listener = db.session.scalars(select(Listener).filter_by(phone=PHONE)).one()
    rows = {r.lesson_id: r for r in db.session.scalars(select(LessonProgress).filter_by(listener_id=listener.id))}
    assert set(rows) == {lesson.id for lesson in course.lessons}
    for lesson in course.lessons:
        row = rows[lesson.id]
        expected = 0 if lesson.kind == "pretest" else len(lesson.questions)
        assert (row.status, row.score, row.total, row.completed_channel) == (
            ProgressStatus.COMPLETED,
            expected,
            len(lesson.questions),
            channel,
        ), lesson.id
    completions = db.session.scalars(select(LessonCompletion).filter_by(listener_id=listener.id)).all()
    assert sorted(c.lesson_id for c in completions) == sorted(lesson.id for lesson in course.lessons)
    [scores] = [s for s in learning_scores(listener.id, CATALOG) if s.course_id == course.id]
    n = len(course.test("pretest").questions)
    assert (scores.pre.score, scores.post.score, scores.post.total, scores.gain) == (0, n, n, n)


# --- by SMS -------------------------------------------------------------------------------------------


def sms(client, body: str) -> list[str]:
    response = client.post("/simulator/sms/send", json={"phone": PHONE, "text": body})
    assert response.status_code == 200, response.get_data(as_text=True)
    return [r["body"] for r in response.get_json()["replies"]]


@pytest.mark.parametrize("lang", ["bm", "fr"])
@pytest.mark.parametrize("course", COURSES, ids=[c.id for c in COURSES])
def test_every_lesson_by_sms_from_pre_test_to_post_test(shipped, client, course, lang):
    assert course.lessons[0].kind == "pretest" and course.lessons[-1].kind == "posttest"
    sms(client, "KAN 1" if lang == "bm" else "LANGUE 2")
    said: list[str] = []
    for n, lesson in enumerate(course.lessons):
        replies = sms(client, f"QUIZ {COURSES.index(course) + 1}" if n == 0 else "QUIZ")
        keys = answers_for(lesson)
        for question in lesson.questions:
            replies += sms(client, keys[question.id])
        text = "\n".join(replies)
        said.append(text)
        assert to_gsm(lesson.title.text(lang)) in text, lesson.id
        for item in lesson.items:
            if isinstance(item, Chunk):
                assert to_gsm(item.body.sms_text(lang)) in text, (lesson.id, item.id)
            elif lesson.kind == "pretest":  # no feedback in a pre-test: the answer is noted
                assert to_gsm(item.feedback_wrong.sms_text(lang)) not in text, (lesson.id, item.id)
            else:
                assert to_gsm(item.feedback_correct.sms_text(lang)) in text, (lesson.id, item.id)
        if lesson.kind == "pretest":
            noted = to_gsm(sms_text("answer_noted", lang))
            assert text.count(noted) == len(lesson.questions)
            total = len(lesson.questions)
            assert to_gsm(sms_text("test_complete_pre", lang, score=0, total=total)) in text
        elif lesson.kind == "posttest":
            total = len(lesson.questions)
            done = sms_text("test_complete_post", lang, score=total, total=total)
            assert to_gsm(f"{done} {sms_text('test_before', lang, before=0)}") in text
        else:
            assert to_gsm(sms_text("complete", lang, score=len(lesson.questions), total=len(lesson.questions))) in text
    check_records(course, Channel.SMS)


# --- by voice -----------------------------------------------------------------------------------------


class Call:
    """One Twilio call: each key posted to the URL the previous answer rendered, with its turn number."""

    def __init__(self, client):
        self.client, self.turn = client, 1

    def start(self) -> str:
        return self._read(w.post_twilio(self.client, "/ivr/twilio/voice", w.twilio_call()))

    def press(self, digits: str) -> str:
        path = f"/ivr/twilio/voice?ev=gather&t={self.turn}"
        self.turn += 1
        return self._read(w.post_twilio(self.client, path, w.twilio_gather(digits)))

    @staticmethod
    def _read(response) -> str:
        assert (response.status_code, response.mimetype) == (200, "text/xml")
        root = ET.fromstring(response.get_data())  # well-formed TwiML
        assert root.tag == "Response"
        return " ".join(unescape(e.text or "") for e in root.iter("Say"))


def spoken(text: str, lang: str) -> str:
    return transliterate_for_tts(text) if lang == "bm" else text


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text)


@pytest.mark.parametrize("lang", ["bm", "fr"])
@pytest.mark.parametrize("course", COURSES, ids=[c.id for c in COURSES])
def test_every_lesson_by_voice_from_pre_test_to_post_test(shipped, client, course, lang):
    call = Call(client)
    call.start()  # a new caller: the language menu
    call.press("1" if lang == "bm" else "2")  # the main menu
    call.press("2")  # the courses
    heard = call.press(str(COURSES.index(course) + 1))  # the lesson list: the pre-test first
    assert spoken(course.lessons[0].title.text(lang), lang) in heard
    for lesson in course.lessons:
        heard = call.press("1")  # the first in the list, then "next lesson" at each lesson's end
        keys = answers_for(lesson)
        for item in lesson.items:
            assert _squash(spoken((item.body if isinstance(item, Chunk) else item.prompt).text(lang), lang)) in (
                _squash(heard)
            ), (lesson.id, item.id)
            before = heard
            heard = call.press("1" if isinstance(item, Chunk) else keys[item.id])
            if isinstance(item, Question):
                noted = spoken(prompt("answer-noted").text(lang), lang)
                right = _squash(spoken(item.feedback_correct.text(lang), lang))
                if lesson.kind == "pretest":
                    assert noted in heard and _squash(spoken(item.feedback_wrong.text(lang), lang)) not in heard
                else:
                    assert right in _squash(heard), (lesson.id, item.id, before[-80:])
        total = len(lesson.questions)
        if lesson.kind == "pretest":
            assert spoken(prompt("test-score-pre").text(lang).format(score=0, total=total), lang) in heard
        elif lesson.kind == "posttest":
            assert spoken(prompt("test-score-post").text(lang).format(score=total, total=total), lang) in heard
            assert spoken(prompt("test-score-before").text(lang).format(before=0), lang) in heard
        else:
            assert spoken(prompt("lesson-score").text(lang).format(score=total, total=total), lang) in heard
    check_records(course, Channel.VOICE)
