"""The clock. Only edges (requests, CLI commands, scheduler and sender loops) read it; everything
inside takes ``now`` as a parameter, so that tests and replays fix time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def clock_from(value: str | None) -> Callable[[], datetime]:
    """A command's ``--now``: a fixed moment (ISO, UTC when no zone is given) for replays, tests and
    benchmarks; the real clock when empty. ``ValueError`` for anything else."""
    if not value:
        return utcnow
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"expected an ISO date and time, got {value!r}") from exc
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return lambda: moment
