"""The studio's rules, shared by the phone studio (``ivr``), the dashboard's pages and the commands.

- Every text the line speaks is a ``StudioText``: its recording stem, where it is, its text per language (the
  courses' texts and the voice prompts, in listening order).
- ``store`` keeps a new recording of a text: normalised for the phone (``studio.audio``), kept by
  ``studio.storage`` (a file where the voice line looks first, ``<audio>/<lang>/<stem>.wav``, or an object in an
  S3-compatible store), the previous one kept as history; at most one current recording per text and language (a
  partial unique index).
- ``approve`` / ``reject``: by a reviewer who is not its recorder. ``set_review``: a text's review state.
- The studio PIN: 4 to 8 digits, Argon2-hashed like passwords; ``studio_user`` finds who may record by phone.
  ``enter_pin`` counts the wrong PINs typed in a row across calls (caller ID can be forged): at ``PIN_LOCK_AFTER``
  the phone studio is locked for that user until they choose a new PIN on the dashboard.
- ``most_needed``: the texts of a language without a recording, the ones callers hit most often first.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm.attributes import set_committed_value

from accounts import audit
from accounts.models import User
from accounts.passwords import hash_password, verify
from accounts.roles import Permission, allowed
from content.loader import Catalog
from content.model import Localized, localized_texts
from content.recordings import forget_recordings
from core.db import db
from core.phones import mask_phone
from studio.audio import normalise
from studio.models import AudioFallback, Recording, RecordingSource, RecordingStatus, ReviewStatus, TextReview
from studio.playback import forget as forget_published
from studio.storage import S3, ObjectStorage, storage

log = logging.getLogger(__name__)

PIN_LENGTHS = (4, 8)
PIN_LOCK_AFTER = 10  # wrong studio PINs in a row, across calls, that lock the phone studio until a new PIN


class StudioRefused(ValueError):
    """What cannot be done; the message, in French, says why (shown as is to the person)."""


@dataclass(frozen=True)
class StudioText:
    stem: str
    where: str  # "money › saving-a-little › small-sums", "prompt goodbye"
    text: Localized
    course_id: str = ""  # "" for a voice prompt
    lesson_id: str = ""


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def studio_texts(catalog: Catalog, prompts: Mapping[str, Localized] | None = None) -> list[StudioText]:
    """Every text to record: each course's texts in listening order (a test's questions once), then the voice
    prompts (``ivr.prompts.load_prompts()``, passed by the caller: the channels sit above the studio). Prompts with
    placeholders are spoken by text-to-speech and left out by the caller."""
    out: list[StudioText] = []
    seen: set[str] = set()
    for course in catalog:
        for where, localized in localized_texts(course):
            stem = localized.audio["bm"]
            if stem in seen:
                continue
            seen.add(stem)
            parts = stem.split("/")
            lesson_id = parts[1] if len(parts) > 2 else ""
            out.append(StudioText(stem, where, localized, course.id, lesson_id))
    for key, localized in (prompts or {}).items():
        stem = localized.audio["bm"]
        if stem not in seen:
            seen.add(stem)
            out.append(StudioText(stem, f"prompt {key}", localized))
    return out


def audio_dir() -> Path:
    return Path(current_app.config["KALANSO_AUDIO_DIR"])


def current_recording(lang: str, stem: str, *, lock: bool = False) -> Recording | None:
    query = select(Recording).where(Recording.lang == lang, Recording.stem == stem, Recording.replaced_at.is_(None))
    if lock:
        query = query.with_for_update()
    return db.session.scalars(query).first()


def current_recordings(lang: str | None = None) -> dict[tuple[str, str], Recording]:
    """The current recording of every text, by (language, stem)."""
    query = select(Recording).where(Recording.replaced_at.is_(None))
    if lang:
        query = query.where(Recording.lang == lang)
    return {(r.lang, r.stem): r for r in db.session.scalars(query)}


def store(
    lang: str,
    stem: str,
    data: bytes,
    *,
    source: RecordingSource,
    user: User | None,
    text: str,
    now: datetime,
) -> Recording:
    """Keep a new recording of ``stem`` in ``lang`` (the caller commits): normalised, written where the voice line
    plays it from the next call, the previous one kept as history. ``AudioRefused`` for a bad file."""
    if user is not None and not allowed(user.role, Permission.RECORD):
        raise StudioRefused("Votre rôle ne permet pas d'enregistrer.")
    if not _safe_stem(stem) or lang not in ("bm", "fr"):
        raise StudioRefused("Ce texte n'existe pas.")
    sound = normalise(data)
    previous = current_recording(lang, stem, lock=True)
    file = storage().save(lang, stem, sound.wav, previous)  # StorageError: nothing kept, try again later
    if previous is not None:
        previous.replaced_at = now
        db.session.flush()  # the old row leaves the "current" index before the new one enters it
    recording = Recording(
        lang=lang,
        stem=stem,
        file=file,
        source=source,
        status=RecordingStatus.RECORDED,
        duration_ms=sound.duration_ms,
        text_hash=text_hash(text),
        recorded_by=user.id if user is not None else None,
        created_at=now,
    )
    db.session.add(recording)
    db.session.flush()
    forget_recordings()  # this process plays it from now on; the others within CACHE_SECONDS (30 s)
    forget_published()
    return recording


def push_recordings() -> tuple[int, list[Recording]]:
    """Copy the recordings kept as files on this machine (made before ``RECORDINGS_STORAGE`` was set) into the object
    store, and point them there (the caller commits). Returns how many moved, and those whose file is missing."""
    target = storage()
    if not isinstance(target, ObjectStorage):
        raise StudioRefused("RECORDINGS_STORAGE n'est pas réglé : il n'y a pas de stockage objet où copier.")
    moved, missing = 0, []
    for recording in db.session.scalars(select(Recording).where(Recording.file.not_like(f"{S3}%"))):
        path = target.files.local_path(recording.file)
        if path is None:
            missing.append(recording)
            continue
        recording.file = target.save_as_is(recording.lang, recording.stem, path.read_bytes())
        moved += 1
    db.session.flush()
    forget_published()
    return moved, missing


def approve(recording: Recording, reviewer: User, now: datetime) -> None:
    _check_reviewer(recording, reviewer)
    recording.status, recording.reviewed_by, recording.reviewed_at, recording.comment = (
        RecordingStatus.APPROVED,
        reviewer.id,
        now,
        "",
    )


def reject(recording: Recording, reviewer: User, comment: str, now: datetime) -> None:
    _check_reviewer(recording, reviewer)
    if not comment.strip():
        raise StudioRefused("Dites ce qui ne va pas, pour la personne qui enregistrera de nouveau.")
    recording.status, recording.reviewed_by, recording.reviewed_at, recording.comment = (
        RecordingStatus.REJECTED,
        reviewer.id,
        now,
        comment.strip()[:2000],
    )


def _check_reviewer(recording: Recording, reviewer: User) -> None:
    if not allowed(reviewer.role, Permission.REVIEW):
        raise StudioRefused("Votre rôle ne permet pas d'approuver un enregistrement.")
    if recording.recorded_by == reviewer.id:
        raise StudioRefused("Une autre personne doit approuver cet enregistrement : pas celle qui l'a fait.")
    if recording.replaced_at is not None:
        raise StudioRefused("Cet enregistrement a été remplacé depuis.")


def review_of(lang: str, stem: str) -> TextReview | None:
    return db.session.scalars(select(TextReview).where(TextReview.lang == lang, TextReview.stem == stem)).first()


def reviews(lang: str | None = None) -> dict[tuple[str, str], TextReview]:
    query = select(TextReview)
    if lang:
        query = query.where(TextReview.lang == lang)
    return {(r.lang, r.stem): r for r in db.session.scalars(query)}


def set_review(
    lang: str, stem: str, status: ReviewStatus, *, reviewer: User, text: str, comment: str = "", now: datetime
) -> TextReview:
    """A text's review state in one language (the caller commits). ``needs-changes`` needs a comment."""
    if not allowed(reviewer.role, Permission.REVIEW):
        raise StudioRefused("Votre rôle ne permet pas de relire.")
    if status is ReviewStatus.NEEDS_CHANGES and not comment.strip():
        raise StudioRefused("Dites ce qu'il faut changer.")
    row = review_of(lang, stem)
    if row is None:
        row = TextReview(lang=lang, stem=stem)
        db.session.add(row)
    row.status, row.comment, row.text_hash = status, comment.strip()[:2000], text_hash(text)
    row.reviewed_by, row.updated_at = reviewer.id, now
    db.session.flush()
    return row


