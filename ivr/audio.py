"""What a caller hears: each line becomes a recording, or a fallback that is never silence.

Resolution of one text in language ``lang`` (the provider modules apply the last step):

1. its recording in ``lang`` (``content/audio/<lang>/<stem>.wav|.mp3``, via ``content.audio.find_recording``),
   played from ``<PUBLIC_BASE_URL>/audio/<lang>/<stem>.<ext>``;
2. French without a recording: French text-to-speech (Twilio ``<Say language="fr-FR">``);
3. Bambara without a recording (the case for every Bambara text today): the Bambara text,
   transliterated for a French voice (ɛ→è, ɔ→ò, ɲ→gn, ŋ→ng), read by French TTS on Twilio. On
   Africa's Talking, whose ``<Say>`` only reads English, the French recording of the same item is
   played when there is one, else the transliterated text is read by ``<Say>`` — never silence.

Every fallback (no recording in the caller's language) is counted per language and stem in
``audio_fallbacks`` — in memory first, written in one short sorted upsert off the turn's transaction
(``FallbackCounter``); ``fallback_counts()`` returns the most-needed missing recordings.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from pathlib import Path

from flask import current_app
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from content.recordings import cached_recording
from core.db import db
from core.voice import Utterance
from ivr.menu import Line, Prompt
from ivr.models import AudioFallback
from ivr.prompts import is_template, prompt
from studio.playback import published

log = logging.getLogger(__name__)
_TTS_BAMBARA = str.maketrans({"ɛ": "è", "ɔ": "ò", "ɲ": "gn", "ŋ": "ng", "Ɛ": "È", "Ɔ": "Ò", "Ɲ": "Gn", "Ŋ": "Ng"})


def transliterate_for_tts(text: str) -> str:
    """Bambara letters a French voice cannot read, in the older spelling it can: ``Ɲɛ`` → ``Gnè``."""
    return text.translate(_TTS_BAMBARA)


def audio_url(path: Path, lang: str, stem: str) -> str:
    base = current_app.config["KALANSO"].public_base_url
    return f"{base}/audio/{lang}/{stem}{path.suffix}"


def _recording_url(lang: str, stem: str, studio: bool = True) -> str | None:
    """The URL of what to play: the studio's current recording (its id in the URL, so no provider's cache plays a
    replaced take), else a file shipped with the content or generated. ``studio=False``: files only (no database)."""
    mine = published(lang, stem) if studio else None
    if mine is not None and mine.remote:  # in object storage: the audio route serves a copy
        return recording_url(lang, stem, mine.id) if current_app.config["KALANSO"].recordings_storage else None
    path = cached_recording(current_app.config["KALANSO_AUDIO_DIR"], lang, stem)
    if path is None:
        return None
    if mine is not None and path.suffix == ".wav":
        return recording_url(lang, stem, mine.id)
    return audio_url(path, lang, stem)


def recording_url(lang: str, stem: str, recording_id: int) -> str:
    base = current_app.config["KALANSO"].public_base_url
    return f"{base}/audio/{lang}/{stem}.wav?v={recording_id}"


def utterance(
    line: Line, lang: str, *, count: bool = True, now: datetime | None = None, studio: bool = True
) -> Utterance:
    """One line in ``lang`` (a prompt may force its own language) with its recording or fallback. ``studio=False``
    never asks the database (the studio's recordings are then only found as files): for the polite end of a request
    the database could not serve."""
    if isinstance(line, Prompt):
        lang = line.lang or lang
        localized = prompt(line.key)
        text = localized.text(lang)
        if line.params:  # filled with numbers: text-to-speech only, not a missing recording
            text = text.format(**dict(line.params))
            return Utterance(text=text, lang=lang, stem=localized.recording(lang), tts_text=_tts(text, lang))
        counted = not is_template(line.key)
    else:
        localized = line.text
        text = localized.text(lang)
        counted = True
    stem = localized.recording(lang)
    url = _recording_url(lang, stem, studio)
    alt = None
    if url is None:
        alt = _recording_url("fr", localized.recording("fr"), studio) if lang == "bm" else None
        if count and counted and now is not None:
            count_fallback(lang, stem, now)
    return Utterance(text=text, lang=lang, stem=stem, audio_url=url, tts_text=_tts(text, lang), alt_audio_url=alt)


def utterances(lines, lang: str, now: datetime) -> tuple[Utterance, ...]:
    return tuple(utterance(line, lang, now=now) for line in lines)


def _tts(text: str, lang: str) -> str:
    return transliterate_for_tts(text) if lang == "bm" else text


class FallbackCounter:
    """Fallbacks counted in memory and written in one short upsert, off the turns' transactions: a hot
    counter row can never slow a turn down or end a call. Keys are written in sorted order, so two
    processes flushing at once lock the same rows in the same order (no deadlock). Counts that cannot
    be written (the database is down) are kept for the next flush."""

    FLUSH_SECONDS = 10.0
    FLUSH_KEYS = 500

    def __init__(self):
        self.lock = threading.Lock()
        self.pending: dict[tuple[str, str], list] = {}  # (lang, stem) -> [count, first_at, last_at]
        self.flushed_at = time.monotonic()

    def add(self, lang: str, stem: str, now: datetime) -> None:
        with self.lock:
            entry = self.pending.get((lang, stem))
            if entry is None:
                self.pending[(lang, stem)] = [1, now, now]
            else:
                entry[0] += 1
                entry[2] = max(entry[2], now)

    def due(self) -> bool:
        return bool(self.pending) and (
            len(self.pending) >= self.FLUSH_KEYS or time.monotonic() - self.flushed_at >= self.FLUSH_SECONDS
        )

    def flush(self, engine) -> int:
        """Write what was counted (its own transaction); the number of stems written."""
        with self.lock:
            taken, self.pending = self.pending, {}
            self.flushed_at = time.monotonic()
        if not taken:
            return 0
        insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        rows = [
            {"lang": lang, "stem": stem, "count": n, "first_at": first, "last_at": last}
            for (lang, stem), (n, first, last) in sorted(taken.items())
        ]
        stmt = insert(AudioFallback.__table__)
        stmt = stmt.on_conflict_do_update(
            index_elements=["lang", "stem"],
            set_={
                "count": AudioFallback.__table__.c["count"] + stmt.excluded["count"],
                "last_at": stmt.excluded.last_at,
            },
        )
        try:
            with engine.begin() as conn:
                conn.execute(stmt, rows)
        except Exception as exc:
            log.warning("audio fallback counts not written yet (%s): kept for the next flush", exc.__class__.__name__)
            with self.lock:
                for (lang, stem), (n, first, last) in taken.items():
                    entry = self.pending.setdefault((lang, stem), [0, first, last])
                    entry[0] += n
            return 0
        return len(rows)


FALLBACKS = FallbackCounter()


def count_fallback(lang: str, stem: str, now: datetime) -> None:
    """One more time ``stem`` was spoken without its ``lang`` recording (counted in memory)."""
    FALLBACKS.add(lang, stem, now)


def flush_fallbacks(*, force: bool = False) -> int:
    """Write the counted fallbacks when it is time (after a turn's commit), or now."""
    if force or FALLBACKS.due():
        return FALLBACKS.flush(db.engine)
    return 0


def fallback_counts(lang: str | None = None, limit: int | None = None) -> list[tuple[str, str, int, datetime]]:
    """(language, stem, times, last time) of texts spoken without their recording, most-needed first."""
    flush_fallbacks(force=True)
    query = select(AudioFallback.lang, AudioFallback.stem, AudioFallback.count, AudioFallback.last_at).order_by(
        AudioFallback.count.desc(), AudioFallback.lang, AudioFallback.stem
    )
    if lang:
        query = query.where(AudioFallback.lang == lang)
    if limit:
        query = query.limit(limit)
    return [tuple(row) for row in db.session.execute(query)]
