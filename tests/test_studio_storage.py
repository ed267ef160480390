"""Recordings in an S3-compatible object store (studio/storage.py, RECORDINGS_STORAGE=s3://bucket/prefix): kept under
keys that never change, played by the voice line through its audio URL (a copy fetched on first use), replaced ones
kept as history; a store that refuses loses nothing and says so; ``flask studio push`` moves the recordings made
before; the settings are checked. moto's in-process S3 stands in for the store (no network)."""

from __future__ import annotations

import hashlib
import shutil

import pytest
from sqlalchemy import func, select

from core.config import ConfigError, Settings
from core.db import db
from ivr.audio import utterance
from ivr.menu import Prompt
from ivr.models import StudioTake, TakeStatus
from ivr.studio_fetch import fetch_pending
from studio.models import Recording, RecordingSource
from studio.playback import forget as forget_published
from studio.service import current_recording, store
from studio.storage import FileStorage, ObjectStorage, make_client, storage
from tests import voice_support as w
from tests.conftest import NOW
from tests.dashboard_support import Role, sign_in
from tests.storage_support import BUCKET, PREFIX, keys, object_storage
from tests.test_studio_items import PAGE, send
from tests.test_studio_service import tone

PROMPT = "prompts/language-menu"
BASE = w.BASE


@pytest.fixture
def s3(app, tmp_path, audio):
    with object_storage(app, tmp_path / "cache") as client:
        yield client


def _object(s3, key: str) -> bytes:
    return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()


def _line_url(app, lang: str = "bm", stem: str = PROMPT) -> str | None:
    with app.test_request_context():
        return utterance(Prompt(stem.removeprefix("prompts/")), lang, count=False).audio_url


def test_a_recording_uploaded_in_the_browser_goes_to_the_object_store(app, client, make_user, s3, audio, tmp_path):
    editor = make_user(Role.EDITOR)
    sign_in(client, editor)
    answer = send(client, tone(seconds=1.0))
    assert answer.status_code == 303, answer.get_data(as_text=True)
    recording = current_recording("bm", "money/saving-a-little/small-sums")
    (key,) = keys(s3)
    digest = hashlib.sha256(_object(s3, key)).hexdigest()[:16]
    assert key == f"{PREFIX}/bm/money/saving-a-little/small-sums.{digest}.wav"
    assert recording.file == f"s3://{BUCKET}/{key}" and recording.source is RecordingSource.UPLOAD
    assert not (audio / "bm").exists()  # nothing in the audio folder: every machine plays the object

    # the item page plays it (from the copy the storing process kept, then from the store itself)
    with client.get(f"/dashboard/studio/audio/{recording.id}") as heard:
        assert heard.status_code == 200 and heard.data == _object(s3, key)
    shutil.rmtree(tmp_path / "cache")
    with client.get(f"/dashboard/studio/audio/{recording.id}") as again:
        assert again.status_code == 200 and again.data == _object(s3, key)
    assert PAGE and client.get(PAGE).status_code == 200


def test_the_line_plays_the_object_by_a_versioned_url_and_a_new_take_changes_it(app, client, make_user, s3, tmp_path):
    editor = make_user(Role.EDITOR)
    first = store("bm", PROMPT, tone(seconds=1.0), source=RecordingSource.UPLOAD, user=editor, text="x", now=NOW)
    db.session.commit()
    assert _line_url(app) == f"{BASE}/audio/bm/{PROMPT}.wav?v={first.id}"

    # another web process (no copy yet) serves the provider's request from the store
    shutil.rmtree(tmp_path / "cache")
    forget_published()
    with client.get(f"/audio/bm/{PROMPT}.wav?v={first.id}") as played:
        assert played.status_code == 200 and played.mimetype == "audio/wav"
        assert played.data == _object(s3, first.file.split("/", 3)[3])
        assert "max-age" in played.headers["Cache-Control"]  # safe to cache: the URL changes with the recording
    old = played.data

    # a new take: a new object and a new URL; the replaced one keeps its object, as history
    second = store("bm", PROMPT, tone(seconds=2.0), source=RecordingSource.UPLOAD, user=editor, text="x", now=NOW)
    db.session.commit()
    assert len(keys(s3)) == 2 and first.replaced_at is not None and first.file != second.file
    assert _line_url(app) == f"{BASE}/audio/bm/{PROMPT}.wav?v={second.id}"
    with client.get(f"/audio/bm/{PROMPT}.wav?v={second.id}") as played:
        assert played.status_code == 200 and played.data != old
    assert client.get(f"/dashboard/studio/audio/{first.id}").status_code == 302  # signed out: the sign-in page
    sign_in(client, editor)
    with client.get(f"/dashboard/studio/audio/{first.id}") as history:
        assert history.data == old  # the history still plays


