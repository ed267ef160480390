"""The pure learning engine, on a small hand-made course (and once on the shipped content)."""

from __future__ import annotations

import pytest

from content.model import Chunk, Course, Lesson, Localized, Option, Question
from engine import (
    AskQuestion,
    Bookmark,
    Continue,
    Digits,
    End,
    Feedback,
    HangUp,
    Invalid,
    LessonComplete,
    LessonIntro,
    NoInput,
    SayChunk,
    Start,
    Text,
    Timeout,
    advance,
    start_bookmark,
)


def loc(fr: str, bm: str | None = None) -> Localized:
    return Localized(texts={"fr": fr, "bm": bm or fr + " (bm)"}, audio={"fr": fr, "bm": fr})


def question(qid: str, correct: int, labels: tuple[str, ...] = ("Oui", "Non")) -> Question:
    return Question(
        id=qid,
        prompt=loc(f"{qid}?"),
        options=tuple(
            Option(key=str(n), label={"fr": label, "bm": label + "-bm"}, correct=(n == correct))
            for n, label in enumerate(labels, start=1)
        ),
        feedback_correct=loc(f"{qid} right"),
        feedback_wrong=loc(f"{qid} wrong"),
    )


COURSE = Course(
    id="c",
    topic="t",
    title=loc("Course"),
    lessons=(
        Lesson(
            id="l1",
            title=loc("Lesson one"),
            items=(
                Chunk(id="c1", body=loc("chunk one")),
                Chunk(id="c2", body=loc("chunk two")),
                question("q1", 1),
                question("q2", 3, ("cinq cents francs", "mille francs", "5 000 francs")),
            ),
        ),
    ),
)


def kinds(result) -> list[str]:
    return [type(s).__name__ for s in result.steps]


def run(events, bookmark=None):
    bm = bookmark or start_bookmark(COURSE, "l1")
    results = []
    for event in events:
        result = advance(COURSE, bm, event)
        bm = result.bookmark
        results.append(result)
    return results, bm


def test_a_whole_lesson_answering_right():
    results, bm = run([Start(), Continue(), Continue(), Digits("1"), Digits("3")])
    assert kinds(results[0]) == ["LessonIntro", "SayChunk"]
    assert results[0].awaiting == "continue"
    assert results[0].steps[1].chunk.id == "c1" and results[0].steps[1].number == 1
    assert kinds(results[1]) == ["SayChunk"]
    assert kinds(results[2]) == ["AskQuestion"]
    assert results[2].awaiting == "answer"
    assert results[2].steps[0] == AskQuestion(COURSE.lessons[0].items[2], 1, 2)
    assert kinds(results[3]) == ["Feedback", "AskQuestion"]
    assert results[3].steps[0].correct and results[3].steps[0].text.text("fr") == "q1 right"
    assert kinds(results[4]) == ["Feedback", "LessonComplete", "End"]
    assert results[4].steps[1] == LessonComplete(score=2, total=2, first_time=True)
    assert results[4].steps[2] == End("completed")
    assert results[4].awaiting is None
    assert bm.completed and bm.score == 2 and bm.answers == {"q1": "1", "q2": "3"}


def test_wrong_answer_gets_teaching_feedback_and_moves_on():
    results, bm = run([Start(), Continue(), Continue(), Digits("2")])
    feedback = results[-1].steps[0]
    assert isinstance(feedback, Feedback) and not feedback.correct
    assert feedback.text.text("fr") == "q1 wrong"
    assert feedback.chosen.key == "2"
    assert bm.score == 0 and bm.index == 3


@pytest.mark.parametrize(
    ("answer", "expected_key"),
    [
        ("3", "3"),
        ("c", "3"),
        ("C.", "3"),
        ("5000 francs", "3"),
        ("5 000", "3"),
        ("  mille   FRANCS !", "2"),
        ("Cinq cents francs", "1"),
        ("mille francs-bm", "2"),
        ("la réponse est 2", "2"),
    ],
)
def test_text_answers(answer, expected_key):
    results, _bm = run([Start(), Continue(), Continue(), Digits("1"), Text(answer)])
    assert isinstance(results[-1].steps[0], Feedback)
    assert results[-1].steps[0].chosen.key == expected_key


@pytest.mark.parametrize("answer", ["", "7", "1 ou 2", "francs", "bof", "?!"])
def test_unclear_text_answer_is_invalid_and_asks_again(answer):
    results, bm = run([Start(), Continue(), Continue(), Digits("1"), Text(answer)])
    assert kinds(results[-1]) == ["Invalid", "AskQuestion"]
    assert bm.index == 3 and bm.misses == 1 and "q2" not in bm.answers


