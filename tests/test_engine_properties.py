"""Property tests of the engine: total, bounded, and never losing or double-counting a completion."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from content.loader import load_catalog
from engine import (
    MAX_MISSES,
    Bookmark,
    Continue,
    Digits,
    End,
    HangUp,
    LessonComplete,
    Start,
    Text,
    Timeout,
    advance,
    normalize,
    parse_choice,
    start_bookmark,
)

CATALOG = load_catalog()
LESSONS = [(course, lesson) for course in CATALOG for lesson in course.lessons]

inputs = st.one_of(
    st.builds(Start),
    st.builds(Continue),
    st.builds(Timeout),
    st.builds(HangUp),
    st.builds(Digits, st.sampled_from([*list("0123456789*#"), "", "12", "##"])),
    st.builds(Text, st.text(max_size=30)),
)
lessons = st.sampled_from(LESSONS)


def play(course, bookmark, events):
    """Feed events one by one; check the per-turn invariants; return all results."""
    results = []
    for event in events:
        result = advance(course, bookmark, event)
        assert 1 <= len(result.steps) <= 4
        assert (result.awaiting is None) == isinstance(result.steps[-1], End)
        assert result.bookmark.completed or not bookmark.completed  # sticky
        assert 0 <= result.bookmark.score <= len(course.lesson(bookmark.lesson_id).questions)
        bookmark = result.bookmark
        results.append(result)
    return results, bookmark


@settings(max_examples=300)
@given(lessons, st.lists(inputs, max_size=60))
def test_any_input_sequence_is_answered_and_never_double_counts(pair, events):
    course, lesson = pair
    results, bookmark = play(course, start_bookmark(course, lesson.id), events)
    first_completions = [s for r in results for s in r.steps if isinstance(s, LessonComplete) and s.first_time]
    assert len(first_completions) <= 1
    assert bookmark.completed == bool(first_completions)
    assert Bookmark.from_json(bookmark.to_json()) == bookmark


@settings(max_examples=200)
@given(lessons, st.lists(inputs, max_size=40), st.data())
def test_from_anywhere_the_lesson_can_be_finished_in_bounded_steps(pair, events, data):
    """Whatever happened before, a listener who keeps answering reaches the end of the lesson."""
    course, lesson = pair
    _, bookmark = play(course, start_bookmark(course, lesson.id), events)
    result = advance(course, bookmark, Start())
    bound = 2 * len(lesson.items) + 2
    for _ in range(bound):
        if result.awaiting is None:
            break
        if result.awaiting == "continue":
            event = data.draw(st.sampled_from([Continue(), Timeout(), Digits("1")]))
        else:
            key = data.draw(st.sampled_from([o.key for o in result.steps[-1].question.options]))
            event = Digits(key)
        result = advance(course, result.bookmark, event)
    assert result.awaiting is None
    assert result.bookmark.completed
    assert result.completion is not None or result.steps[-1] == End("completed")


@given(lessons, st.lists(st.sampled_from([Timeout(), Digits("9"), Text("???")]), min_size=MAX_MISSES))
def test_silence_or_nonsense_at_a_question_ends_within_three_misses(pair, misses):
    course, lesson = pair
    question_index = next(n for n, item in enumerate(lesson.items) if item.kind == "question")
    bookmark = start_bookmark(course, lesson.id).but(index=question_index, started=True)
    results, _ = play(course, bookmark, misses[:MAX_MISSES])
    assert results[-1].steps[-1] == End("no_input")
    assert all(r.awaiting == "answer" for r in results[:-1])


@given(st.text())
def test_the_answer_parser_never_raises(text):
    normalize(text)
    for _course, lesson in LESSONS:
        for question in lesson.questions:
            choice = parse_choice(text, question.options)
            assert choice is None or choice in question.options
