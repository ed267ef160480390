"""The studio's rules (studio/service.py, studio/audio.py): a recording kept, normalised and played from the next
call, the previous one kept as history; approval only by another reviewer; review states that lapse when the text
changes; the studio PIN; the most-needed recordings first."""

from __future__ import annotations

import io
import logging
import math
import struct
import wave

import pytest
from sqlalchemy import create_engine, select, text

from accounts.models import AuditEvent, User
from accounts.roles import Role
from content.recordings import cached_recording
from core.db import db
from studio.audio import AudioRefused, normalise
from studio.models import AudioFallback, Recording, RecordingSource, RecordingStatus, ReviewStatus
from studio.service import (
    PIN_LOCK_AFTER,
    StudioRefused,
    approve,
    check_pin,
    current_recording,
    enter_pin,
    most_needed,
    pin_locked,
    recorder,
    reject,
    review_of,
    review_state,
    set_pin,
    set_review,
    store,
    studio_texts,
    studio_user,
)
from tests.conftest import NOW


def tone(seconds: float = 1.5, rate: int = 8000, silence: float = 0.5) -> bytes:
    """A WAV: silence, a 440 Hz tone, silence (what a person saying something looks like to the trimmer)."""
    buf = io.BytesIO()
    quiet = int(silence * rate)
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        samples = [0] * quiet + [int(9000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(int(seconds * rate))]
        w.writeframes(struct.pack(f"<{len(samples) + quiet}h", *samples, *([0] * quiet)))
    return buf.getvalue()


STEM = "money/saving-a-little/small-sums"


def test_normalise_makes_a_mono_16khz_wav_without_the_silence_around():
    sound = normalise(tone(seconds=1.5, silence=1.0))
    with wave.open(io.BytesIO(sound.wav)) as w:
        assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (1, 16000, 2)
    assert 1500 <= sound.duration_ms <= 2100  # the second of silence on each side is trimmed, a margin kept


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "vide"),
        (b"<html>not a sound</html>" * 20, "pas un son lisible"),
        (tone(seconds=0.05), "vide ou presque"),
    ],
)
def test_what_is_not_a_recording_is_refused_in_words(data, why):
    with pytest.raises(AudioRefused, match=why):
        normalise(data)


def test_a_recording_is_played_from_the_next_call_and_the_previous_one_kept(audio, make_user):
    editor = make_user(Role.EDITOR)
    first = store("bm", STEM, tone(), source=RecordingSource.BROWSER, user=editor, text="...", now=NOW)
    db.session.commit()
    target = audio / "bm" / f"{STEM}.wav"
    assert target.is_file() and first.file == f"bm/{STEM}.wav"
    assert cached_recording(audio, "bm", STEM) == target  # heard at once in this process
    second = store("bm", STEM, tone(2.0), source=RecordingSource.PHONE, user=editor, text="...", now=NOW)
    db.session.commit()
    assert current_recording("bm", STEM).id == second.id
    old = db.session.get(Recording, first.id)
    assert old.replaced_at == NOW and (audio / old.file).is_file() and old.file.startswith(".history/bm/")
    assert len(db.session.scalars(select(Recording)).all()) == 2


def test_only_another_reviewer_approves(audio, make_user):
    editor, reviewer, other = make_user(Role.EDITOR), make_user(Role.REVIEWER), make_user(Role.REVIEWER)
    mine = store("bm", STEM, tone(), source=RecordingSource.UPLOAD, user=reviewer, text="...", now=NOW)
    with pytest.raises(StudioRefused, match="pas celle qui l'a fait"):
        approve(mine, reviewer, NOW)
    with pytest.raises(StudioRefused, match="rôle"):
        approve(mine, editor, NOW)
    with pytest.raises(StudioRefused, match="Dites ce qui ne va pas"):
        reject(mine, other, "  ", NOW)
    approve(mine, other, NOW)
    assert (mine.status, mine.reviewed_by) == (RecordingStatus.APPROVED, other.id)


def test_a_viewer_cannot_record(audio, make_user):
    with pytest.raises(StudioRefused):
        store("bm", STEM, tone(), source=RecordingSource.UPLOAD, user=make_user(Role.VIEWER), text="", now=NOW)


@pytest.mark.parametrize("stem", ["../../etc/passwd", "money/.hidden", "", "a//b"])
def test_a_stem_never_leaves_the_audio_folder(audio, make_user, stem):
    with pytest.raises(StudioRefused):
        store("bm", stem, tone(), source=RecordingSource.UPLOAD, user=make_user(Role.EDITOR), text="", now=NOW)


def test_a_review_lapses_when_its_text_changes(app, make_user):
    reviewer = make_user(Role.REVIEWER)
    with pytest.raises(StudioRefused, match="Dites ce qu'il faut changer"):
        set_review("bm", STEM, ReviewStatus.NEEDS_CHANGES, reviewer=reviewer, text="A", now=NOW)
    set_review("bm", STEM, ReviewStatus.REVIEWED, reviewer=reviewer, text="A", now=NOW)
    row = review_of("bm", STEM)
    assert review_state(row, "A") is ReviewStatus.REVIEWED
    assert review_state(row, "A, changed") is ReviewStatus.DRAFT
    with pytest.raises(StudioRefused):
        set_review("bm", STEM, ReviewStatus.REVIEWED, reviewer=make_user(Role.EDITOR), text="A", now=NOW)