def review_state(row: TextReview | None, text: str) -> ReviewStatus:
    """A text's state now: a review of an older text no longer counts (the text changed since: draft again)."""
    if row is None or row.text_hash != text_hash(text):
        return ReviewStatus.DRAFT
    return row.status


# --- recording by phone ----------------------------------------------------------------------------------------


def pin_problem(pin: str) -> str | None:
    low, high = PIN_LENGTHS
    if not (pin.isascii() and pin.isdigit() and low <= len(pin) <= high):
        return f"Un code de {low} à {high} chiffres."
    if len(set(pin)) == 1 or pin in "0123456789" or pin in "9876543210":
        return "Un code moins facile à deviner (pas 1111 ni 1234)."
    return None


def set_pin(user: User, pin: str) -> None:
    """A new PIN (the caller commits); it unlocks a phone studio locked by wrong PINs."""
    problem = pin_problem(pin)
    if problem:
        raise StudioRefused(problem)
    user.studio_pin_hash = hash_password(pin)
    user.studio_pin_failures = 0


def check_pin(user: User, pin: str) -> bool:
    return bool(user.studio_pin_hash) and verify(user.studio_pin_hash, pin.strip())


def pin_locked(user: User) -> bool:
    """Whether wrong PINs in a row locked this user's phone studio (until they choose a new PIN)."""
    return (user.studio_pin_failures or 0) >= PIN_LOCK_AFTER