def test_repeat_presents_the_same_item_again():
    results, bm = run([Start(), Digits("*")])
    assert kinds(results[-1]) == ["SayChunk"] and results[-1].steps[0].chunk.id == "c1"
    results, bm = run([Start(), Continue(), Continue(), Digits("*")])
    assert kinds(results[-1]) == ["AskQuestion"] and bm.index == 2


def test_back_goes_to_the_previous_item_then_out_of_the_lesson():
    results, bm = run([Start(), Continue(), Digits("0")])
    assert results[-1].steps[0].chunk.id == "c1" and bm.index == 0
    results, bm = run([Digits("0")], bm)
    assert results[-1].steps == (End("back"),) and results[-1].awaiting is None
    assert bm.index == 0


def test_going_back_to_an_answered_question_does_not_score_twice():
    results, bm = run([Start(), Continue(), Continue(), Digits("2"), Digits("0"), Digits("1")])
    assert results[-1].steps[0].correct  # the feedback teaches
    assert bm.score == 0 and bm.answers["q1"] == "2"  # but the first answer counts


def test_timeouts_at_a_question_prompt_again_twice_then_end():
    results, bm = run([Start(), Continue(), Continue(), Timeout(), Timeout(), Timeout()])
    assert kinds(results[3]) == ["NoInput", "AskQuestion"] and results[3].steps[0] == NoInput(1)
    assert kinds(results[4]) == ["NoInput", "AskQuestion"] and results[4].steps[0] == NoInput(2)
    assert results[5].steps == (NoInput(3), End("no_input"))
    assert bm.index == 2 and bm.misses == 0  # resume at the question next time


def test_timeout_after_a_chunk_continues():
    results, _bm = run([Start(), Timeout()])
    assert results[-1].steps[0].chunk.id == "c2"


def test_invalid_key_says_so_and_counts_as_a_miss():
    results, _ = run([Start(), Digits("7")])
    assert results[-1].steps == (Invalid("7"),) and results[-1].awaiting == "continue"
    results, _bm = run([Start(), Continue(), Continue(), Digits("9"), Digits("#"), Digits("8")])
    assert kinds(results[3]) == ["Invalid", "AskQuestion"]
    assert kinds(results[4]) == ["Invalid", "AskQuestion"]
    assert results[5].steps == (Invalid("8"), End("no_input"))


def test_a_good_input_resets_the_misses():
    results, bm = run([Start(), Continue(), Continue(), Timeout(), Timeout(), Digits("1"), Timeout()])
    assert kinds(results[-1]) == ["NoInput", "AskQuestion"] and bm.misses == 1


def test_hang_up_keeps_the_bookmark_and_start_resumes_there():
    results, bm = run([Start(), Continue(), Continue(), Digits("1"), HangUp()])
    assert results[-1].steps == (End("hangup"),)
    restored = Bookmark.from_json(bm.to_json())
    assert restored == bm
    results, bm = run([Start()], restored)
    assert results[0].steps[0] == LessonIntro(COURSE.lessons[0].title, resumed=True)
    assert results[0].steps[1].question.id == "q2"
    assert bm.score == 1


def test_completion_counts_once_and_a_new_attempt_starts_over():
    results, bm = run([Start(), Continue(), Continue(), Digits("1"), Digits("3")])
    assert results[-1].completion.first_time
    results, bm2 = run([Digits("1"), Text("x"), Continue()], bm)
    assert all(r.steps == (End("completed"),) for r in results)
    results, bm2 = run([Start(), Continue(), Continue(), Digits("2"), Digits("1")], bm)
    assert results[0].steps[0] == LessonIntro(COURSE.lessons[0].title, resumed=False)
    assert bm2.attempt == 2 and bm2.completed
    assert results[-1].completion == LessonComplete(score=0, total=2, first_time=False)


def test_digits_before_start_start_the_lesson():
    results, _bm = run([Digits("1")])
    assert kinds(results[0]) == ["LessonIntro", "SayChunk"]


def test_every_shipped_lesson_completes_in_both_languages(shipped_catalog):
    for course in shipped_catalog:
        for lesson in course.lessons:
            for lang in ("fr", "bm"):
                bm = start_bookmark(course, lesson.id)
                result = advance(course, bm, Start())
                for _ in range(len(lesson.items) + 1):
                    step = result.steps[-1]
                    if isinstance(step, SayChunk):
                        assert step.chunk.body.text(lang)
                        event = Continue()
                    elif isinstance(step, AskQuestion):
                        event = Text(step.question.correct_option.label[lang])
                    else:
                        break
                    result = advance(course, result.bookmark, event)
                assert result.completion is not None, (course.id, lesson.id, lang)
                assert result.completion.score == result.completion.total
