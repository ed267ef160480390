"""How long one voice-line turn takes in the app (signed Twilio request → TwiML; AT request → XML).

Run: ``.venv/bin/python bench/voice_webhooks.py [calls]`` — a fresh SQLite file (or ``DATABASE_URL``),
no network. Each call: language choice, courses, lessons, a lesson chunk, two answers, the final status.
Prints the mean, median and 95th percentile per request, per provider.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask_migrate import upgrade

from core.db import db
from tests import voice_support as w
from tests.conftest import BASE_CONFIG


def main(calls: int) -> None:
    import os

    from app import create_app

    url = os.environ.get("DATABASE_URL") or f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"
    app = create_app({**BASE_CONFIG, "DATABASE_URL": url})
    app.logger.disabled = True
    import logging

    logging.getLogger().setLevel(logging.WARNING)
    with app.app_context():
        upgrade()
        client = app.test_client()
        for provider in ("twilio", "africastalking"):
            timings: list[float] = []
            for n in range(calls):
                phone = f"+2237{n % 10_000_000:07d}"
                sid = f"CA{n:032d}" if provider == "twilio" else f"ATVId_b{n}"
                for action, digits in [("start", None)] + [("key", d) for d in "2211112"] + [("final", None)]:
                    start = time.perf_counter()
                    response = _send(client, provider, action, digits, sid, phone)
                    timings.append((time.perf_counter() - start) * 1000)
                    assert response.status_code == 200
            timings.sort()
            print(
                f"{provider:15s} {len(timings):5d} requests  mean {statistics.mean(timings):6.2f} ms  "
                f"median {statistics.median(timings):6.2f} ms  p95 {timings[int(len(timings) * 0.95)]:6.2f} ms"
            )
        db.session.remove()


def _send(client, provider, action, digits, sid, phone):
    if provider == "twilio":
        base = {"CallSid": sid, "From": phone, "Caller": phone}
        if action == "start":
            return w.post_twilio(client, "/ivr/twilio/voice", w.twilio_call() | base)
        if action == "key":
            return w.post_twilio(client, "/ivr/twilio/voice?ev=gather", w.twilio_gather(digits) | base)
        return w.post_twilio(client, "/ivr/twilio/status", w.twilio_status("completed") | base)
    base = {"sessionId": sid, "callerNumber": phone}
    if action == "start":
        return client.post(w.AT_URL, data=w.at_call() | base)
    if action == "key":
        return client.post(w.AT_URL + "?ev=digits", data=w.at_call(dtmfDigits=digits) | base)
    return client.post(w.AT_URL, data=w.at_final() | base)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
