"""``flask dev`` (what ``make run`` serves): the web app, the scheduler and the sender in one process.

Development only. Production runs ``web`` (gunicorn), exactly one ``scheduler`` and one or more ``sender``
processes instead (Procfile).
"""

from __future__ import annotations

import threading

import click
from flask import current_app
from flask.cli import with_appcontext
from werkzeug import serving

from campaigns.scheduler import add_jobs
from sender.loop import Sender


@click.command("dev")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
@with_appcontext
def dev_command(host: str, port: int) -> None:
    """Development only: the web app, the scheduler and the sender in one process (``make run``)."""
    from apscheduler.schedulers.background import BackgroundScheduler

    app = current_app._get_current_object()
    scheduler = add_jobs(BackgroundScheduler(timezone=app.config["KALANSO"].timezone), app)
    scheduler.start()
    stop = threading.Event()
    sender = Sender(app)
    thread = threading.Thread(target=sender.run, args=(stop,), name="kalanso-sender", daemon=True)
    thread.start()
    click.echo(f"Scheduler ({len(scheduler.get_jobs())} jobs) and sender running in the background (development).")
    click.echo(f"Kalanso on http://{host}:{port}/  (simulator: http://{host}:{port}/simulator)")
    try:
        serving.run_simple(host, port, app, use_reloader=False, threaded=True)
    finally:
        stop.set()
        scheduler.shutdown(wait=False)
        thread.join(timeout=15)
