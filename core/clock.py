"""The clock. Only edges (requests, CLI commands, scheduler and sender loops) read it; everything
inside takes ``now`` as a parameter, so that tests and replays fix time."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)
