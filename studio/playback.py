"""What the voice line plays from the studio: the current recording of each text by (language, stem).

The voice line asks for every line of every turn, so the whole map (a few thousand rows at most: one per text and
language) is read in one query and remembered for ``CACHE_SECONDS`` per process; ``forget()`` makes a new recording
heard at once in the process that stored it. A recording's id is its version: the line's audio URL carries it
(``/audio/bm/<stem>.wav?v=<id>``), so a provider's cache (Twilio keeps a file as long as its Cache-Control says)
never plays a replaced take.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from sqlalchemy import select

from core.db import db
from studio.models import Recording
from studio.storage import is_remote

CACHE_SECONDS = 30.0


@dataclass(frozen=True)
class Published:
    id: int
    file: str

    @property
    def remote(self) -> bool:
        return is_remote(self.file)


_lock = threading.Lock()
_snapshot: tuple[float, dict[tuple[str, str], Published]] | None = None


def published(lang: str, stem: str, *, now: float | None = None) -> Published | None:
    """The current studio recording of ``stem`` in ``lang``, or None."""
    global _snapshot
    moment = time.monotonic() if now is None else now
    snapshot = _snapshot
    if snapshot is None or moment - snapshot[0] >= CACHE_SECONDS:
        rows = db.session.execute(
            select(Recording.lang, Recording.stem, Recording.id, Recording.file).where(Recording.replaced_at.is_(None))
        ).all()
        snapshot = (moment, {(r.lang, r.stem): Published(r.id, r.file) for r in rows})
        with _lock:
            _snapshot = snapshot
    return snapshot[1].get((lang, stem))


def forget() -> None:
    global _snapshot
    with _lock:
        _snapshot = None
