"""What a campaign will cost, in FCFA (XOF), from the deployment's tariffs (``TARIFFS``, see README).

- SMS: the segments each listener's text takes once encoded as it is sent (transliteration applied when
  ``SMS_TRANSLITERATE`` is on; UCS-2 when a letter has no GSM-7 look-alike), per language, times the listeners
  of that language (listeners who have not chosen a language get the default language's text). A lesson sends
  its opening texts (its first chunks and question, as a listener starting it receives them).
- Voice: the lesson's length per language — from the recordings' durations when every one of them is a WAV
  file we can measure, else from its words at 130 words a minute (the estimate says which) — rounded up to
  whole minutes per call, as providers bill, times every listener: an upper bound that assumes every call is
  answered once. Unanswered attempts and retries are not billed.

Tariffs are the deployment's own (defaults are rough public prices; ask your provider).
"""

from __future__ import annotations

import math
import wave
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from campaigns.audience import AudienceCount
from content.model import Course, Lesson
from core.config import Settings
from core.vocabulary import Channel

WORDS_PER_MINUTE = 130


@dataclass
class CostEstimate:
    total_fcfa: Decimal
    lines: list[tuple[str, int, Decimal, Decimal]]  # (what, units, unit price, subtotal)
    notes: list[str] = field(default_factory=list)  # how it was computed, in plain English
    provider: str = ""


def tariff(settings: Settings, provider: str, key: str) -> Decimal:
    prices = settings.tariffs.get(provider)
    if prices is None:
        raise ValueError(f"no tariff for provider {provider!r}: set TARIFFS (see README)")
    return prices[key]


def _language_counts(audience: AudienceCount, settings: Settings) -> dict[str, int]:
    out: dict[str, int] = {}
    for lang, n in audience.by_language.items():
        key = lang or settings.default_language
        out[key] = out.get(key, 0) + n
    return {lang: n for lang, n in sorted(out.items()) if n}


def _resolve(content, catalog) -> tuple[Course, Lesson] | Mapping[str, str]:
    if isinstance(content, Mapping):
        return content
    if isinstance(content, str):
        if catalog is None:
            from content.catalog import get_catalog

            catalog = get_catalog()
        course_id, _, lesson_id = content.partition("/")
        course = catalog.courses[course_id]
        return course, course.lesson(lesson_id)
    course, lesson_id = content
    return course, course.lesson(lesson_id)


def sms_texts(content, lang: str, settings: Settings, catalog=None) -> list[str]:
    """The SMS one listener of ``lang`` receives, as sent (before transliteration: ``sms_segments`` applies it)."""
    from engine import Start, advance, start_bookmark
    from sms.service import pack, render

    resolved = _resolve(content, catalog)
    if isinstance(resolved, Mapping):
        return pack([resolved[lang]], settings)
    course, lesson = resolved
    steps = advance(course, start_bookmark(course, lesson.id), Start()).steps
    return pack(render(steps, lang, transliterate=settings.sms_transliterate), settings)


def sms_segments(texts: list[str], settings: Settings) -> int:
    from sms.encoding import cost, for_sms

    return sum(cost(for_sms(t, transliterate=settings.sms_transliterate)).segments for t in texts)


def _spoken(lesson: Lesson):
    """Every recorded text one listener hears going through the lesson once (answering right)."""
    yield lesson.title
    for item in lesson.items:
        if item.kind == "chunk":
            yield item.body
        else:
            yield item.prompt
            yield item.feedback_correct


def _wav_seconds(path: Path | None) -> float | None:
    if path is None or path.suffix.lower() != ".wav":
        return None
    try:
        with wave.open(str(path), "rb") as f:
            return f.getnframes() / float(f.getframerate())
    except (wave.Error, OSError, ZeroDivisionError):
        return None


def lesson_minutes(course: Course, lesson: Lesson, lang: str, audio_dir: Path | None = None) -> tuple[float, str]:
    """How long the lesson plays in ``lang`` (minutes) and how that was found ("recordings" or "words")."""
    texts = list(_spoken(lesson))
    if audio_dir is not None:
        from content.recordings import find_recording

        seconds = [_wav_seconds(find_recording(audio_dir, lang, t.recording(lang))) for t in texts if lang in t.audio]
        if seconds and len(seconds) == len(texts) and all(s is not None for s in seconds):
            return sum(seconds) / 60.0, "recordings"  # type: ignore[arg-type]
    words = sum(len(t.text(lang).split()) for t in texts)
    for item in lesson.items:
        if item.kind == "question":
            words += sum(len(o.label.get(lang, "").split()) for o in item.options)
    return words / WORDS_PER_MINUTE, "words"


def estimate_cost(
    channel: Channel | str,
    content,
    audience_count: AudienceCount,
    settings: Settings,
    *,
    runs: int = 1,
    max_retries: int = 0,
    catalog=None,
    audio_dir: Path | None = None,
) -> CostEstimate:
    """The cost of sending ``content`` (a message ``{fr, bm}``, ``"course/lesson"`` or ``(Course, lesson_id)``)
    to the eligible listeners of ``audience_count``, ``runs`` times."""
    channel = Channel(channel)
    languages = _language_counts(audience_count, settings)
    lines: list[tuple[str, int, Decimal, Decimal]] = []
    notes: list[str] = []
    if channel == Channel.SMS:
        provider = settings.sms_provider
        price = tariff(settings, provider, "sms_segment")
        for lang, listeners in languages.items():
            per_listener = sms_segments(sms_texts(content, lang, settings, catalog), settings)
            units = per_listener * listeners * runs
            lines.append(
                (f"SMS {lang}: {listeners} listener(s) × {per_listener} segment(s)", units, price, price * units)
            )
        notes.append(
            "segments counted as sent"
            + (" (Bambara letters transliterated)" if settings.sms_transliterate else " (no transliteration)")
        )
    else:
        provider = settings.voice_provider
        price = tariff(settings, provider, "voice_minute")
        course, lesson = _resolve(content, catalog)  # type: ignore[misc]
        for lang, listeners in languages.items():
            minutes, source = lesson_minutes(course, lesson, lang, audio_dir)
            per_call = max(1, math.ceil(minutes))
            units = per_call * listeners * runs
            lines.append((f"calls {lang}: {listeners} listener(s) × {per_call} min", units, price, price * units))
            notes.append(
                f"{lang}: {minutes:.1f} min from the "
                + ("recordings' durations" if source == "recordings" else f"words at {WORDS_PER_MINUTE} words a minute")
            )
        notes.append("upper bound: every call answered (once); unanswered attempts and retries are not billed")
        if max_retries:
            notes.append(f"up to {max_retries} retries per listener cost nothing unless answered")
    if runs > 1:
        notes.append(f"{runs} runs")
    notes.append(f"tariffs of {provider} from TARIFFS (FCFA; defaults are rough public prices: ask your provider)")
    total = sum((line[3] for line in lines), Decimal(0))
    return CostEstimate(total_fcfa=total, lines=lines, notes=notes, provider=provider)
