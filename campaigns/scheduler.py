"""The scheduler process: a few thin polling jobs that turn due work into outbox rows; business state lives in
our own tables, and the sender process (``sender/``) does every provider request.

Never started inside web workers: only ``flask scheduler`` (Procfile ``scheduler:``) runs it, and
``flask dev`` (``make run``) runs it in the background of the development server.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

from campaigns.jobs import dispatch_job, expand_job
from ivr.callbacks import dispatch_due_callbacks

JOBS: list[tuple[str, Callable[[Flask], object], int]] = [
    ("campaigns-expand", expand_job, 30),
    ("campaigns-dispatch", dispatch_job, 2),
    ("missed-call-callbacks", dispatch_due_callbacks, 5),
]
"""(job id, function taking the app, interval in seconds)."""


def add_jobs(scheduler: BaseScheduler, app: Flask) -> BaseScheduler:
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # not a line per job run; failures still show
    for job_id, func, seconds in JOBS:
        scheduler.add_job(func, "interval", seconds=seconds, args=[app], id=job_id, max_instances=1, coalesce=True)
    return scheduler


def build_scheduler(app: Flask) -> BlockingScheduler:
    return add_jobs(BlockingScheduler(timezone=app.config["KALANSO"].timezone), app)


def run_jobs_once(app: Flask) -> list[tuple[str, object]]:
    return [(job_id, func(app)) for job_id, func, _ in JOBS]
