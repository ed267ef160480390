"""The web process for real: gunicorn with ``gunicorn.conf.py`` (as in the Procfile), in a subprocess on
127.0.0.1. A bad setting stops the master at once with the message; a good one serves, and neither its
error log nor its access log shows the Africa's Talking secret or a phone number."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from core.config import ROOT
from tests.conftest import BASE_CONFIG

SECRET = BASE_CONFIG["AT_CALLBACK_SECRET"]
CLEAR_NUMBER = re.compile(r"(?:\+|%2[Bb]|00)223\d{8}")


def gunicorn(env: dict[str, str], out: Path, err: Path) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        "gunicorn.conf.py",
        "--bind",
        "127.0.0.1:0",
        "--workers",
        "1",
        "--no-control-socket",
        "app:app",
    ]
    full_env = {**os.environ, **BASE_CONFIG, **env}
    with out.open("wb") as stdout, err.open("wb") as stderr:  # the child keeps its own copies
        return subprocess.Popen(command, cwd=ROOT, env=full_env, stdout=stdout, stderr=stderr)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_a_bad_setting_stops_gunicorn_with_the_message(tmp_path):
    out, err = tmp_path / "out.log", tmp_path / "err.log"
    started = time.monotonic()
    process = gunicorn({"SMS_MAX_SEGMENTS": "99", "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}, out, err)
    try:
        status = process.wait(timeout=20)
    finally:
        stop(process)
    stderr = err.read_text()
    assert status == 1
    assert "Kalanso configuration error: SMS_MAX_SEGMENTS must be a whole number from 1 to 10, got '99'" in stderr
    assert "Booting worker" not in stderr  # stopped in the master, before any worker
    assert time.monotonic() - started < 15


def test_gunicorn_logs_show_neither_the_secret_nor_the_number(tmp_path, sqlite_url):
    out, err = tmp_path / "out.log", tmp_path / "err.log"
    process = gunicorn({"DATABASE_URL": sqlite_url}, out, err)
    try:
        port = None
        deadline = time.monotonic() + 20
        while port is None and time.monotonic() < deadline and process.poll() is None:
            found = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", err.read_text())
            port = int(found.group(1)) if found else None
            time.sleep(0.05)
        assert port is not None, err.read_text()
        url = f"http://127.0.0.1:{port}/ivr/at/{SECRET}/voice?phone=%2B22376123456"
        body = b"isActive=1&sessionId=ATVId_g1&direction=Inbound&callerNumber=%2B22376123456"
        answer = None
        while answer is None and time.monotonic() < deadline:
            try:  # the worker may still be importing the app
                with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=5) as response:
                    answer = (response.status, response.read())
            except OSError:
                time.sleep(0.1)
        assert answer is not None and answer[0] == 200 and answer[1].startswith(b"<?xml")
    finally:
        stop(process)
    access, errors = out.read_text(), err.read_text()
    assert '"POST /ivr/at/[secret]/voice?phone=%2B2237612**** HTTP/1.1" 200' in access
    assert "call 1 from +223********" in errors  # the app's own log line came through gunicorn's handler
    for text in (access, errors):
        assert SECRET not in text
        assert CLEAR_NUMBER.findall(text) == []


@pytest.mark.parametrize("line", ["web"])
def test_the_procfile_uses_the_config(line):
    procfile = (ROOT / "Procfile").read_text()
    web = next(entry for entry in procfile.splitlines() if entry.startswith(f"{line}:"))
    assert "gunicorn -c gunicorn.conf.py" in web
