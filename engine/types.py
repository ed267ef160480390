"""The engine's vocabulary: inputs it accepts, steps it returns, and the bookmark it keeps.

All of them are plain frozen dataclasses, independent of any channel: the voice line renders steps as
TwiML or Africa's Talking XML, the SMS line as text.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from content.model import Chunk, Localized, Option, Question

# --- inputs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Start:
    """Begin the lesson, or resume it where the bookmark stands."""


@dataclass(frozen=True)
class Digits:
    """Keys pressed on a phone keypad: ``1``–``9`` choose, ``*`` repeats, ``0`` goes back."""

    value: str


@dataclass(frozen=True)
class Text:
    """Free text, e.g. an SMS answer: a digit, a letter, or the option's words."""

    value: str


@dataclass(frozen=True)
class Continue:
    """Go on after a chunk (a channel that needs no key to continue sends this)."""


@dataclass(frozen=True)
class Timeout:
    """The listener gave no input in time."""


@dataclass(frozen=True)
class HangUp:
    """The listener left (hung up, or the session ended)."""


Input = Start | Digits | Text | Continue | Timeout | HangUp

# --- steps --------------------------------------------------------------------------------------

EndReason = Literal["completed", "hangup", "no_input", "back"]


@dataclass(frozen=True)
class LessonIntro:
    """The lesson's title, said when a lesson starts (or is resumed: ``resumed`` is True)."""

    title: Localized
    resumed: bool


@dataclass(frozen=True)
class SayChunk:
    """Say or play one chunk; afterwards the listener may continue, repeat or go back."""

    chunk: Chunk
    number: int  # 1-based position among the lesson's items
    total: int


@dataclass(frozen=True)
class AskQuestion:
    question: Question
    number: int  # 1-based among the lesson's questions
    total: int

    @property
    def options(self) -> tuple[Option, ...]:
        return self.question.options


@dataclass(frozen=True)
class Feedback:
    """The answer is taken. ``reveal`` is False in a pre-test: the channel acknowledges the answer without
    saying whether it was right (the lessons teach it; the post-test tells)."""

    question: Question
    correct: bool
    chosen: Option
    reveal: bool = True

    @property
    def text(self) -> Localized:
        return self.question.feedback_correct if self.correct else self.question.feedback_wrong


@dataclass(frozen=True)
class Invalid:
    """The input was not one of the choices offered; what was offered follows."""

    given: str


@dataclass(frozen=True)
class NoInput:
    """Nothing was received; ``attempt`` counts the prompts repeated so far (1, 2)."""

    attempt: int


@dataclass(frozen=True)
class LessonComplete:
    score: int
    total: int
    first_time: bool  # True the first time this listener completes this lesson
    kind: str = "lesson"  # the lesson's kind: lesson | pretest | posttest (content.model.LESSON_KINDS)
    before: int | None = None  # a post-test: the listener's pre-test score, when known (filled by the progress service)


@dataclass(frozen=True)
class End:
    """The lesson session is over for now; the bookmark says where to resume."""

    reason: EndReason


Step = LessonIntro | SayChunk | AskQuestion | Feedback | Invalid | NoInput | LessonComplete | End

# --- bookmark -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bookmark:
    """Where a listener stands in one lesson. Serialisable to JSON for the database.

    ``index`` is the item being presented (``len(items)`` once the run is finished); ``answers``
    maps question id to the option key given first in this run, so a question is scored once.
    ``completed`` is sticky: once a lesson is completed it stays completed, whatever follows.
    """

    course_id: str
    lesson_id: str
    index: int = 0
    started: bool = False
    answers: dict[str, str] = field(default_factory=dict)
    score: int = 0
    misses: int = 0  # consecutive timeouts or invalid inputs at the current prompt
    completed: bool = False
    attempt: int = 1

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Bookmark:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        known["answers"] = dict(known.get("answers") or {})
        return cls(**known)

    def dumps(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True)

    def but(self, **changes: Any) -> Bookmark:
        return replace(self, **changes)


@dataclass(frozen=True)
class Result:
    steps: tuple[Step, ...]
    bookmark: Bookmark
    awaiting: Literal["continue", "answer"] | None  # what input the last step waits for; None = ended

    @property
    def ended(self) -> End | None:
        last = self.steps[-1] if self.steps else None
        return last if isinstance(last, End) else None

    @property
    def completion(self) -> LessonComplete | None:
        return next((s for s in self.steps if isinstance(s, LessonComplete)), None)
