"""Fetching the phone studio's kept takes after the call, never in a webhook: ``flask studio fetch`` and the
scheduler's ``studio-fetch`` job (every 30 s).

Each pending take (``ivr.models.StudioTake``) is fetched from its provider's storage (Twilio: with the account's
credentials, as WAV; Africa's Talking: its HTTPS URL), then stored as the text's recording
(``studio.service.store``, source phone, by the recorder) — callers hear it from their next call. A fetch that fails
is tried again on the next runs (a recording may take a moment to become fetchable), at most ``MAX_ATTEMPTS``
times, then the take is ``failed`` with its error, shown by ``flask studio takes``.
"""

from __future__ import annotations

import logging
from datetime import datetime

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from accounts.models import User
from core.clock import utcnow
from core.db import db
from ivr.models import StudioTake, TakeStatus
from ivr.studio import recordable_texts
from providers.africastalking import voice as at
from providers.base import ProviderError
from providers.local import voice as local
from providers.twilio import voice as twilio
from studio.audio import AudioRefused
from studio.models import RecordingSource
from studio.service import StudioRefused, push_recordings, store
from studio.storage import StorageError

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
BATCH = 20
FETCHERS = {twilio.NAME: twilio.fetch_recording, at.NAME: at.fetch_recording, local.NAME: local.fetch_recording}
# once stored here, the provider's copy is deleted where the provider allows it (Africa's Talking has no API for it)
DELETERS = {twilio.NAME: twilio.delete_recording}


def fetch_pending(now: datetime | None = None, *, limit: int = BATCH) -> dict[str, int]:
    """Fetch and store the pending takes (oldest first); counts by outcome (stored, retry, failed)."""
    settings = current_app.config["KALANSO"]
    counts = {"stored": 0, "retry": 0, "failed": 0}
    ids = db.session.scalars(
        select(StudioTake.id)
        .where(StudioTake.status == TakeStatus.PENDING)
        .order_by(StudioTake.updated_at, StudioTake.id)
        .limit(limit)
    ).all()
    texts = None
    for take_id in ids:
        now = now or utcnow()
        take = db.session.get(StudioTake, take_id, with_for_update=_lock())
        if take is None or take.status != TakeStatus.PENDING:
            db.session.rollback()
            continue
        if texts is None:
            texts = {t.stem: t for t in recordable_texts()}
        take.attempts += 1
        take.updated_at = now
        try:
            outcome = _fetch_one(take, texts, settings, now)
        except Exception as exc:  # a surprise (the disk, the database): this take waits, the others go on
            db.session.rollback()
            log.exception("studio take %s: fetch failed", take_id)
            take = db.session.get(StudioTake, take_id)
            take.attempts += 1
            take.updated_at = now
            outcome = _fail(take, f"error: {exc.__class__.__name__}", final=take.attempts >= MAX_ATTEMPTS)
        counts[outcome] += 1
        provider, url = take.provider, take.url
        db.session.commit()
        if outcome == "stored":
            _delete_at_provider(take_id, provider, url, settings)
    return counts


def _delete_at_provider(take_id: int, provider: str, url: str, settings) -> None:
    """After the take is safely ours (committed): delete the provider's copy; a failure only leaves it there."""
    deleter = DELETERS.get(provider)
    if deleter is None:
        return
    try:
        deleter(url, settings)
    except ProviderError as exc:
        log.warning("studio take %s: the %s copy was not deleted: %s", take_id, provider, exc)
    else:
        log.info("studio take %s: the %s copy was deleted", take_id, provider)


def _lock():
    return {"skip_locked": True} if db.session.get_bind().dialect.name == "postgresql" else None


def _fetch_one(take: StudioTake, texts, settings, now: datetime) -> str:
    fetcher = FETCHERS.get(take.provider)
    text = texts.get(take.stem)
    user = db.session.get(User, take.user_id)
    if fetcher is None or text is None or user is None:
        reason = "unknown provider" if fetcher is None else "the text is gone" if text is None else "unknown user"
        return _fail(take, reason, final=True)
    try:
        data = fetcher(take.url, settings)
    except ProviderError as exc:
        return _fail(take, str(exc), final=take.attempts >= MAX_ATTEMPTS)
    try:
        with db.session.begin_nested():
            recording = store(take.lang, take.stem, data, source=RecordingSource.PHONE, user=user,
                              text=text.text.text(take.lang), now=now)  # fmt: skip
    except (AudioRefused, StudioRefused) as exc:
        return _fail(take, str(exc), final=True)
    except StorageError as exc:  # the object store did not answer: the next run tries again
        return _fail(take, str(exc), final=take.attempts >= MAX_ATTEMPTS)
    take.status, take.recording_id, take.error = TakeStatus.STORED, recording.id, ""
    log.info("studio take %s stored as recording %s (%s %s)", take.id, recording.id, take.lang, take.stem)
    return "stored"


def _fail(take: StudioTake, error: str, *, final: bool) -> str:
    take.error = error[:300]
    if final:
        take.status = TakeStatus.FAILED
        log.warning("studio take %s failed after %s attempt(s): %s", take.id, take.attempts, take.error)
        return "failed"
    log.info("studio take %s not fetched yet (attempt %s): %s", take.id, take.attempts, take.error)
    return "retry"


def fetch_job(app: Flask) -> dict[str, int]:
    """The scheduler's job (``campaigns.scheduler.JOBS``)."""
    with app.app_context():
        try:
            return fetch_pending()
        finally:
            db.session.remove()


@click.group("studio")
def studio_cli() -> None:
    """The content studio: takes recorded by phone, and where recordings are kept."""


@studio_cli.command("fetch")
@with_appcontext
def fetch_command() -> None:
    """Fetch the takes kept by phone now (what the scheduler does every 30 s) and store them."""
    counts = fetch_pending()
    click.echo(f"stored {counts['stored']}, to retry {counts['retry']}, failed {counts['failed']}")


@studio_cli.command("takes")
@with_appcontext
def takes_command() -> None:
    """The takes kept by phone that are not stored yet (pending or failed), with their errors."""
    takes = db.session.scalars(
        select(StudioTake).where(StudioTake.status != TakeStatus.STORED).order_by(StudioTake.id)
    ).all()
    for take in takes:
        click.echo(f"{take.id} {take.status.value} {take.lang} {take.stem} attempts={take.attempts} {take.error}")
    if not takes:
        click.echo("no take waiting")


@studio_cli.command("push")
@with_appcontext
def push_command() -> None:
    """Copy the recordings kept as files here into the object store (after setting RECORDINGS_STORAGE)."""
    try:
        moved, missing = push_recordings()
    except (StudioRefused, StorageError) as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    for recording in missing:
        click.echo(f"missing file: recording {recording.id} ({recording.lang} {recording.stem}): {recording.file}")
    click.echo(f"copied {moved} recording(s) to the object store; {len(missing)} missing")
