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
``audio_fallbacks``; ``fallback_counts()`` returns the most-needed missing recordings.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from flask import current_app
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from content.recordings import find_recording
from core.db import db
from core.voice import Utterance
from ivr.menu import Line, Prompt
from ivr.models import AudioFallback
from ivr.prompts import is_template, prompt

_TTS_BAMBARA = str.maketrans({"ɛ": "è", "ɔ": "ò", "ɲ": "gn", "ŋ": "ng", "Ɛ": "È", "Ɔ": "Ò", "Ɲ": "Gn", "Ŋ": "Ng"})


def transliterate_for_tts(text: str) -> str:
    """Bambara letters a French voice cannot read, in the older spelling it can: ``Ɲɛ`` → ``Gnè``."""
    return text.translate(_TTS_BAMBARA)


def audio_url(path: Path, lang: str, stem: str) -> str:
    base = current_app.config["KALANSO"].public_base_url
    return f"{base}/audio/{lang}/{stem}{path.suffix}"


def _recording_url(lang: str, stem: str) -> str | None:
    path = find_recording(current_app.config["KALANSO_AUDIO_DIR"], lang, stem)
    return audio_url(path, lang, stem) if path is not None else None


def utterance(line: Line, lang: str, *, count: bool = True, now: datetime | None = None) -> Utterance:
    """One line in ``lang`` (a prompt may force its own language) with its recording or fallback."""
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
    url = _recording_url(lang, stem)
    alt = None
    if url is None:
        alt = _recording_url("fr", localized.recording("fr")) if lang == "bm" else None
        if count and counted and now is not None:
            count_fallback(lang, stem, now)
    return Utterance(text=text, lang=lang, stem=stem, audio_url=url, tts_text=_tts(text, lang), alt_audio_url=alt)


def utterances(lines, lang: str, now: datetime) -> tuple[Utterance, ...]:
    return tuple(utterance(line, lang, now=now) for line in lines)


def _tts(text: str, lang: str) -> str:
    return transliterate_for_tts(text) if lang == "bm" else text


def count_fallback(lang: str, stem: str, now: datetime) -> None:
    """One more time ``stem`` was spoken without its ``lang`` recording (an atomic upsert)."""
    insert = postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(AudioFallback).values(lang=lang, stem=stem, count=1, first_at=now, last_at=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=["lang", "stem"],
        set_={"count": AudioFallback.__table__.c["count"] + 1, "last_at": now},
    )
    db.session.execute(stmt)


def fallback_counts(lang: str | None = None, limit: int | None = None) -> list[tuple[str, str, int, datetime]]:
    """(language, stem, times, last time) of texts spoken without their recording, most-needed first."""
    query = select(AudioFallback.lang, AudioFallback.stem, AudioFallback.count, AudioFallback.last_at).order_by(
        AudioFallback.count.desc(), AudioFallback.lang, AudioFallback.stem
    )
    if lang:
        query = query.where(AudioFallback.lang == lang)
    if limit:
        query = query.limit(limit)
    return [tuple(row) for row in db.session.execute(query)]
