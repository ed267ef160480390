"""The app's catalog of courses (Flask glue around ``content.loader``): loaded once, and again when the files change.

Every process (web workers, the scheduler, the sender) serves the catalog it loaded last. Before handing it out,
``get_catalog`` compares the course files' names, sizes and modification times (and the reload stamp that
``flask content reload`` touches) with those it loaded: when they differ, it reads the files again and runs the
same checks as ``flask content check`` (the loader's, then the app's own: SMS lengths, keywords). If they pass,
the next call and the next SMS get the new content, without a restart. If they fail, the **last good catalog keeps
serving**, the errors are logged once and kept for whoever asks (``content_status``: ``/healthz``, the dashboard);
the line never goes down because of a bad edit. The files are looked at once per request at most.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app, g, has_request_context, request

from content.loader import Catalog, ContentError, read_courses

log = logging.getLogger(__name__)

_KEY = "kalanso.catalog"
CHECKS_KEY = "kalanso.catalog_checks"
"""``app.extensions[CHECKS_KEY]``: more checks a new catalog must pass, ``check(catalog) -> list of errors``
(registered by ``app.create_app``: what the SMS line would refuse)."""
STAMP = "content-reload"  # in the instance folder: touched by ``flask content reload``

Signature = tuple


@dataclass
class _Live:
    catalog: Catalog | None = None
    signature: Signature | None = None  # of the files the catalog was loaded from
    refused: Signature | None = None  # of the files that failed the checks (not read again until they change)
    errors: list[str] = field(default_factory=list)  # why the files as they are now are not served
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True)
class ContentStatus:
    serving: bool  # a catalog is being served
    errors: tuple[str, ...]  # the current files' errors (empty: what is served is what the files say)

    @property
    def stale(self) -> bool:
        """The files have errors and an older, good catalog is served instead."""
        return self.serving and bool(self.errors)


def stamp_path(instance_path: str | Path) -> Path:
    return Path(instance_path) / STAMP


def signature(courses_dir: Path, stamp: Path) -> Signature:
    """What identifies the files' current state: each course file's name, size and modification time, and the
    reload stamp's."""
    out = [str(courses_dir)]
    for path in sorted(courses_dir.glob("*.yaml")):
        try:
            st = path.stat()
        except OSError:  # removed while listing
            continue
        out.append((path.name, st.st_size, st.st_mtime_ns))
    with contextlib.suppress(OSError):
        out.append(("stamp", stamp.stat().st_mtime_ns))
    return tuple(out)


def load_checked(
    courses_dir: Path, contacts, checks: list[Callable[[Catalog], list[str]]]
) -> tuple[Catalog, list[str]]:
    """The catalog the files make and every error found (the loader's, then ``checks``' on a loaded catalog)."""
    catalog, errors = read_courses(courses_dir, contacts)
    if not errors:
        for check in checks:
            errors.extend(check(catalog))
    return catalog, errors


def _live() -> _Live:
    live = current_app.extensions.get(_KEY)
    if live is None:
        live = current_app.extensions[_KEY] = _Live()
    return live


def _refresh(live: _Live) -> None:
    app = current_app
    courses_dir = Path(app.config["KALANSO_COURSES_DIR"])
    now = signature(courses_dir, stamp_path(app.instance_path))
    if now in (live.signature, live.refused):
        return
    with live.lock:
        if now in (live.signature, live.refused):  # another thread has just done it
            return
        catalog, errors = load_checked(courses_dir, app.config["KALANSO"].contacts, app.extensions.get(CHECKS_KEY, []))
        if errors:
            live.refused, live.errors = now, errors
            if live.catalog is not None:
                log.error(
                    "content: the course files have %d error(s); the last good courses keep serving. First: %s",
                    len(errors),
                    errors[0],
                )
            return
        reloaded = live.catalog is not None
        live.catalog, live.signature, live.refused, live.errors = catalog, now, None, []
        if reloaded:
            log.info("content: course files changed, reloaded (%d courses)", len(catalog.courses))


def get_catalog() -> Catalog:
    """The courses to serve: the files' current content when it passes the checks, else the last good one; raises
    ``ContentError`` only when no good content was ever loaded (a process started on broken files)."""
    live = _live()
    if not has_request_context():
        _refresh(live)
    else:  # once per request (``g`` can outlive a request: an app context pushed around several, as in tests)
        seen = (id(request._get_current_object()), id(live))
        if g.get("_kalanso_catalog_seen") != seen:
            _refresh(live)
            g._kalanso_catalog_seen = seen
    if live.catalog is None:
        raise ContentError(live.errors)
    return live.catalog


def content_status() -> ContentStatus:
    """Whether the course files as they are now are what is served (after looking at them again)."""
    live = _live()
    _refresh(live)
    return ContentStatus(serving=live.catalog is not None, errors=tuple(live.errors))
