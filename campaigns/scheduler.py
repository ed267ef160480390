"""The scheduler process: a few thin polling jobs that turn due work into outbox rows; business state lives in
our own tables, and the sender process (``sender/``) does every provider request.

Never started inside web workers: only ``flask scheduler`` (Procfile ``scheduler:``) runs it, and
``flask dev`` (``make run``) runs it in the background of the development server.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

from campaigns.jobs import dispatch_job, expand_job
from ivr.callbacks import dispatch_due_callbacks
from ivr.studio_fetch import fetch_job as studio_fetch_job

JOBS: list[tuple[str, Callable[[Flask], object], int]] = [
    ("campaigns-expand", expand_job, 30),
    ("campaigns-dispatch", dispatch_job, 2),
    ("missed-call-callbacks", dispatch_due_callbacks, 5),
    ("studio-fetch", studio_fetch_job, 30),  # takes kept in the phone studio, fetched from the provider
]
"""(job id, function taking the app, interval in seconds)."""


SKIPPED = "skipped: maximum number of running instances reached"


class SkippedRunsFilter(logging.Filter):
    """APScheduler warns each time a job's tick comes while its previous run still works (every 2 s during a large
    send): at most one line per job every ``interval`` seconds, saying how many ticks were skipped meanwhile."""

    def __init__(self, interval: float = 600.0, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.interval, self.clock = interval, clock
        self.last: dict[str, float] = {}
        self.skipped: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if SKIPPED not in str(record.msg):
            return True
        job = record.args[0] if isinstance(record.args, tuple) and record.args else None
        job_id = str(getattr(job, "id", job))
        now = self.clock()
        if job_id in self.last and now - self.last[job_id] < self.interval:
            self.skipped[job_id] = self.skipped.get(job_id, 0) + 1
            return False
        more = self.skipped.pop(job_id, 0)
        since = f" ({more} more skipped since the last such line)" if more else ""
        record.msg = (
            f"job {job_id}: a tick was skipped while its previous run was still working{since}; "
            f"this line at most every {self.interval:.0f} s"
        )
        record.args = ()
        self.last[job_id] = now
        return True


def quiet_skipped_runs(logger: logging.Logger | None = None, **options) -> SkippedRunsFilter:
    """Install the filter on APScheduler's scheduler logger (once)."""
    logger = logger or logging.getLogger("apscheduler.scheduler")
    for existing in logger.filters:
        if isinstance(existing, SkippedRunsFilter):
            return existing
    found = SkippedRunsFilter(**options)
    logger.addFilter(found)
    return found


def add_jobs(scheduler: BaseScheduler, app: Flask) -> BaseScheduler:
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # not a line per job run; failures still show
    quiet_skipped_runs()
    for job_id, func, seconds in JOBS:
        scheduler.add_job(func, "interval", seconds=seconds, args=[app], id=job_id, max_instances=1, coalesce=True)
    return scheduler


def build_scheduler(app: Flask) -> BlockingScheduler:
    return add_jobs(BlockingScheduler(timezone=app.config["KALANSO"].timezone), app)


def run_jobs_once(app: Flask) -> list[tuple[str, object]]:
    return [(job_id, func(app)) for job_id, func, _ in JOBS]
