"""What one call did, from its recorded path alone: ``summarize(path, answered=...) -> CallSummary``.

Pure (no Flask, no database): the path is ``CallSession.path``, a list of ``[iso time, label]`` entries whose
vocabulary ``ivr/models.py`` documents. The summary is what the learning analytics count per call:

- ``chose_language``: the call got a language — chosen on this call (``lang:``) or already known (the caller
  went past the language menu without it);
- ``reached_main``: the caller reached the main menu or went further (a campaign call starts in its lesson);
- the first lesson started on the call (``lesson:<course>/<lesson>``), how far into it the caller listened
  (``chunks_heard`` = the highest chunk number said, of ``chunks_total``) and whether a lesson was completed
  (``done:<right>/<total>``) and passed (at least half right);
- per menu node (``ivr.menu.NODE_ORDER``): entered (at least once), left there (the last node of the call),
  timed out (at least one silence there), invalid (at least one invalid key there) — each 0 or 1 per call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ivr.menu import CHUNK_PREFIX, DONE_PREFIX, INVALID, LANG_PREFIX, LESSON_PREFIX, NODE_ORDER, TIMEOUT

NODE_BITS = {node: 1 << n for n, node in enumerate(NODE_ORDER)}
"""Node → its bit in the fact table's per-node masks."""
PAST_LANGUAGE = frozenset(NODE_ORDER) - {"language"}


@dataclass(frozen=True)
class CallSummary:
    answered: bool
    chose_language: bool = False
    language: str = ""  # the language chosen on this call ("" when none was chosen)
    reached_main: bool = False
    course_id: str = ""  # the first lesson started on the call ("" when none)
    lesson_id: str = ""
    chunks_heard: int = 0
    chunks_total: int = 0
    completed: bool = False
    score: int | None = None  # of the first lesson completed on the call
    total: int | None = None
    entered: frozenset[str] = field(default_factory=frozenset)
    timed_out: frozenset[str] = field(default_factory=frozenset)
    invalid: frozenset[str] = field(default_factory=frozenset)
    exit_node: str = ""  # the node the caller was at when the call ended ("" when no node was entered)

    @property
    def started_lesson(self) -> bool:
        return bool(self.lesson_id)

    @property
    def passed(self) -> bool:
        """Completed with at least half the answers right (a lesson without questions passes)."""
        return self.completed and self.score is not None and 2 * self.score >= (self.total or 0)

    def left_here(self, node: str) -> bool:
        return self.exit_node == node

    @staticmethod
    def mask(nodes: frozenset[str]) -> int:
        return sum(NODE_BITS[n] for n in nodes if n in NODE_BITS)


def _pair(text: str) -> tuple[int, int] | None:
    """``"3/5"`` → (3, 5); None when malformed."""
    left, sep, right = text.partition("/")
    if not sep or not left.isdigit() or not right.isdigit():
        return None
    return int(left), int(right)


def summarize(path: Sequence[Any] | None, *, answered: bool) -> CallSummary:
    """The summary of one call's path. ``answered``: the provider answered the call (``answered_at`` set).
    Malformed entries are skipped; labels it does not know are ignored."""
    node = ""  # the node the caller is at
    entered: set[str] = set()
    timed_out: set[str] = set()
    invalid: set[str] = set()
    language = ""
    course_id = lesson_id = ""
    heard = total_chunks = 0
    completed = False
    score: int | None = None
    total: int | None = None
    in_first_lesson = False
    for entry in path or ():
        if not isinstance(entry, list | tuple) or len(entry) != 2 or not isinstance(entry[1], str):
            continue
        label = entry[1]
        if label in NODE_BITS:
            node = label
            entered.add(label)
            if label != "lesson":
                in_first_lesson = False
        elif label == TIMEOUT:
            if node:
                timed_out.add(node)
        elif label == INVALID:
            if node:
                invalid.add(node)
        elif label.startswith(LANG_PREFIX):
            language = label[len(LANG_PREFIX) :]
        elif label.startswith(LESSON_PREFIX):
            course, sep, lesson = label[len(LESSON_PREFIX) :].partition("/")
            if not lesson_id and sep and lesson:
                course_id, lesson_id, in_first_lesson = course, lesson, True
            else:
                in_first_lesson = (course, lesson) == (course_id, lesson_id)
        elif label.startswith(CHUNK_PREFIX):
            pair = _pair(label[len(CHUNK_PREFIX) :])
            if in_first_lesson and pair is not None:
                heard, total_chunks = max(heard, min(pair[0], pair[1])), pair[1]
        elif label.startswith(DONE_PREFIX):
            pair = _pair(label[len(DONE_PREFIX) :])
            if pair is not None and not completed:
                completed, score, total = True, pair[0], pair[1]
                if in_first_lesson:
                    heard = total_chunks  # a completed lesson was heard to its end
    reached_main = bool(entered & PAST_LANGUAGE) or bool(lesson_id) or completed  # (a cut path may lack nodes)
    return CallSummary(
        answered=answered,
        chose_language=bool(language) or reached_main,
        language=language,
        reached_main=reached_main,
        course_id=course_id,
        lesson_id=lesson_id,
        chunks_heard=heard,
        chunks_total=total_chunks,
        completed=completed,
        score=score,
        total=total,
        entered=frozenset(entered),
        timed_out=frozenset(timed_out),
        invalid=frozenset(invalid),
        exit_node=node,
    )
