"""analytics.paths.summarize: tables of hand-built call paths, and properties over random ones."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analytics.paths import NODE_BITS, CallSummary, summarize
from ivr.menu import NODE_ORDER

T = "2026-11-24T10:00:00+00:00"


def path(*labels: str) -> list[list[str]]:
    return [[T, label] for label in labels]


LESSON = "lesson:child-labour/what-is-child-labour"

# (labels, answered) -> expected fields (the others: CallSummary defaults)
CASES = [
    pytest.param((), False, {}, id="never-answered-no-path"),
    pytest.param(("no_answer",), False, {}, id="no-answer"),
    pytest.param(("queued", "busy"), False, {}, id="outbound-busy"),
    pytest.param(("rejected",), False, {}, id="declined-for-callback"),
    pytest.param(
        ("language", "!timeout", "!invalid", "!timeout", "goodbye", "hangup"), True,
        {"entered": {"language"}, "timed_out": {"language"}, "invalid": {"language"}, "exit_node": "language"},
        id="three-misses-at-the-first-menu",
    ),
    pytest.param(
        ("language", "lang:bm", "main", "hangup"), True,
        {"chose_language": True, "language": "bm", "reached_main": True, "entered": {"language", "main"},
         "exit_node": "main"},
        id="chose-bambara-and-left-at-main",
    ),
    pytest.param(
        ("main", "!invalid", "courses", "hangup"), True,
        {"chose_language": True, "reached_main": True, "entered": {"main", "courses"}, "invalid": {"main"},
         "exit_node": "courses"},
        id="returning-caller-had-a-language",
    ),
    pytest.param(
        ("language", "lang:fr", "main", "courses", "lessons", "lesson", LESSON, "chunk:1/4", "chunk:2/4",
         "chunk:2/4", "!invalid", "hangup"), True,
        {"chose_language": True, "language": "fr", "reached_main": True, "course_id": "child-labour",
         "lesson_id": "what-is-child-labour", "chunks_heard": 2, "chunks_total": 4,
         "entered": {"language", "main", "courses", "lessons", "lesson"}, "invalid": {"lesson"},
         "exit_node": "lesson"},
        id="half-a-lesson-then-hung-up",
    ),
    pytest.param(
        ("main", "lesson", LESSON, "chunk:3/4", "chunk:4/4", "done:1/2", "lesson_end", "hangup"), True,
        {"chose_language": True, "reached_main": True, "course_id": "child-labour",
         "lesson_id": "what-is-child-labour", "chunks_heard": 4, "chunks_total": 4, "completed": True,
         "score": 1, "total": 2, "entered": {"main", "lesson", "lesson_end"}, "exit_node": "lesson_end"},
        id="resumed-and-completed-half-right-passes",
    ),
    pytest.param(
        ("queued", "lesson", LESSON, "chunk:1/1", "done:0/3", "campaign_end", "opt_out_confirm", "opted_out",
         "hangup"), True,
        {"chose_language": True, "reached_main": True, "course_id": "child-labour",
         "lesson_id": "what-is-child-labour", "chunks_heard": 1, "chunks_total": 1, "completed": True, "score": 0,
         "total": 3, "entered": {"lesson", "campaign_end", "opt_out_confirm"}, "exit_node": "opt_out_confirm"},
        id="campaign-call-completed-failed-then-opted-out",
    ),
    pytest.param(
        ("main", "lesson", LESSON, "chunk:1/2", "lessons", "lesson", "lesson:money/saving", "chunk:1/5",
         "chunk:2/5", "hangup"), True,
        {"chose_language": True, "reached_main": True, "course_id": "child-labour",
         "lesson_id": "what-is-child-labour", "chunks_heard": 1, "chunks_total": 2,
         "entered": {"main", "lesson", "lessons"}, "exit_node": "lesson"},
        id="the-first-lesson-counts-for-listening",
    ),
    pytest.param(
        ("main", "opt_out_confirm", "!timeout", "main", "hangup"), True,
        {"chose_language": True, "reached_main": True, "entered": {"main", "opt_out_confirm"},
         "timed_out": {"opt_out_confirm"}, "exit_node": "main"},
        id="a-silence-at-the-opt-out-question-goes-back",
    ),
    pytest.param(
        ("!timeout", "lang:xx", "chunk:9/3", "done:x/2", "bogus", "main"), True,
        {"chose_language": True, "language": "xx", "reached_main": True, "entered": {"main"}, "exit_node": "main"},
        id="malformed-labels-are-ignored",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("labels", "answered", "expected"), CASES)
def test_summaries_of_hand_built_paths(labels, answered, expected):
    summary = summarize(path(*labels), answered=answered)
    want = CallSummary(answered=answered)
    for name, value in expected.items():
        assert getattr(summary, name) == (frozenset(value) if isinstance(value, set) else value), name
    for name in ("chose_language", "reached_main", "completed", "chunks_heard", "exit_node", "course_id"):
        if name not in expected:
            assert getattr(summary, name) == getattr(want, name), name


def test_passed_means_at_least_half_right():
    assert summarize(path("lesson", LESSON, "done:1/2"), answered=True).passed
    assert not summarize(path("lesson", LESSON, "done:1/3"), answered=True).passed
    assert summarize(path("lesson", LESSON, "done:0/0"), answered=True).passed  # a lesson without questions
    assert not summarize(path("lesson", LESSON, "chunk:1/1"), answered=True).passed  # not completed


def test_broken_entries_are_skipped():
    summary = summarize([["t"], None, [T, 3], "main", [T, "main"]], answered=True)
    assert (summary.entered, summary.exit_node) == (frozenset({"main"}), "main")


def test_node_masks_use_one_bit_per_node_in_menu_order():
    assert [NODE_BITS[n] for n in NODE_ORDER] == [1, 2, 4, 8, 16, 32, 64, 128]
    assert CallSummary.mask(frozenset({"language", "lesson"})) == 1 + 16


LABELS = st.sampled_from(
    [*NODE_ORDER, "!invalid", "!timeout", "lang:bm", "lang:fr", LESSON, "lesson:money/saving", "chunk:1/3",
     "chunk:2/3", "chunk:3/3", "done:1/2", "done:0/2", "goodbye", "opted_out", "hangup", "queued", "no_answer"]
)  # fmt: skip


@given(st.lists(LABELS, max_size=40), st.booleans())
def test_properties_of_any_path(labels, answered):
    summary = summarize(path(*labels), answered=answered)
    left = [node for node in NODE_ORDER if summary.left_here(node)]
    assert len(left) <= 1  # left-there sums to at most 1 per call
    for node in NODE_ORDER:  # entered >= left there, timed out, invalid
        assert int(node in summary.entered) >= int(summary.left_here(node))
        assert int(node in summary.entered) >= int(node in summary.timed_out)
        assert int(node in summary.entered) >= int(node in summary.invalid)
    assert bool(left) == bool(summary.entered)  # a call that entered a node ended at one
    # the funnel narrows
    assert summary.chose_language >= summary.reached_main
    assert summary.passed <= summary.completed
    assert 0 <= summary.chunks_heard <= summary.chunks_total
    if summary.started_lesson:
        assert summary.reached_main


def test_a_path_is_bounded_keeping_its_start_and_its_end():
    from ivr.models import MAX_PATH, PATH_TAIL, TRUNCATED, bounded_path

    short = path("language", "lang:fr", "main")
    assert bounded_path(short) == short
    long = [[f"t{n}", "!invalid" if n % 2 else "main"] for n in range(MAX_PATH + 57)]
    cut = bounded_path(long)
    assert len(cut) == MAX_PATH
    assert cut[: MAX_PATH - PATH_TAIL - 1] == long[: MAX_PATH - PATH_TAIL - 1]
    assert cut[MAX_PATH - PATH_TAIL - 1][1] == TRUNCATED and cut[-PATH_TAIL:] == long[-PATH_TAIL:]
    assert bounded_path(cut) == cut  # idempotent
    grown = bounded_path([*cut, ["later", "hangup"]])  # a turn after the cut: the end is kept, the start too
    assert len(grown) == MAX_PATH and grown[-1] == ["later", "hangup"] and grown[:10] == long[:10]
    assert [label for _, label in grown].count(TRUNCATED) == 1
    assert summarize(grown, answered=True).exit_node == "main"
