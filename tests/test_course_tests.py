"""A course's pre-test and post-test (issue 13: measuring learning) and the ``native_review`` marks: the course file's
``test:`` block as the loader reads and refuses it, the engine (no feedback in a pre-test), the voice menus (the
acknowledgement, the scores, lesson lists in pages of eight), the SMS line (what it offers next, what it says), the
scores recorded per listener, and what ``flask content check`` reports."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from content.loader import read_courses
from content.model import POST_TEST, PRE_TEST, Chunk, native_review_marks
from core.db import db
from core.vocabulary import Channel
from engine import Continue, Digits, Feedback, LessonComplete, Start, Text, Timeout, advance, start_bookmark
from ivr import menu
from listeners.progress import learning_scores, take_turn
from sms import machine
from sms.keywords import Keywords
from tests.conftest import NOW
from tests.dashboard_support import Role, sign_in


def texts(fr: str, bm: str | None = None) -> dict[str, str]:
    return {"fr": fr, "bm": bm or f"{fr} (bm)"}


def question(qid: str, right: int = 1) -> dict:
    return {
        "id": qid,
        "type": "question",
        "text": texts(
            f"Question {qid} ? Pour oui, tapez 1. Pour non, tapez 2.", f"{qid}? Ɔwɔ: i ka 1 digi. Ayi: i ka 2 digi."
        ),
        "options": [
            {"text": texts("Oui", "Ɔwɔ"), **({"correct": True} if right == 1 else {})},
            {"text": texts("Non", "Ayi"), **({"correct": True} if right == 2 else {})},
        ],
        "feedback": {"correct": texts(f"Bien, {qid}."), "wrong": texts(f"Non, {qid}, voici pourquoi.")},
    }


def lesson(lid: str) -> dict:
    return {
        "id": lid,
        "title": texts(f"Leçon {lid}"),
        "items": [{"id": "c1", "type": "chunk", "text": texts(f"Texte de {lid}.")}, question("q1")],
    }


def course(lessons: int = 2, questions: int = 4, **extra) -> dict:
    data = {
        "id": "demo",
        "topic": "money",
        "title": texts("Démo"),
        "lessons": [lesson(f"l{n}") for n in range(1, lessons + 1)],
        "test": {
            "pre": {"title": texts("Quiz de départ"), "intro": texts("Avant les leçons, quelques questions.")},
            "post": {"title": texts("Quiz final"), "intro": texts("Les mêmes questions, après les leçons.")},
            "questions": [question(f"t{n}", right=1 + n % 2) for n in range(1, questions + 1)],
        },
    }
    return data | extra


def load(tmp_path: Path, data: dict):
    folder = tmp_path / "courses"
    folder.mkdir(exist_ok=True)
    (folder / "demo.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return read_courses(folder)


# --- the loader ---------------------------------------------------------------------------------------


def test_the_test_block_becomes_the_first_and_the_last_lesson_asking_the_same_questions(tmp_path):
    catalog, errors = load(tmp_path, course())
    assert errors == []
    demo = catalog.course("demo")
    assert [(x.id, x.kind) for x in demo.lessons] == [
        (PRE_TEST, "pretest"),
        ("l1", "lesson"),
        ("l2", "lesson"),
        (POST_TEST, "posttest"),
    ]
    pre, post = demo.test("pretest"), demo.test("posttest")
    assert pre.questions == post.questions and pre.questions[0] is post.questions[0]
    assert [x.id for x in demo.teaching] == ["l1", "l2"]
    assert isinstance(pre.items[0], Chunk) and pre.items[0].body.text("fr") == "Avant les leçons, quelques questions."
    assert post.items[0].body.text("fr") == "Les mêmes questions, après les leçons."
    assert pre.items[0].body.recording("bm") == "demo/pre-test/intro"
    assert pre.title.recording("fr") == "demo/pre-test/title"
    assert pre.questions[0].prompt.recording("bm") == "demo/test/t1"
    assert pre.questions[0].feedback_wrong.recording("fr") == "demo/test/t1-wrong"


BAD = [
    (lambda d: d["test"].update(questions=d["test"]["questions"][:3]), "a test asks 4 to 6 questions, found 3"),
    (lambda d: d["test"]["questions"].extend([question("t8"), question("t9"), question("t10")]), "found 7"),
    (
        lambda d: d["test"]["questions"].__setitem__(0, {"id": "x", "type": "chunk", "text": texts("t")}),
        "a test holds questions only",
    ),
    (lambda d: d["test"]["questions"].__setitem__(1, question("t1")), "item 't1': duplicate item id"),
    (lambda d: d["test"].pop("post"), "test: missing key 'post'"),
    (lambda d: d["test"]["pre"].pop("intro"), "test › pre: missing key 'intro'"),
    (lambda d: d["test"].update(when="before"), "test: unknown key 'when'"),
    (lambda d: d["test"].update(pre="Quiz"), "test › pre: expected a mapping with title and intro, got a text"),
    (lambda d: d.update(test=["q"]), "test: expected a mapping with pre, post and questions, got a list"),
    (lambda d: d["lessons"].append(lesson("pre-test")), "lesson 'pre-test': 'pre-test' is the id of the course's test"),
    (
        lambda d: d["lessons"][0].update(native_review=3),
        "lesson 'l1': native_review: expected a text or a list of texts",
    ),
    (lambda d: d["lessons"][0]["items"][0].update(native_review=[""]), "native_review: expected a text or a list"),
    (lambda d: d["test"]["questions"][0]["feedback"].pop("wrong"), "feedback: missing key 'wrong'"),
]


@pytest.mark.parametrize(("change", "message"), BAD, ids=[m for _, m in BAD])
def test_a_bad_test_block_is_refused_with_where_and_why(tmp_path, change, message):
    data = copy.deepcopy(course())
    change(data)
    catalog, errors = load(tmp_path, data)
    assert "demo" not in catalog.courses
    assert any(message in e for e in errors), errors
    assert all(e.startswith(str(tmp_path / "courses" / "demo.yaml")) or "demo.yaml" in e for e in errors)


def test_native_review_marks_are_kept_and_listed_once(tmp_path):
    data = course()
    data["lessons"][0]["native_review"] = "the whole lesson: tone"
    data["lessons"][0]["items"][0]["native_review"] = ["kunsɛmɛ for brain", "jeni for burn"]
    data["test"]["questions"][0]["native_review"] = "the question pattern"
    catalog, errors = load(tmp_path, data)
    assert errors == []
    assert native_review_marks(catalog.course("demo")) == [
        ("demo › pre-test › t1", "the question pattern"),
        ("demo › l1", "the whole lesson: tone"),
        ("demo › l1 › c1", "kunsɛmɛ for brain"),
        ("demo › l1 › c1", "jeni for burn"),
    ]


# --- the engine ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    catalog, errors = load(tmp_path_factory.mktemp("demo"), course(lessons=9))
    assert errors == []
    return catalog.course("demo")


def run(demo, lesson_id: str, keys: list[str]):
    bookmark, steps = start_bookmark(demo, lesson_id), []
    result = advance(demo, bookmark, Start())
    steps += result.steps
    for key in keys:
        result = advance(demo, result.bookmark, Digits(key))
        steps += result.steps
    return steps, result


def test_the_pre_test_takes_answers_without_telling_and_scores_them(demo):
    steps, result = run(demo, PRE_TEST, ["1", "1", "1", "1", "1"])  # the intro, then t1 (wrong), t2 (right)...
    feedback = [s for s in steps if isinstance(s, Feedback)]
    assert [(f.question.id, f.correct, f.reveal) for f in feedback] == [
        ("t1", False, False),
        ("t2", True, False),
        ("t3", False, False),
        ("t4", True, False),
    ]
    assert result.completion == LessonComplete(score=2, total=4, first_time=True, kind="pretest")


def test_the_post_test_gives_the_feedback_of_a_lesson(demo):
    steps, result = run(demo, POST_TEST, ["1", "2", "1", "2", "1"])  # the intro, then every answer right
    assert all(s.reveal for s in steps if isinstance(s, Feedback))
    assert result.completion == LessonComplete(score=4, total=4, first_time=True, kind="posttest")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(["1", "2", "3", "*", "0", "#", "x", None, "a", "oui"]), max_size=40))
def test_no_input_ever_makes_a_pre_test_reveal_an_answer(demo, inputs):
    result = advance(demo, start_bookmark(demo, PRE_TEST), Start())
    for raw in inputs:
        event = Timeout() if raw is None else (Text(raw) if raw.isalpha() else Digits(raw))
        if result.awaiting is None:
            event = Start()
        elif result.awaiting == "continue" and raw is None:
            event = Continue()
        result = advance(demo, result.bookmark, event)
        assert not any(isinstance(s, Feedback) and s.reveal for s in result.steps)
        assert result.bookmark.score <= len(result.bookmark.answers) <= 4


# --- the voice menus ----------------------------------------------------------------------------------


def entries(course_) -> tuple[menu.CourseEntry, ...]:
    lessons = tuple(menu.LessonEntry(x.id, x.title) for x in course_.lessons)
    return (menu.CourseEntry(course_.id, course_.title, lessons),)


def test_a_list_of_eleven_lessons_is_said_eight_at_a_time(demo):
    ctx = menu.Context(language="fr", courses=entries(demo))
    assert len(demo.lessons) == 11
    first = menu.press({"node": "courses"}, ctx, "1")
    said = [line.text.text("fr") for line in first.lines if isinstance(line, menu.Said)]
    assert said == ["Démo", "Quiz de départ", *[f"Leçon l{n}" for n in range(1, 8)]]
    assert first.lines[-2:] == (menu.Prompt("lessons-more"), menu.Prompt("menu-keys"))
    second = menu.press(first.state, ctx, "9")
    said = [line.text.text("fr") for line in second.lines if isinstance(line, menu.Said)]
    assert said == ["Démo", "Leçon l8", "Leçon l9", "Quiz final"]
    assert menu.Prompt("press-3") in second.lines and menu.Prompt("press-4") not in second.lines
    start = menu.press(second.state, ctx, "3")  # the third of this page: the post-test
    assert start.effects == (menu.LessonTurn("demo", POST_TEST, Start()),)
    assert menu.press(second.state, ctx, "4").lines[0] == menu.Prompt("invalid-key")
    back = menu.press(second.state, ctx, "9")  # after the last page, the first again
    assert back.state["page"] == 0 and menu.press(back.state, ctx, "1").effects[0].lesson_id == PRE_TEST
    # the end of a lesson: the list comes back at the page that holds it
    end = {"node": "lesson_end", "course_id": "demo", "lesson_id": "l9", "page": 0}
    assert menu.press(end, ctx, "2").state["page"] == 1
    # a bad page in a state (an old call, a new course file) is the first page
    assert menu.press({**second.state, "page": 7}, ctx, "1").effects[0].lesson_id == PRE_TEST


def test_a_list_of_eight_lessons_has_no_pages_and_9_is_no_choice(tmp_path):
    catalog, _ = load(tmp_path, course(lessons=6))
    ctx = menu.Context(language="fr", courses=entries(catalog.course("demo")))
    step = menu.press({"node": "courses"}, ctx, "1")
    assert menu.Prompt("lessons-more") not in step.lines
    assert menu.press(step.state, ctx, "9").lines[0] == menu.Prompt("invalid-key")


def test_the_voice_says_answer_noted_in_a_pre_test_and_both_scores_after_the_post_test(demo):
    state = {"node": "lesson", "course_id": "demo", "lesson_id": PRE_TEST}
    ctx = menu.Context(language="fr", courses=entries(demo))
    result = advance(demo, start_bookmark(demo, PRE_TEST).but(started=True, index=1), Digits("2"))
    lines = menu.lesson_result(state, ctx, result).lines
    assert lines[0] == menu.Prompt("answer-noted")
    pre_done = LessonComplete(score=1, total=4, first_time=True, kind="pretest")
    post_done = LessonComplete(score=4, total=4, first_time=True, kind="posttest", before=1)
    params = (("score", 1), ("total", 4))
    assert menu._engine_lines(pre_done) == [menu.Prompt("test-score-pre", params=params)]
    assert menu._engine_lines(post_done) == [
        menu.Prompt("test-score-post", params=(("score", 4), ("total", 4))),
        menu.Prompt("test-score-before", params=(("before", 1),)),
    ]
    assert menu._engine_lines(LessonComplete(4, 4, True, "posttest")) == [
        menu.Prompt("test-score-post", params=(("score", 4), ("total", 4)))
    ]


# --- the SMS line -------------------------------------------------------------------------------------


def sms_course(demo, done: set[str]) -> machine.CourseEntry:
    lessons = tuple(machine.LessonEntry(x.id, x.title, x.id in done, x.kind) for x in demo.lessons)
    return machine.CourseEntry(demo.id, demo.title, lessons)


def sms_ctx(demo, done: set[str]) -> machine.Context:
    return machine.Context(Keywords({}), "fr", "fr", (sms_course(demo, done),))


@pytest.mark.parametrize(
    ("done", "starts"),
    [
        (set(), PRE_TEST),  # a new learner: the pre-test first
        ({PRE_TEST}, "l1"),
        ({PRE_TEST, *[f"l{n}" for n in range(1, 10)]}, POST_TEST),
        ({"l1"}, "l2"),  # a lesson done (by voice, say) without the pre-test: too late for it
        ({"l1", "l2", "l3", "l4", "l5", "l6", "l7", "l8", "l9"}, POST_TEST),
    ],
)
def test_the_sms_line_offers_the_pre_test_first_and_never_after_a_lesson(demo, done, starts):
    assert machine._start_course(sms_course(demo, done), "fr").lesson_id == starts


def test_after_the_last_lesson_the_sms_line_goes_to_the_post_test_not_back_to_the_pre_test(demo):
    lessons = {f"l{n}" for n in range(1, 10)}
    assert machine._next_lesson(sms_ctx(demo, lessons - {"l9"}), "demo", "l9") == ("demo", POST_TEST)
    assert machine._next_lesson(sms_ctx(demo, lessons | {POST_TEST}), "demo", POST_TEST) is None


def test_the_sms_line_notes_a_pre_test_answer_and_says_both_scores_after_the_post_test(demo):
    result = advance(demo, start_bookmark(demo, PRE_TEST).but(started=True, index=1), Digits("2"))
    out = machine.render(list(result.steps), "fr")
    assert out[0] == "Réponse notée."
    pre = LessonComplete(score=1, total=4, first_time=True, kind="pretest")
    post = LessonComplete(score=3, total=4, first_time=True, kind="posttest", before=1)
    assert machine.render([pre], "fr") == ["Merci. Bonnes réponses : 1 sur 4. Les leçons vont vous apprendre le reste."]
    assert machine.render([post], "fr") == [
        "Quiz final terminé. Bonnes réponses : 3 sur 4. Au quiz de départ, vous en aviez 1."
    ]
    assert machine.render([post], "bm") == [
        "Laban kɔrɔbɔli banna. I ye jaabi ɲuman 3 di 4 la. Daminɛ kɔrɔbɔli la, i tun ye 1 di."
    ]


# --- the scores recorded ------------------------------------------------------------------------------


def test_the_first_pre_test_and_the_first_post_test_are_what_is_measured(app, make_listener, demo):
    listener = make_listener(language="fr")

    def complete(lesson_id: str, keys: list[str]) -> LessonComplete:
        take_turn(listener, demo, lesson_id, Start(), channel=Channel.SMS, now=NOW)
        result = take_turn(listener, demo, lesson_id, Continue(), channel=Channel.SMS, now=NOW)
        for key in keys:
            result = take_turn(listener, demo, lesson_id, Text(key), channel=Channel.SMS, now=NOW)
        db.session.flush()
        return result.completion

    assert learning_scores(listener.id, [demo])[0].pre is None
    assert complete(PRE_TEST, ["2", "2", "2", "2"]).score == 2  # t1 right, t2 wrong, t3 right, t4 wrong
    assert complete(PRE_TEST, ["2", "1", "2", "1"]).score == 4  # taken again: recorded, not measured
    done = complete(POST_TEST, ["2", "1", "2", "2"])
    assert (done.score, done.before) == (3, 2)  # the post-test's score, and the first pre-test's
    again = complete(POST_TEST, ["2", "1", "2", "1"])
    assert (again.score, again.before, again.first_time) == (4, 2, False)
    [scores] = learning_scores(listener.id, [demo])
    assert (scores.pre.score, scores.post.score, scores.post.total, scores.gain) == (2, 3, 4, 1)


# --- flask content check ------------------------------------------------------------------------------


def test_content_check_reports_each_course_test_and_every_native_review_mark(tmp_path, runner):
    data = course()
    data["lessons"][1]["items"][0]["native_review"] = "dɔɔnin: one spelling"
    load(tmp_path, data)
    other = course(id="plain", lessons=2)
    other.pop("test")
    (tmp_path / "courses" / "plain.yaml").write_text(yaml.safe_dump(other, allow_unicode=True), encoding="utf-8")
    result = runner.invoke(args=["content", "check", "--courses", str(tmp_path / "courses"), "--no-list-missing"])
    assert result.exit_code == 0, result.output
    assert "  demo                    4 questions, 2 lessons between\n" in result.output
    assert "WARNING plain: no pre-test and post-test (add a 'test:' block, content/README.md)\n" in result.output
    assert "Marked for a native reader (1 mark(s): `native_review:` in the course files)\n" in result.output
    assert "    demo › l2 › c1: dɔɔnin: one spelling\n" in result.output


def test_content_check_fails_on_a_bad_test_block(tmp_path, runner):
    data = course(questions=3)
    load(tmp_path, data)
    result = runner.invoke(args=["content", "check", "--courses", str(tmp_path / "courses")])
    assert result.exit_code == 1
    assert "course 'demo' › test: questions: a test asks 4 to 6 questions, found 3" in result.output


def test_a_course_is_done_when_its_lessons_are_the_tests_aside(demo):
    lessons = {f"l{n}" for n in range(1, 10)}
    listed = machine._course_list(sms_ctx(demo, lessons), "fr")
    assert listed.endswith("1) Démo (ok)")  # neither test taken: the course is still done
    listed = machine._course_list(sms_ctx(demo, {PRE_TEST, POST_TEST, "l1"}), "fr")
    assert listed.endswith("1) Démo (1/9)")
    progress = machine._progress({"node": "idle"}, sms_ctx(demo, {PRE_TEST, "l1", "l2"}), "fr")
    assert progress.startswith("Kalanso : leçons terminées : 2 sur 9.")


# --- the dashboard ------------------------------------------------------------------------------------


def test_the_listener_record_shows_the_first_pre_test_the_first_post_test_and_the_gain(
    app, client, make_listener, make_user, tmp_path
):
    load(tmp_path, course())
    app.config["KALANSO_COURSES_DIR"] = tmp_path / "courses"
    app.extensions.pop("kalanso.catalog", None)
    from content.catalog import get_catalog

    demo = get_catalog().course("demo")
    listener = make_listener(language="fr", name="Awa Traoré")
    for lesson_id, keys in [(PRE_TEST, "2222"), (PRE_TEST, "2121"), (POST_TEST, "2122")]:
        take_turn(listener, demo, lesson_id, Start(), channel=Channel.VOICE, now=NOW)
        take_turn(listener, demo, lesson_id, Continue(), channel=Channel.VOICE, now=NOW)
        for key in keys:
            take_turn(listener, demo, lesson_id, Digits(key), channel=Channel.VOICE, now=NOW)
    db.session.commit()
    sign_in(client, make_user(Role.ADMIN))
    page = client.get(f"/dashboard/listeners/{listener.id}").get_data(as_text=True)
    section = page.split("appris</h2>", 1)[1].split("</ul>", 1)[0]
    said = " ".join(re.sub(r"<[^>]+>", " ", section).split())
    assert said.endswith(
        "Démo Quiz de départ 2/4 → Quiz final 3/4 Progrès +1"
    )  # the second pre-test (4/4) does not count
