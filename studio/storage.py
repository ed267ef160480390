"""Where the studio keeps its recordings: files on this machine (the default) or an S3-compatible object store.

- ``RECORDINGS_STORAGE`` empty: a recording is the file the voice line looks for first,
  ``<audio>/<lang>/<stem>.wav``; the one it replaces is moved to ``<audio>/.history/<lang>/<stem>.<id>.wav``. Right
  for one machine.
- ``RECORDINGS_STORAGE=s3://bucket/prefix``: every recording is an object in an S3-compatible store (AWS S3, or MinIO,
  Scaleway, Backblaze B2, Wasabi... with ``S3_ENDPOINT_URL``), so that every web process on every machine plays the
  same recordings. Its key never changes (``<prefix>/<lang>/<stem>.<16 hex of the sound's SHA-256>.wav``): a replaced
  recording keeps its object as history, and a copy can never go stale. Each process keeps a copy of what it served
  under ``KALANSO_AUDIO_CACHE_DIR`` (``instance/audio-cache``), fetched the first time it is asked for.

``Recording.file`` says where one recording is: a path relative to the audio folder, or ``s3://bucket/key``. Both
kinds are read whatever the setting says now (recordings made before a move to object storage go on playing until
``flask studio push`` copies them there).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from flask import current_app

log = logging.getLogger(__name__)

HISTORY_DIR = ".history"
S3 = "s3://"
CLIENT_KEY = "kalanso.s3_client"


class StorageError(RuntimeError):
    """The object store did not answer or refused: try again later (nothing was kept)."""


def is_remote(file: str) -> bool:
    return file.startswith(S3)


def _write_atomically(target: Path, data: bytes) -> None:
    """Write ``target`` so that no reader ever sees half a file (a temporary file, then a rename)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class FileStorage:
    """Recordings as files under the audio folder, where the voice line finds them."""

    audio_dir: Path
    remote = False

    def save(self, lang: str, stem: str, wav: bytes, previous: Any = None) -> str:
        """Write the new current recording of ``stem``; ``previous`` (its ``Recording``, if any) moves to the history
        first. Returns the new ``Recording.file``."""
        base = self.audio_dir
        target = base / lang / f"{stem}.wav"
        if previous is not None and not is_remote(previous.file):
            kept = base / HISTORY_DIR / lang / f"{stem}.{previous.id}.wav"
            kept.parent.mkdir(parents=True, exist_ok=True)
            if target.is_file():
                shutil.copyfile(target, kept)
            previous.file = str(kept.relative_to(base))
        mp3 = base / lang / f"{stem}.mp3"  # the voice line would otherwise find both
        if mp3.is_file():
            mp3.unlink()
        _write_atomically(target, wav)
        return str(target.relative_to(base))

    def local_path(self, file: str) -> Path | None:
        """The file of a recording on this machine, or None (outside the audio folder, or gone)."""
        if is_remote(file):
            log.warning("a recording in object storage, but RECORDINGS_STORAGE is not set: %s", file)
            return None
        base = self.audio_dir.resolve()
        path = (base / file).resolve()
        return path if path.is_relative_to(base) and path.is_file() else None


@dataclass(frozen=True)
class ObjectStorage:
    """Recordings as objects in an S3-compatible store, with a copy on this machine of each one served."""

    bucket: str
    prefix: str
    client: Any  # a boto3 S3 client
    cache_dir: Path
    files: FileStorage  # recordings made before the move to object storage
    remote = True

    def key(self, lang: str, stem: str, wav: bytes) -> str:
        digest = hashlib.sha256(wav).hexdigest()[:16]
        return f"{self.prefix}{lang}/{stem}.{digest}.wav"

    def save(self, lang: str, stem: str, wav: bytes, previous: Any = None) -> str:
        """Put the recording in the store under a key that never changes; a previous one keeps its own object as
        history (nothing to move)."""
        return self.save_as_is(lang, stem, wav)

    def save_as_is(self, lang: str, stem: str, wav: bytes) -> str:
        key = self.key(lang, stem, wav)
        self.put(key, wav)
        _write_atomically(self._cached(key), wav)  # this process plays it without fetching it back
        return f"{S3}{self.bucket}/{key}"

    def put(self, key: str, data: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType="audio/wav")
        except (BotoCoreError, ClientError) as exc:
            log.warning("object storage: could not put %s: %s", key, exc.__class__.__name__)
            raise StorageError(f"object storage did not keep the recording ({exc.__class__.__name__})") from exc

    def local_path(self, file: str) -> Path | None:
        """A copy of the recording on this machine, fetched from the store the first time; None when it cannot be."""
        if not is_remote(file):
            return self.files.local_path(file)
        bucket, _, key = file[len(S3) :].partition("/")
        if bucket != self.bucket or not _safe_key(key):
            log.warning("a recording in another bucket than RECORDINGS_STORAGE's: %s", file)
            return None
        path = self._cached(key)
        if path.is_file():
            return path
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            data = self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except (BotoCoreError, ClientError) as exc:
            log.warning("object storage: could not fetch %s: %s", key, exc.__class__.__name__)
            return None
        _write_atomically(path, data)
        return path

    def _cached(self, key: str) -> Path:
        return self.cache_dir / self.bucket / key


def _safe_key(key: str) -> bool:
    return bool(key) and all(part not in ("", ".", "..") for part in key.split("/"))


def storage() -> FileStorage | ObjectStorage:
    """The storage the settings name (``RECORDINGS_STORAGE``); the S3 client is made once per application."""
    files = FileStorage(Path(current_app.config["KALANSO_AUDIO_DIR"]))
    url = current_app.config["KALANSO"].recordings_storage
    if not url:
        return files
    parsed = urlparse(url)
    prefix = parsed.path.strip("/")
    client = current_app.extensions.get(CLIENT_KEY)
    if client is None:
        client = current_app.extensions[CLIENT_KEY] = make_client(current_app.config["KALANSO"])
    cache = Path(current_app.config["KALANSO_AUDIO_CACHE_DIR"])
    return ObjectStorage(parsed.netloc, f"{prefix}/" if prefix else "", client, cache, files)


def make_client(settings) -> Any:
    """A boto3 S3 client from the settings (empty values: boto3's own look-up, e.g. the machine's role)."""
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=3,
        read_timeout=15,
        retries={"max_attempts": 3, "mode": "standard"},
        s3={"addressing_style": "path"} if settings.s3_endpoint_url else {},  # MinIO and most others: path style
    )
    return boto3.session.Session().client(
        "s3",
        endpoint_url=settings.s3_endpoint_url or None,
        region_name=settings.s3_region or None,
        aws_access_key_id=settings.s3_access_key_id or None,
        aws_secret_access_key=settings.s3_secret_access_key or None,
        config=config,
    )