def enter_pin(user: User, pin: str, now: datetime) -> bool:
    """A PIN typed on a call (flushes). A right one resets the count of wrong ones in a row; a wrong one adds one,
    in the database (``SET n = n + 1``: two calls at once both count), and the ``PIN_LOCK_AFTER``-th locks the phone
    studio: logged as a warning and in the audit log, with the number masked and never the PIN. Once locked, no PIN
    is right (not even checked) until a new one is chosen."""
    users = User.__table__
    if pin_locked(user):
        return False
    if check_pin(user, pin):
        if user.studio_pin_failures:
            db.session.execute(update(users).where(users.c.id == user.id).values(studio_pin_failures=0))
            set_committed_value(user, "studio_pin_failures", 0)
        return True
    count = db.session.execute(
        update(users)
        .where(users.c.id == user.id)
        .values(studio_pin_failures=users.c.studio_pin_failures + 1)
        .returning(users.c.studio_pin_failures)
    ).scalar_one()
    set_committed_value(user, "studio_pin_failures", count)
    if count == PIN_LOCK_AFTER:
        log.warning(
            "studio PIN of user %s locked after %s wrong PINs in a row (last from %s)",
            user.id, count, mask_phone(user.phone),
        )  # fmt: skip
        audit.record("studio.pin_locked", now, target=str(user.id), phone=mask_phone(user.phone), wrong=count)
        db.session.flush()
    return False


def recorder(phone: str) -> User | None:
    """The active user with this number (E.164) who may record, PIN or not (a studio call they asked for)."""
    user = db.session.scalars(select(User).where(User.phone == phone, User.active.is_(True))).first()
    if user is None or not allowed(user.role, Permission.RECORD):
        return None
    return user


def studio_user(phone: str) -> User | None:
    """The active user who may record by phone from this number (E.164), with a studio PIN set and not locked by
    wrong PINs."""
    user = recorder(phone)
    if user is None or not user.studio_pin_hash or pin_locked(user):
        return None
    return user


def most_needed(texts: Iterable[StudioText], lang: str, *, limit: int | None = None) -> list[StudioText]:
    """The texts of ``lang`` without a recording by a person: those callers heard without it most often first, then in
    listening order. ``content.recordings.find_recorded`` decides (a file committed with the content counts)."""
    from content.recordings import find_recorded

    base = audio_dir()
    counts = dict(
        db.session.execute(select(AudioFallback.stem, AudioFallback.count).where(AudioFallback.lang == lang)).all()
    )
    made = {stem for (_, stem) in current_recordings(lang)}  # in object storage they are not files here
    missing = [(n, t) for n, t in enumerate(texts) if t.stem not in made and find_recorded(base, lang, t.stem) is None]
    missing.sort(key=lambda pair: (-counts.get(pair[1].stem, 0), pair[0]))
    found = [t for _, t in missing]
    return found[:limit] if limit else found


def _safe_stem(stem: str) -> bool:
    parts = stem.split("/")
    return bool(stem) and len(stem) <= 200 and all(p and p not in (".", "..") and not p.startswith(".") for p in parts)
