"""The scheduler process: a few thin polling jobs; business state lives in our own tables.

Never started inside web workers: only ``flask scheduler`` (Procfile ``scheduler:``) runs it.
"""

from __future__ import annotations

from collections.abc import Callable

from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

JOBS: list[tuple[str, Callable[[Flask], None], int]] = []
"""(job id, function taking the app, interval in seconds). Filled by the campaigns issue."""

from ivr.callbacks import dispatch_due_callbacks  # noqa: E402

JOBS.append(("missed-call-callbacks", dispatch_due_callbacks, 5))


def build_scheduler(app: Flask) -> BlockingScheduler:
    scheduler = BlockingScheduler(timezone=app.config["KALANSO"].timezone)
    for job_id, func, seconds in JOBS:
        scheduler.add_job(func, "interval", seconds=seconds, args=[app], id=job_id, max_instances=1, coalesce=True)
    return scheduler