def test_a_store_that_refuses_keeps_nothing_and_says_so(app, client, make_user, audio, tmp_path):
    editor = make_user(Role.EDITOR)
    sign_in(client, editor)
    with object_storage(app, tmp_path / "cache", bucket=False):
        answer = send(client, tone(seconds=1.0))
        page = answer.get_data(as_text=True)
        assert answer.status_code == 503
        assert "Le stockage des enregistrements ne répond pas : rien n&#39;a été gardé." in page
        assert db.session.scalar(select(func.count()).select_from(Recording)) == 0
        assert _line_url(app) is None  # the line goes on with its fallback

        # a take kept by phone waits for the store: tried again, not failed
        take = StudioTake(provider="local", recording_key="k1", url="http://local/take.wav", lang="bm", stem=PROMPT,
                          user_id=editor.id, call_session_id=None, created_at=NOW, updated_at=NOW)  # fmt: skip
        db.session.add(take)
        db.session.commit()
        import ivr.studio_fetch as fetch

        real = fetch.FETCHERS["local"]
        fetch.FETCHERS["local"] = lambda url, settings: tone(seconds=1.0)
        try:
            assert fetch_pending(NOW) == {"stored": 0, "retry": 1, "failed": 0}
        finally:
            fetch.FETCHERS["local"] = real
        db.session.refresh(take)
        assert take.status is TakeStatus.PENDING and "object storage did not keep" in take.error


def test_push_moves_the_recordings_made_before_into_the_store(app, runner, make_user, audio, tmp_path):
    editor = make_user(Role.EDITOR)
    made = store("bm", PROMPT, tone(seconds=1.0), source=RecordingSource.UPLOAD, user=editor, text="x", now=NOW)
    db.session.commit()
    assert made.file == f"bm/{PROMPT}.wav" and (audio / made.file).is_file()
    assert runner.invoke(args=["studio", "push"]).exit_code == 1  # no object store set: said, nothing done

    with object_storage(app, tmp_path / "cache") as s3:
        result = runner.invoke(args=["studio", "push"])
        assert result.exit_code == 0, result.output
        assert "copied 1 recording(s) to the object store; 0 missing" in result.output
        db.session.expire_all()
        moved = db.session.get(Recording, made.id)
        (key,) = keys(s3)
        assert (
            moved.file == f"s3://{BUCKET}/{key}" and _object(s3, key) == (audio / "bm" / f"{PROMPT}.wav").read_bytes()
        )
        forget_published()
        assert _line_url(app) == f"{BASE}/audio/bm/{PROMPT}.wav?v={made.id}"
        again = runner.invoke(args=["studio", "push"])
        assert "copied 0 recording(s)" in again.output and len(keys(s3)) == 1  # twice changes nothing


def test_files_stay_the_default_and_the_line_url_carries_the_version(app, make_user, audio):
    with app.test_request_context():
        assert isinstance(storage(), FileStorage)
    editor = make_user(Role.EDITOR)
    made = store("bm", PROMPT, tone(seconds=1.0), source=RecordingSource.UPLOAD, user=editor, text="x", now=NOW)
    db.session.commit()
    assert _line_url(app) == f"{BASE}/audio/bm/{PROMPT}.wav?v={made.id}"
    # a recording in a store the settings no longer name is not offered to the line (it could not be served)
    made.file = f"s3://{BUCKET}/{PREFIX}/bm/{PROMPT}.0000.wav"
    db.session.commit()
    forget_published()
    assert _line_url(app) is None


def test_keys_outside_the_bucket_are_never_read(app, s3):
    with app.test_request_context():
        target = storage()
        assert isinstance(target, ObjectStorage) and target.prefix == f"{PREFIX}/"
        assert target.local_path("s3://another-bucket/studio/bm/x.wav") is None
        assert target.local_path(f"s3://{BUCKET}/studio/../../etc/passwd") is None
        assert target.local_path(f"s3://{BUCKET}/studio/bm/missing.wav") is None  # not in the store: None, logged
        assert target.local_path("../../etc/passwd") is None  # a file outside the audio folder


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("", True),
        ("s3://kalanso-audio", True),
        ("s3://kalanso-audio/mali/studio/", True),
        ("s3://Kalanso", False),  # bucket names are lower case
        ("s3://ab", False),
        ("https://kalanso-audio", False),
        ("/var/kalanso", False),
        ("s3://kalanso-audio/../x", False),
    ],
)
def test_recordings_storage_setting(value, ok):
    env = {"RECORDINGS_STORAGE": value}
    if ok:
        settings = Settings.from_env(env)
        assert settings.recordings_storage == value.rstrip("/")
    else:
        with pytest.raises(ConfigError, match="RECORDINGS_STORAGE"):
            Settings.from_env(env)


def test_object_store_credentials_and_endpoint():
    settings = Settings.from_env({
        "RECORDINGS_STORAGE": "s3://kalanso-audio",
        "S3_ENDPOINT_URL": "https://s3.fr-par.scw.cloud",
        "S3_REGION": "fr-par",
        "AWS_ACCESS_KEY_ID": "SCW7TK3M9Q2R4B8N1V5C",
        "AWS_SECRET_ACCESS_KEY": "a-secret-value-0123456789",
    })  # fmt: skip
    assert settings.s3_access_key_id == "SCW7TK3M9Q2R4B8N1V5C" and settings.s3_region == "fr-par"
    assert "a-secret-value-0123456789" in settings.secrets  # never in a log line (core.logs)
    client = make_client(settings)
    assert client.meta.endpoint_url == "https://s3.fr-par.scw.cloud" and client.meta.region_name == "fr-par"
    assert client.meta.config.s3 == {"addressing_style": "path"}  # MinIO and most S3-compatible stores
    with pytest.raises(ConfigError, match="S3_ENDPOINT_URL"):
        Settings.from_env({"S3_ENDPOINT_URL": "s3.fr-par.scw.cloud"})
