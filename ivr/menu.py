"""The voice line's menus as a small pure state machine (no Flask, database or provider here).

A call's menu state is a JSON-able dict kept in ``CallSession.state``: the node the caller is at,
misses at that node, the chosen course and lesson, and how the call began (``entry``). Each
function takes the state, a ``Context`` (what the service knows about the listener) and one input,
and returns a ``Step``: the new state, the lines to say, whether to listen for a key, and effects
for the service to carry out (set the language, opt out, run a lesson turn in the engine).

Keys (DESIGN.md): ``1``–``9`` choose, ``*`` repeats, ``0`` goes back; no key: prompt again up to
twice, then goodbye; an invalid key: say so and prompt again (it counts as a miss too).
Main menu: ``1`` continue where you stopped (offered when there is a lesson in progress),
``2`` courses, ``3`` my progress, ``4`` change language, ``9`` never call me again: it asks first
(``opt_out_confirm``: ``9`` again opts out, any other key or a silence goes back).
In a lesson, every chunk ends with the same cue ("1 or wait to continue"), said again after a key that
does nothing there. After a lesson (``lesson_end``): the score, then ``1`` next lesson (or the next
course's first lesson after a course's last one; left out after the very last lesson), ``2`` the
lesson list (lessons already done are marked), ``0`` main menu. A lesson list longer than eight lessons is said
eight at a time: ``9`` says the next eight (after the last page, the first). A course's pre-test is its first
lesson and its post-test its last: in the pre-test each answer is only acknowledged ("answer noted"), and the
post-test's score is followed by the pre-test's.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from content.model import Chunk, Lesson, Localized
from engine import (
    AskQuestion,
    Digits,
    End,
    Feedback,
    Input,
    Invalid,
    LessonComplete,
    LessonIntro,
    NoInput,
    Result,
    SayChunk,
    Start,
    Timeout,
)

MAX_MISSES = 3  # the third miss in a row at one menu ends the call, like the engine
REPEAT, BACK = "*", "0"
OPT_OUT_KEY = "9"
LANGUAGE_KEYS = {"1": "bm", "2": "fr"}
MAX_CHOICES = 8  # courses or lessons offered in one menu (keys 1..8); a longer lesson list has pages
MORE_KEY = "9"  # in the lesson list: the next page

# --- the call path's vocabulary (ivr/models.py documents it) --------------------------------------
NODE_ORDER = ("language", "main", "courses", "lessons", "lesson", "lesson_end", "campaign_end", "opt_out_confirm")
"""The menu nodes a caller can be at between turns, in menu order (the drop-off table's rows)."""
INVALID = "!invalid"  # an invalid key at the current node
TIMEOUT = "!timeout"  # no key before the timeout at the current node
LANG_PREFIX = "lang:"  # lang:bm — a language chosen on this call
LESSON_PREFIX = "lesson:"  # lesson:<course>/<lesson> — a lesson started (or resumed)
CHUNK_PREFIX = "chunk:"  # chunk:<i>/<n> — the i-th of the lesson's n chunks said (1-based)
DONE_PREFIX = "done:"  # done:<right>/<total> — the lesson completed with that score


# --- what the menu says ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Prompt:
    """One of the voice line's own prompts (``ivr/prompts.yaml``), optionally filled and in a set language."""

    key: str
    params: tuple[tuple[str, int], ...] = ()
    lang: str | None = None


@dataclass(frozen=True)
class Said:
    """A course text (title, chunk, question, feedback), with its recording."""

    text: Localized


Line = Prompt | Said


# --- effects --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SetLanguage:
    lang: str


@dataclass(frozen=True)
class OptOut:
    pass


@dataclass(frozen=True)
class LessonTurn:
    course_id: str
    lesson_id: str
    event: Input


Effect = SetLanguage | OptOut | LessonTurn


# --- what the menu knows --------------------------------------------------------------------------


@dataclass(frozen=True)
class LessonEntry:
    id: str
    title: Localized


@dataclass(frozen=True)
class CourseEntry:
    id: str
    title: Localized
    lessons: tuple[LessonEntry, ...]


@dataclass(frozen=True)
class Context:
    language: str | None  # None until the listener chooses
    courses: tuple[CourseEntry, ...]
    resume: tuple[str, str] | None = None  # (course id, lesson id) of a lesson in progress
    completed: int = 0  # lessons completed
    done: frozenset[tuple[str, str]] = frozenset()  # (course id, lesson id) of the lessons completed
    lessons: int = 0  # lessons offered
    score: int = 0  # right answers in completed lessons
    total: int = 0  # questions in completed lessons

    def course(self, course_id: str | None) -> CourseEntry | None:
        return next((c for c in self.courses if c.id == course_id), None)

    def next_lesson(self, course_id: str | None, lesson_id: str | None) -> tuple[str, str] | None:
        """The lesson after this one: the next in its course, else the first of the next course; None at the end."""
        order = [(c.id, lesson.id) for c in self.courses for lesson in c.lessons]
        if (course_id, lesson_id) not in order:
            return None
        at = order.index((course_id, lesson_id))
        return order[at + 1] if at + 1 < len(order) else None


@dataclass(frozen=True)
class Step:
    state: dict[str, Any]
    lines: tuple[Line, ...] = ()
    listen: bool = True  # False: hang up after the lines
    effects: tuple[Effect, ...] = ()
    nodes: tuple[str, ...] = field(default=())  # nodes entered, in order (for the call's path)

    def then(self, other: Step) -> Step:
        return Step(
            other.state, self.lines + other.lines, other.listen, self.effects + other.effects, self.nodes + other.nodes
        )


# --- inputs ---------------------------------------------------------------------------------------


def begin(state: dict[str, Any], ctx: Context) -> Step:
    """The call is answered (or the provider asks again for the current prompt)."""
    node = state.get("node")
    if node:  # a repeated first request: say the current node again
        return _present(state, ctx, node)
    if state.get("entry") == "lesson" and ctx.course(state.get("course_id")):
        state = {**state, "node": "lesson", "misses": 0}
        return Step(state, (Prompt("welcome-back"),), nodes=("lesson",)).then(_lesson(state, Start()))
    if ctx.language is None:
        return _enter(state, ctx, "language")
    return Step(state, (Prompt("welcome-back"),)).then(_enter(state, ctx, "main"))


def press(state: dict[str, Any], ctx: Context, digits: str) -> Step:
    """The caller pressed ``digits``."""
    node = state.get("node") or "main"
    key = digits.strip()[:1]
    if node == "lesson":
        return _lesson(state, Digits(digits.strip()))
    if node == "end":
        return _goodbye(state)
    if key == REPEAT:
        return _present({**state, "misses": 0}, ctx, node)
    handler = _HANDLERS.get(node, _main)
    step = handler(state, ctx, key)
    return step if step is not None else _miss(state, ctx, node, Prompt("invalid-key"))


def silence(state: dict[str, Any], ctx: Context) -> Step:
    """No key before the timeout."""
    node = state.get("node") or "main"
    if node == "lesson":
        return _lesson(state, Timeout())
    if node == "end":
        return _goodbye(state)
    if node == "opt_out_confirm":  # a silence never opts out: back where the caller was, counted as a miss
        return _miss(state, ctx, _confirm_from(state), Prompt("no-input"), enter=True)
    return _miss(state, ctx, node, Prompt("no-input"))


def lesson_result(state: dict[str, Any], ctx: Context, result: Result, lesson: Lesson | None = None) -> Step:
    """Say what the engine answered; when the lesson session ends, move on in the menus. With ``lesson`` (the
    lesson being played), the path records what happened in it (see ``lesson_events``)."""
    lines: list[Line] = []
    for step in result.steps:
        lines.extend(_engine_lines(step, at_chunk=result.awaiting == "continue"))
    events = lesson_events(state, result, lesson) if lesson is not None else ()
    ended = result.ended
    if ended is None:
        return Step(state, tuple(lines), nodes=events)
    said = Step(state, tuple(lines), nodes=events)
    if ended.reason in ("no_input", "hangup"):
        return said.then(_goodbye(state) if ended.reason == "no_input" else Step(state, listen=False))
    if state.get("entry") == "lesson":  # an outbound campaign call: offer the menu, or to stop calls
        return said.then(_enter(state, ctx, "campaign_end"))
    if ended.reason == "completed":
        return said.then(_enter(state, ctx, "lesson_end"))
    return said.then(_enter(state, ctx, "lessons"))


def lesson_events(state: dict[str, Any], result: Result, lesson: Lesson) -> tuple[str, ...]:
    """The path labels of one lesson turn: the lesson started or resumed, each chunk said (its place among the
    lesson's chunks), an invalid key or a silence, the lesson completed with its score."""
    chunk_ids = [item.id for item in lesson.items if isinstance(item, Chunk)]
    out: list[str] = []
    for step in result.steps:
        if isinstance(step, LessonIntro):
            out.append(f"{LESSON_PREFIX}{state.get('course_id')}/{lesson.id}")
        elif isinstance(step, SayChunk) and step.chunk.id in chunk_ids:
            out.append(f"{CHUNK_PREFIX}{chunk_ids.index(step.chunk.id) + 1}/{len(chunk_ids)}")
        elif isinstance(step, Invalid):
            out.append(INVALID)
        elif isinstance(step, NoInput):
            out.append(TIMEOUT)
        elif isinstance(step, LessonComplete):
            out.append(f"{DONE_PREFIX}{step.score}/{step.total}")
    return tuple(out)


# --- nodes ----------------------------------------------------------------------------------------


def _enter(state: dict[str, Any], ctx: Context, node: str) -> Step:
    state = {**state, "node": node, "misses": 0}
    step = _present(state, ctx, node)
    return replace(step, nodes=(node, *step.nodes))


def _present(state: dict[str, Any], ctx: Context, node: str) -> Step:
    if node == "language":
        return Step(state, (Prompt("language-menu", lang="bm"), Prompt("language-menu", lang="fr")))
    if node == "main":
        lines: list[Line] = [Prompt("menu-resume")] if ctx.resume else []
        return Step(state, (*lines, Prompt("menu-main")))
    if node == "courses":
        lines = [Prompt("courses-intro")]
        for n, course in enumerate(ctx.courses[:MAX_CHOICES], start=1):
            lines += [Said(course.title), Prompt(f"press-{n}")]
        return Step(state, (*lines, Prompt("menu-keys")))
    if node == "lessons":
        course = ctx.course(state.get("course_id"))
        if course is None:
            return _enter(state, ctx, "courses")
        lines = [Said(course.title), Prompt("lessons-intro")]
        for n, lesson in enumerate(_page(course, state), start=1):
            done = [Prompt("lesson-done-mark")] if (course.id, lesson.id) in ctx.done else []
            lines += [*done, Said(lesson.title), Prompt(f"press-{n}")]
        more = [Prompt("lessons-more")] if len(course.lessons) > MAX_CHOICES else []
        return Step(state, (*lines, *more, Prompt("menu-keys")))
    if node == "lesson_end":
        after = ctx.next_lesson(state.get("course_id"), state.get("lesson_id"))
        lines = []
        if after is not None:
            lines = [Prompt("lesson-end-next" if after[0] == state.get("course_id") else "lesson-end-next-course")]
        return Step(state, (*lines, Prompt("lesson-end-keys")))
    if node == "opt_out_confirm":
        return Step(state, (Prompt("opt-out-confirm"),))
    if node == "campaign_end":
        return Step(state, (Prompt("campaign-end"),))
    if node == "lesson":  # a repeated request in a lesson: the engine says the current item again
        return _lesson(state, Start())
    return _goodbye(state)


def _main(state, ctx: Context, key: str) -> Step | None:
    if key == "1" and ctx.resume:
        return _start_lesson(state, *ctx.resume)
    if key in ("1", "2"):
        return _enter(state, ctx, "courses")
    if key == "3":
        return Step(state, (_progress_line(ctx),)).then(_enter(state, ctx, "main"))
    if key == "4":
        return _enter(state, ctx, "language")
    if key == OPT_OUT_KEY:
        return _enter({**state, "confirm_from": "main"}, ctx, "opt_out_confirm")
    if key == BACK:
        return _present({**state, "misses": 0}, ctx, "main")
    return None


def _language(state, ctx: Context, key: str) -> Step | None:
    lang = LANGUAGE_KEYS.get(key)
    if lang is None:
        return None
    said = Step(state, (Prompt("language-set", lang=lang),), effects=(SetLanguage(lang),), nodes=(LANG_PREFIX + lang,))
    return said.then(_enter(state, replace(ctx, language=lang), "main"))


def _courses(state, ctx: Context, key: str) -> Step | None:
    if key == BACK:
        return _enter(state, ctx, "main")
    course = _choice(ctx.courses, key)
    if course is None:
        return None
    return _enter({**state, "course_id": course.id, "page": 0}, ctx, "lessons")


def _lessons(state, ctx: Context, key: str) -> Step | None:
    if key == BACK:
        return _enter({**state, "page": 0}, ctx, "courses")
    course = ctx.course(state.get("course_id"))
    if course is None:
        return None
    if key == MORE_KEY and len(course.lessons) > MAX_CHOICES:
        pages = -(-len(course.lessons) // MAX_CHOICES)
        return _enter({**state, "page": (_page_number(course, state) + 1) % pages}, ctx, "lessons")
    lesson = _choice(_page(course, state), key)
    if lesson is None:
        return None
    return _start_lesson(state, course.id, lesson.id)


def _page_number(course: CourseEntry, state: dict[str, Any]) -> int:
    """The page of the lesson list the caller hears (eight lessons a page; ``lessons-more`` turns it)."""
    page = state.get("page")
    if not isinstance(page, int) or not 0 <= page * MAX_CHOICES < len(course.lessons):
        return 0
    return page


def _page(course: CourseEntry, state: dict[str, Any]) -> tuple[LessonEntry, ...]:
    start = _page_number(course, state) * MAX_CHOICES
    return course.lessons[start : start + MAX_CHOICES]


def _page_with(course: CourseEntry | None, lesson_id: str | None) -> int:
    ids = [lesson.id for lesson in course.lessons] if course else []
    return ids.index(lesson_id) // MAX_CHOICES if lesson_id in ids else 0


def _start_lesson(state: dict[str, Any], course_id: str, lesson_id: str) -> Step:
    state = {**state, "node": "lesson", "misses": 0, "course_id": course_id, "lesson_id": lesson_id}
    return replace(_lesson(state, Start()), nodes=("lesson",))


def _lesson_end(state, ctx: Context, key: str) -> Step | None:
    if key == "1":
        after = ctx.next_lesson(state.get("course_id"), state.get("lesson_id"))
        if after is None:
            return None
        return _start_lesson(state, *after)
    if key == "2":  # the list, at the page that holds the lesson just finished
        page = _page_with(ctx.course(state.get("course_id")), state.get("lesson_id"))
        return _enter({**state, "page": page}, ctx, "lessons")
    if key == BACK:
        return _enter(state, ctx, "main")
    return None


def _campaign_end(state, ctx: Context, key: str) -> Step | None:
    if key == "1":
        return _enter({**state, "entry": "menu"}, ctx, "main")
    if key == OPT_OUT_KEY:
        return _enter({**state, "confirm_from": "campaign_end"}, ctx, "opt_out_confirm")
    return None


def _opt_out_confirm(state, ctx: Context, key: str) -> Step:
    """9 again opts out; any other key goes back where the caller came from (nothing is recorded)."""
    if key == OPT_OUT_KEY:
        return _opt_out(state)
    return _enter(state, ctx, _confirm_from(state))


def _confirm_from(state: dict[str, Any]) -> str:
    return "campaign_end" if state.get("confirm_from") == "campaign_end" else "main"


_HANDLERS = {
    "main": _main,
    "language": _language,
    "courses": _courses,
    "lessons": _lessons,
    "lesson_end": _lesson_end,
    "campaign_end": _campaign_end,
    "opt_out_confirm": _opt_out_confirm,
}
MENU_NODES = frozenset(_HANDLERS) | {"lesson"}  # where a caller can be between turns


def _choice(entries, key: str):
    if key.isdigit() and 1 <= int(key) <= min(len(entries), MAX_CHOICES):
        return entries[int(key) - 1]
    return None


def _lesson(state: dict[str, Any], event: Input) -> Step:
    return Step(state, effects=(LessonTurn(state["course_id"], state["lesson_id"], event),))


def _miss(state: dict[str, Any], ctx: Context, node: str, why: Prompt, *, enter: bool = False) -> Step:
    """A silence or an invalid key at ``node``: say why and present ``node`` again (``enter``: move to it),
    or say goodbye at the third miss in a row."""
    misses = int(state.get("misses") or 0) + 1
    event = (TIMEOUT if why.key == "no-input" else INVALID,)  # at the node the caller is at (the last entered)
    if misses >= MAX_MISSES:
        return Step(state, (why,), nodes=event).then(_goodbye(state))
    state = {**state, "misses": misses}
    if enter:
        state = {**state, "node": node}
        return Step(state, (why,), nodes=(*event, node)).then(_present(state, ctx, node))
    return Step(state, (why,), nodes=event).then(_present(state, ctx, node))


def _opt_out(state: dict[str, Any]) -> Step:
    state = {**state, "node": "end", "misses": 0}
    return Step(state, (Prompt("opted-out"),), listen=False, effects=(OptOut(),), nodes=("opted_out",))


def _goodbye(state: dict[str, Any]) -> Step:
    state = {**state, "node": "end", "misses": 0}
    return Step(state, (Prompt("goodbye"),), listen=False, nodes=("goodbye",))


def _progress_line(ctx: Context) -> Prompt:
    if not ctx.completed:
        return Prompt("progress-none")
    params = {"completed": ctx.completed, "lessons": ctx.lessons, "score": ctx.score, "total": ctx.total}
    return Prompt("progress", params=tuple(params.items()))


def _engine_lines(step, *, at_chunk: bool = False) -> list[Line]:
    """What the caller hears for one engine step; ``at_chunk``: the lesson now waits at a chunk."""
    if isinstance(step, LessonIntro):
        return [Said(step.title)] + ([Prompt("lesson-resumed")] if step.resumed else [])
    if isinstance(step, SayChunk):
        help_ = [Prompt("chunk-help")] if step.number == 1 else []
        return [Said(step.chunk.body), *help_, Prompt("chunk-cue")]
    if isinstance(step, AskQuestion):
        return [Said(step.question.prompt)]
    if isinstance(step, Feedback):  # in a pre-test, the answer is taken without saying whether it is right
        return [Said(step.text)] if step.reveal else [Prompt("answer-noted")]
    if isinstance(step, Invalid):  # at a chunk there are no answers: say again how to go on
        return [Prompt("chunk-cue")] if at_chunk else [Prompt("invalid-key")]
    if isinstance(step, NoInput):
        return [Prompt("no-input")]
    if isinstance(step, LessonComplete):
        score = (("score", step.score), ("total", step.total))
        if step.kind == "pretest":
            return [Prompt("test-score-pre", params=score)]
        if step.kind == "posttest":
            before = [Prompt("test-score-before", params=(("before", step.before),))] if step.before is not None else []
            return [Prompt("test-score-post", params=score), *before]
        lines: list[Line] = [Prompt("lesson-score", params=score)]
        return lines if step.first_time else [*lines, Prompt("lesson-done-again")]
    if isinstance(step, End):
        return []
    raise TypeError(f"unknown engine step {step!r}")