@pytest.mark.parametrize(("pin", "ok"), [("4821", True), ("90817263", True), ("1111", False), ("1234", False),
                                         ("12a4", False), ("123", False), ("123456789", False)])  # fmt: skip
def test_the_studio_pin(app, make_user, pin, ok):
    user = make_user(Role.EDITOR, phone="+22376000009")
    if not ok:
        with pytest.raises(StudioRefused):
            set_pin(user, pin)
        return
    set_pin(user, pin)
    db.session.commit()
    assert check_pin(user, pin) and not check_pin(user, "0000")
    assert studio_user("+22376000009") == user
    user.active = False
    assert studio_user("+22376000009") is None


def _failures(user: User) -> int:
    return db.session.scalar(select(User.studio_pin_failures).where(User.id == user.id))


def test_wrong_pins_in_a_row_lock_the_phone_studio_until_a_new_pin(backend, app, make_user, caplog):
    caplog.set_level(logging.INFO)
    user = make_user(Role.EDITOR, phone="+22376000009")
    set_pin(user, "4821")
    db.session.commit()
    assert _failures(user) == 0
    for n in range(1, PIN_LOCK_AFTER - 1):  # wrong PINs, on any number of calls: counted in the database
        assert not enter_pin(user, "0000", NOW)
        assert _failures(user) == n
    assert enter_pin(user, "4821", NOW) and _failures(user) == 0  # a right PIN: the count starts again
    for n in range(1, PIN_LOCK_AFTER):
        enter_pin(user, f"9{n:03d}", NOW)
    db.session.commit()
    assert studio_user("+22376000009") == user and not pin_locked(user)  # one try left
    assert "locked" not in caplog.text
    assert not enter_pin(user, "8888", NOW)
    db.session.commit()
    assert _failures(user) == PIN_LOCK_AFTER and pin_locked(user)
    assert studio_user("+22376000009") is None  # the number hears the listener line
    assert recorder("+22376000009") == user  # still a person who may record (a call they ask for while signed in)
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.name == "studio.service" and "locked after 10 wrong PINs" in warning.getMessage()
    for secret in ("+22376000009", "4821", "8888", "0000"):
        assert secret not in caplog.text
    locked = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "studio.pin_locked")).one()
    assert (locked.target, locked.user_id) == (str(user.id), None)  # done by whoever called, not by the user
    assert locked.detail == {"phone": "+2237600****", "wrong": PIN_LOCK_AFTER}
    assert not enter_pin(user, "4821", NOW) and pin_locked(user)  # once locked, even the right PIN is refused
    set_pin(user, "5938")  # a new PIN on the dashboard unlocks
    db.session.commit()
    assert _failures(user) == 0 and studio_user("+22376000009") == user


@pytest.mark.parametrize("backend", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_a_wrong_pin_adds_to_the_count_in_the_database_not_to_what_was_read(backend, app, make_user, database_url):
    """Two calls at once each add their wrong PIN: the count is raised in the database (``n = n + 1``), never
    written back from a value read before the other call's. (PostgreSQL: on SQLite a transaction holds the write
    lock from its start, so nothing can change under it.)"""
    user = make_user(Role.EDITOR, phone="+22376000009")
    set_pin(user, "4821")
    db.session.commit()
    assert user.studio_pin_failures == 0  # read: what a read-modify-write would write back plus one
    other = create_engine(database_url)
    with other.begin() as conn:  # another call's wrong PIN, committed meanwhile
        raised = text("UPDATE users SET studio_pin_failures = studio_pin_failures + 1 WHERE id = :id")
        conn.execute(raised, {"id": user.id})
    other.dispose()
    assert not enter_pin(user, "0000", NOW)
    db.session.commit()
    assert _failures(user) == 2 and user.studio_pin_failures == 2


def test_an_agent_with_a_pin_is_no_studio_user(app, make_user):
    agent = make_user(Role.AGENT, phone="+22376000008")
    agent.studio_pin_hash = "x"
    assert studio_user("+22376000008") is None


def test_the_most_needed_first_then_in_listening_order(audio, catalog, make_user):
    texts = studio_texts(catalog)
    db.session.add(AudioFallback(lang="bm", stem=texts[5].stem, count=9, first_at=NOW, last_at=NOW))
    db.session.add(AudioFallback(lang="bm", stem=texts[3].stem, count=2, first_at=NOW, last_at=NOW))
    store("bm", texts[0].stem, tone(), source=RecordingSource.UPLOAD, user=make_user(Role.EDITOR), text="", now=NOW)
    needed = most_needed(texts, "bm")
    assert [t.stem for t in needed[:3]] == [texts[5].stem, texts[3].stem, texts[1].stem]
    assert texts[0].stem not in {t.stem for t in needed}
    assert len(needed) == len(texts) - 1
