"""The scheduler's thin jobs. Each opens an app context, takes ``now`` once, works, commits, and logs
a failure instead of dying (the next tick tries again)."""

from __future__ import annotations

import logging

from flask import Flask

from campaigns.dispatch import dispatch_due
from campaigns.expand import expand_due
from core.clock import utcnow
from core.db import db, set_job_statement_timeout

log = logging.getLogger(__name__)
JOB_BUDGET_SECONDS = 1.5  # per channel: the dispatch job runs every 2 s and never overlaps itself


def _run(app: Flask, name: str, work):
    with app.app_context():
        try:
            set_job_statement_timeout(db.session)
            result = work(app.config["KALANSO"])
            db.session.commit()
            return result
        except Exception:
            db.session.rollback()
            log.exception("scheduler job %s failed; it will run again at the next tick", name)
            return {"error": True}
        finally:
            db.session.remove()


def expand_job(app: Flask):
    return _run(app, "expand", lambda settings: expand_due(settings, utcnow()))


def _ports(settings):
    from campaigns.ports import build_ports  # the channel services load only when a job runs

    return build_ports(settings)


def dispatch_job(app: Flask):
    """Hand due deliveries to the outbox (the sender process sends them)."""

    def work(settings):
        return {
            port.channel.value: vars(dispatch_due(port, settings, utcnow, budget_seconds=JOB_BUDGET_SECONDS))
            for port in _ports(settings)
        }

    return _run(app, "dispatch", work)
