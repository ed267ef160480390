"""Benchmark: webhook throughput and latency under gunicorn, side by side with a bare Flask endpoint.

The real app (``gunicorn 'app:app'``) and a bare Flask app that answers a fixed TwiML
(``bench/bare.py``) run under the same gunicorn settings in the same run, on a fresh database
(a SQLite file, or a throw-away PostgreSQL database), migrated; the courses are the app's own
(``content/courses``). A load generator in this process (non-blocking sockets and epoll, one new
connection per request, as a provider opens them) plays ``--concurrency`` simulated callers in a
closed loop, without think time: each caller runs a whole call or SMS conversation with a new
number and call id, then starts the next, until the time is up.

- ``bare``: the voice flow below, posted to the bare app (the same requests, signed the same way).
- ``voice-twilio`` / ``voice-at``: a call: the first request, then keys 2 (French), 2 (courses),
  1 (course), 1 (lesson) and 1 to continue and to answer until the lesson ends, each posted to the
  ``<Gather action>`` / ``callbackUrl`` the previous answer gave; then the status callback / the
  final notification. 11 requests a call.
- ``sms-twilio-<ms>`` / ``sms-at-<ms>``: a texter sends QUIZ, 1 (course), then three answers. The
  replies go to the fake provider (``tests/fake_provider.py``, another process), which answers in
  0 ms or 500 ms; a ``flask sender`` process runs beside the web workers when the app has one.

Prints requests/s, p50/p95/p99 latency, non-2xx answers and the ratio to the bare endpoint's
requests/s, the apologies (answers that say the ``sorry`` prompt, and the voice routes' warnings in
the app's log), errors and deadlocks in the log (and PostgreSQL's own deadlock counter), and CPU
per request. The first ``--warmup`` seconds are not counted. Asserts nothing.

    .venv/bin/python -m bench.webhooks --db sqlite
    TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
        .venv/bin/python -m bench.webhooks --db postgresql --workers 4 --seconds 15
    .venv/bin/python -m bench.webhooks --db sqlite --scenarios voice-twilio --worker-class gthread --threads 4
"""

from __future__ import annotations

import argparse
import base64
import functools
import heapq
import hmac
import html
import itertools
import json
import os
import platform
import random
import re
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote_plus, urlencode, urlsplit

import yaml
from sqlalchemy import create_engine, text

from tests import voice_support as w
from tests.conftest import BASE_CONFIG, migrate_to_head, new_postgres_database

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PUBLIC_BASE_URL = BASE_CONFIG["PUBLIC_BASE_URL"]
AT_SECRET = BASE_CONFIG["AT_CALLBACK_SECRET"]
TWILIO_VOICE, TWILIO_STATUS, TWILIO_SMS = "/ivr/twilio/voice", "/ivr/twilio/status", "/sms/twilio"
AT_VOICE, AT_SMS = f"/ivr/at/{AT_SECRET}/voice", f"/sms/at/{AT_SECRET}/incoming"
CALL_KEYS = "221111111"  # French, courses, course 1, lesson 1, then continue and answer to the lesson's end
SMS_TEXTS = ("QUIZ", "1", "1", "1", "1")  # the course list, course 1, three answers: the lesson ends
REQUEST_TIMEOUT = 60.0  # seconds; a request still unanswered then counts as a failure
FIRST_NUMBER = 70_000_000  # +223 7x xx xx xx: each scenario numbers its callers from its own million
GATHER_ACTION = re.compile(rb'<Gather[^>]*?\saction="([^"]*)"')
AT_CALLBACK = re.compile(rb'<GetDigits[^>]*?\scallbackUrl="([^"]*)"')
_PHONE = re.compile(r"(\+?223\d{4})\d{4}")


def _apology() -> re.Pattern:
    """The voice line's ``sorry`` prompt in an answer: its recording's URL, or the start of its French text
    (said by text-to-speech when there is no recording; the apology is said in the default language)."""
    prompts = yaml.safe_load((ROOT / "ivr" / "prompts.yaml").read_text(encoding="utf-8"))
    text = prompts["sorry"]["fr"].split(".")[0].encode()
    return re.compile(re.escape(text) + rb"|/prompts/sorry\.(?:wav|mp3)")


APOLOGY = _apology()


# --- what a caller sends ----------------------------------------------------------------------------

Flow = Generator[bytes, bytes, bool]  # yields requests, receives answers' bodies, returns "went to the end"


_quote = functools.lru_cache(maxsize=8192)(quote_plus)  # the same keys and values come back all the time


class Requests:
    """Builds raw HTTP/1.1 requests for one server: form-encoded, ``Connection: close``. Twilio's are signed
    over the URL under PUBLIC_BASE_URL (never over the Host header) the way the SDK's RequestValidator
    does it, with the generator's CPU in mind (``check_signer`` compares the two once per run)."""

    def __init__(self, port: int):
        self.host = f"127.0.0.1:{port}"
        self.key = BASE_CONFIG["TWILIO_AUTH_TOKEN"].encode()

    def plain(self, target: str, form: dict[str, str], headers: str = "") -> bytes:
        body = "&".join(f"{_quote(k)}={_quote(v)}" for k, v in form.items()).encode()
        head = (
            f"POST {target} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n{headers}\r\n"
        )
        return head.encode() + body

    def signature(self, url: str, form: dict[str, str]) -> str:
        """X-Twilio-Signature: base64 HMAC-SHA1 of the URL then each parameter's name and value, sorted."""
        signed = url + "".join(k + v for k, v in sorted(form.items()))
        return base64.b64encode(hmac.digest(self.key, signed.encode(), "sha1")).decode()

    def twilio(self, target: str, form: dict[str, str]) -> bytes:
        headers = (
            f"User-Agent: TwilioProxy/1.1\r\nAccept: */*\r\n"
            f"X-Twilio-Signature: {self.signature(PUBLIC_BASE_URL + target, form)}\r\n"
            f"I-Twilio-Idempotency-Token: {uuid.uuid4()}\r\n"
        )
        return self.plain(target, form, headers)


def check_signer() -> None:
    """Our signatures are the SDK's, and our bodies decode to the forms (else the figures would be 403s)."""
    from twilio.request_validator import RequestValidator

    requests = Requests(0)
    for form in (w.twilio_call(), w.twilio_gather("2"), w.twilio_status("completed"), w.at_final()):
        url = PUBLIC_BASE_URL + TWILIO_VOICE + "?ev=gather"
        expected = RequestValidator(BASE_CONFIG["TWILIO_AUTH_TOKEN"]).compute_signature(url, form)
        body = requests.plain("/", form).partition(b"\r\n\r\n")[2]
        if requests.signature(url, form) != expected or body != urlencode(form).encode():
            raise SystemExit("bench.webhooks: the request builder disagrees with the Twilio SDK or urlencode")


def _follow(answer: bytes, pattern: re.Pattern) -> str | None:
    """The path and query of the URL the answer asks the provider to post the keys to; None: no more keys."""
    found = pattern.search(answer)
    if found is None:
        return None
    url = urlsplit(html.unescape(found.group(1).decode()))
    return url.path + (f"?{url.query}" if url.query else "")


def voice_twilio(r: Requests, n: int, phone: str) -> Flow:
    call = {"CallSid": f"CA{n:032x}", "From": phone, "Caller": phone}
    answer = yield r.twilio(TWILIO_VOICE, w.twilio_call() | call)
    whole = True
    for key in CALL_KEYS:
        target = _follow(answer, GATHER_ACTION)
        if target is None:
            whole = False
            break
        answer = yield r.twilio(target, w.twilio_gather(key) | call)
    yield r.twilio(TWILIO_STATUS, w.twilio_status("completed") | call)
    return whole


def voice_at(r: Requests, n: int, phone: str) -> Flow:
    call = {"sessionId": f"ATVId_{n:024x}", "callerNumber": phone}
    answer = yield r.plain(AT_VOICE, w.at_call() | call)
    whole = True
    for key in CALL_KEYS:
        target = _follow(answer, AT_CALLBACK)
        if target is None:
            whole = False
            break
        answer = yield r.plain(target, w.at_call(dtmfDigits=key) | call)
    yield r.plain(AT_VOICE, w.at_final() | call)
    return whole


def sms_twilio(r: Requests, n: int, phone: str) -> Flow:
    for i, body in enumerate(SMS_TEXTS):
        sid = f"SM{n:024x}{i:08x}"
        form = {
            "ToCountry": "US", "SmsMessageSid": sid, "NumMedia": "0", "SmsSid": sid, "SmsStatus": "received",
            "Body": body, "FromCountry": "ML", "To": BASE_CONFIG["TWILIO_NUMBER"], "NumSegments": "1",
            "MessageSid": sid, "AccountSid": BASE_CONFIG["TWILIO_ACCOUNT_SID"], "From": phone,
            "ApiVersion": "2010-04-01",
        }  # fmt: skip
        yield r.twilio(TWILIO_SMS, form)
    return True


def sms_at(r: Requests, n: int, phone: str) -> Flow:
    for i, body in enumerate(SMS_TEXTS):
        form = {
            "from": phone, "to": BASE_CONFIG["AT_SHORTCODE"], "text": body, "date": "2026-11-24 10:00:00",
            "id": f"ATXid_{n:024x}{i:04x}", "linkId": "", "networkCode": "61002",
        }  # fmt: skip
        yield r.plain(AT_SMS, form)
    return True


@dataclass(frozen=True)
class Scenario:
    name: str
    flow: Callable[[Requests, int, str], Flow]
    server: str = "app"  # or "bare"
    voice_provider: str = "local"
    sms_provider: str = "local"
    provider_latency_ms: float | None = None  # None: no fake provider (voice: the webhooks call none)


SCENARIOS = [
    Scenario("bare", voice_twilio, server="bare"),
    Scenario("voice-twilio", voice_twilio, voice_provider="twilio"),
    Scenario("voice-at", voice_at, voice_provider="africastalking"),
    Scenario("sms-twilio-0ms", sms_twilio, sms_provider="twilio", provider_latency_ms=0),
    Scenario("sms-twilio-500ms", sms_twilio, sms_provider="twilio", provider_latency_ms=500),
    Scenario("sms-at-0ms", sms_at, sms_provider="africastalking", provider_latency_ms=0),
    Scenario("sms-at-500ms", sms_at, sms_provider="africastalking", provider_latency_ms=500),
]


# --- the load generator -----------------------------------------------------------------------------


@dataclass
class Load:
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, answers completed in the window
    statuses: Counter = field(default_factory=Counter)
    failures: Counter = field(default_factory=Counter)  # connection errors, timeouts, not HTTP
    apologies: int = 0  # answers that say the voice line's "sorry" prompt
    flows: int = 0  # calls or conversations finished in the window
    cut_short: int = 0  # calls whose answers stopped asking for keys before the last key
    generator_cpu: float = 0.0  # seconds of this process's CPU in the window


class _Caller:
    """One simulated caller: the flow it is in, and the request on the wire."""

    __slots__ = ("chunks", "flow", "out", "sent_at", "sock")

    def __init__(self):
        self.flow: Flow | None = None
        self.sock: socket.socket | None = None
        self.out, self.chunks, self.sent_at = memoryview(b""), [], 0.0


def run_load(
    port: int, scenario: Scenario, first_number: int, concurrency: int, warmup: float, seconds: float, think: float
) -> Load:
    """Play ``concurrency`` callers for ``warmup + seconds``; count what completes after the warmup.

    One thread, non-blocking sockets and epoll: each request opens a connection, writes its bytes,
    reads until the server closes (``Connection: close``) and hands the body to the caller's flow,
    whose next request goes out at once (or after a pause of ``think`` seconds on average, 0.5 to 1.5
    times it, the callers' starts spread over one pause: no synchronised bursts). About a hundred
    microseconds of CPU per request, mostly the kernel's, the same for every scenario: the generator
    shares the two cores with the servers.
    """
    load, numbers, requests = Load(seconds=seconds), itertools.count(first_number), Requests(port)
    selector, address = selectors.DefaultSelector(), ("127.0.0.1", port)
    start = time.perf_counter()
    counting_from, deadline = start + warmup, start + warmup + seconds
    timers: list[tuple[float, int, _Caller]] = []  # (when, tie-breaker, caller): think time, back-off
    tie, jitter = itertools.count(), random.Random(first_number)

    def send(caller: _Caller, data: bytes) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        caller.sock, caller.out, caller.chunks, caller.sent_at = sock, memoryview(data), [], time.perf_counter()
        sock.connect_ex(address)  # EINPROGRESS: writable once connected
        selector.register(sock, selectors.EVENT_WRITE, caller)

    def next_flow(caller: _Caller) -> None:
        n = next(numbers)
        caller.flow = scenario.flow(requests, n, f"+223{n}")
        send(caller, next(caller.flow))

    def fail(caller: _Caller, why: str) -> None:
        close(caller)
        if time.perf_counter() >= counting_from:
            load.failures[why] += 1
        heapq.heappush(timers, (time.perf_counter() + 0.05, next(tie), caller))  # this call is lost
        caller.flow = None

    def close(caller: _Caller) -> None:
        if caller.sock is not None:
            selector.unregister(caller.sock)
            caller.sock.close()
            caller.sock = None

    def answered(caller: _Caller) -> None:
        done, raw = time.perf_counter(), b"".join(caller.chunks)
        close(caller)
        if not raw.startswith(b"HTTP/1."):
            return fail(caller, "not HTTP")
        body = raw.partition(b"\r\n\r\n")[2]
        counted = counting_from <= done <= deadline
        if counted:
            load.latencies.append(done - caller.sent_at)
            load.statuses[int(raw[9:12])] += 1
            load.apologies += APOLOGY.search(body) is not None
        try:
            data = caller.flow.send(body)
        except StopIteration as end:
            if counted:
                load.flows += 1
                load.cut_short += not end.value
            caller.flow = None
            data = None
        if think:
            caller.out = memoryview(data or b"")
            heapq.heappush(timers, (done + think * jitter.uniform(0.5, 1.5), next(tie), caller))
        elif data is None:
            next_flow(caller)
        else:
            send(caller, data)

    callers = [_Caller() for _ in range(concurrency)]
    for caller in callers:
        if think:
            heapq.heappush(timers, (start + jitter.uniform(0, think), next(tie), caller))
        else:
            next_flow(caller)
    cpu_at_start, next_sweep = None, start + 1.0
    while (now := time.perf_counter()) < deadline:
        if cpu_at_start is None and now >= counting_from:
            cpu_at_start = time.process_time()
        while timers and timers[0][0] <= now:
            caller = heapq.heappop(timers)[2]
            if caller.flow is None:
                next_flow(caller)
            else:
                send(caller, bytes(caller.out))
        wait = min(0.05, deadline - now, (timers[0][0] - now) if timers else 0.05)
        for key, events in selector.select(max(0.0, wait)):
            caller = key.data
            try:
                if events & selectors.EVENT_WRITE:
                    error = caller.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if error:
                        fail(caller, os.strerror(error))
                        continue
                    caller.out = caller.out[caller.sock.send(caller.out) :]
                    if not caller.out:
                        selector.modify(caller.sock, selectors.EVENT_READ, caller)
                elif chunk := caller.sock.recv(65536):
                    caller.chunks.append(chunk)
                else:
                    answered(caller)
            except OSError as exc:
                fail(caller, exc.__class__.__name__)
        if now >= next_sweep:  # requests unanswered for too long
            next_sweep = now + 1.0
            for caller in callers:
                if caller.sock is not None and now - caller.sent_at > REQUEST_TIMEOUT:
                    fail(caller, "timeout")
    load.generator_cpu = time.process_time() - (cpu_at_start or time.process_time())
    for caller in callers:
        close(caller)
    selector.close()
    return load


# --- processes --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _cpu_by_pid(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds of each process (gone ones left out)."""
    tick, found = os.sysconf("SC_CLK_TCK"), {}
    for pid in pids:
        with suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            found[pid] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return found


def _cpu_seconds(pids: list[int]) -> float:
    return sum(_cpu_by_pid(pids).values())


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def _postgres_backends(database: str) -> list[int]:
    """The server processes serving our benchmark database (their command line names it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError):
                if database.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found


def _machine_busy() -> tuple[int, int]:
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


@dataclass
class Gunicorn:
    name: str
    proc: subprocess.Popen
    port: int
    log: Path

    def cpu_seconds(self) -> float:
        return _cpu_seconds([self.proc.pid, *_children(self.proc.pid)])


@contextmanager
def gunicorn(name: str, target: str, env: dict[str, str], args: argparse.Namespace, logdir: Path) -> Iterator[Gunicorn]:
    """The Procfile's web process on a free port: its access log to stdout, and ``gunicorn.conf.py`` when the
    project has one (gunicorn reads it from the working folder); stdout and stderr go to ``<name>.log``."""
    port, log = free_port(), logdir / f"{name}.log"
    command = [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers),
               "--worker-class", args.worker_class, "--graceful-timeout", "5", "--log-level", "info",
               "--access-logfile", "-", "--no-control-socket"]  # fmt: skip
    if args.worker_class == "gthread":
        command += ["--threads", str(args.threads)]
    with log.open("ab") as out:
        proc = subprocess.Popen([*command, target], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Gunicorn(name, proc, port, log)
    try:
        _wait_ready(server, args.workers, "/healthz" if target == "app:app" else "/")
        yield server
    finally:
        _stop(proc)


def _wait_ready(server: Gunicorn, workers: int, path: str) -> None:
    method = "GET" if path == "/healthz" else "POST"
    until = time.monotonic() + 90
    while time.monotonic() < until:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited: {server.log.read_text()[-2000:]}")
        booted = server.log.read_text(errors="replace").count("Booting worker")
        if booted >= workers:
            with suppress(OSError):
                request = urllib.request.Request(f"http://127.0.0.1:{server.port}{path}", data=None, method=method)
                with urllib.request.urlopen(request, timeout=10) as response:
                    if response.status == 200:
                        time.sleep(0.5)  # the other workers finish importing
                        return
        time.sleep(0.2)
    raise RuntimeError(f"{server.name} did not answer within 90 s: {server.log.read_text()[-2000:]}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@contextmanager
def fake_provider(latency_ms: float, logdir: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    port = free_port()
    command = [sys.executable, "-m", "tests.fake_provider", "--port", str(port), "--latency-ms", str(latency_ms)]
    with (logdir / "fake_provider.log").open("ab") as err:
        proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=err)
    try:
        proc.stdout.readline()  # "fake provider on ..." once it listens
        yield f"http://127.0.0.1:{port}", proc
    finally:
        _stop(proc)


@contextmanager
def sender_process(env: dict[str, str], command: list[str] | None, logdir: Path) -> Iterator[subprocess.Popen | None]:
    if command is None:
        yield None
        return
    with (logdir / "sender.log").open("ab") as out:
        proc = subprocess.Popen(
            [str(BIN / "flask"), "--app", "app", *command], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield proc
    finally:
        _stop(proc)


def sender_command(env: dict[str, str]) -> list[str] | None:
    """The app's outbox sender command: ``flask sender run`` (a group), ``flask sender``, or None."""
    done = subprocess.run(
        [str(BIN / "flask"), "--app", "app", "sender", "--help"], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    if done.returncode != 0:  # "No such command 'sender'"
        return None
    return ["sender", "run"] if re.search(r"^\s+run\s", done.stdout, re.MULTILINE) else ["sender"]


_SETTINGS_PREFIXES = ("KALANSO_", "TWILIO_", "AT_", "SMS_", "VOICE_", "DATABASE_URL", "PUBLIC_BASE_URL", "SECRET_KEY")


def app_env(database_url: str, scenario: Scenario | None = None, provider_url: str = "") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SETTINGS_PREFIXES)}
    env.update(BASE_CONFIG)
    env.update(DATABASE_URL=database_url, FLASK_APP="app", PYTHONUNBUFFERED="1")
    if scenario is not None:
        env.update(VOICE_PROVIDER=scenario.voice_provider, SMS_PROVIDER=scenario.sms_provider)
    if provider_url:
        env.update(TWILIO_API_BASE_URL=provider_url, AT_API_BASE_URL=provider_url)
    return env


# --- the log -----------------------------------------------------------------------------------------


@dataclass
class LogCounts:
    apologies: int = 0  # the voice routes' warnings and exceptions: each one answered the apology
    errors: int = 0  # ERROR and CRITICAL lines (gunicorn's WORKER TIMEOUT too)
    deadlocks: int = 0
    samples: list[str] = field(default_factory=list)


def scan_log(path: Path, offset: int) -> LogCounts:
    counts = LogCounts()
    with path.open("rb") as f:
        f.seek(offset)
        lines = f.read().decode(errors="replace").splitlines()
    for line in lines:
        notable = False
        if "ivr.routes" in line and "voice webhook" in line:
            counts.apologies += 1
            notable = True
        if re.search(r"\b(ERROR|CRITICAL)\b", line):
            counts.errors += 1
            notable = True
        if "deadlock" in line.lower():
            counts.deadlocks += 1
            notable = True
        if notable and len(counts.samples) < 3:
            counts.samples.append(_PHONE.sub(r"\1****", line)[:300])
    return counts


def postgres_deadlocks(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(
                text("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
            ).scalar_one()
    finally:
        engine.dispose()


# --- a run -------------------------------------------------------------------------------------------


@dataclass
class Row:
    scenario: Scenario
    load: Load
    log: LogCounts
    sent: int | None = None  # messages the fake provider received
    web_cpu: float = 0.0  # seconds, gunicorn master and workers, in the window (roughly: read around it)
    db_cpu: float | None = None  # seconds, PostgreSQL backends serving our database
    sender_cpu: float | None = None  # seconds, the `flask sender` process (when the app has one)
    others: float = 0.0  # cores busy with other processes than ours (servers, database backends, generator)
    pg_deadlocks: int | None = None
    log_offset: int = 0  # where the server's log stood when the scenario began
    pg_deadlocks_before: int | None = None

    @property
    def rps(self) -> float:
        return len(self.load.latencies) / self.load.seconds

    def per_request_ms(self, seconds: float | None) -> str:
        if seconds is None or not self.load.latencies:
            return "-"
        return f"{seconds * 1000 / len(self.load.latencies):.2f}"


def quantile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def _tree(proc: subprocess.Popen | None) -> list[int]:
    return [proc.pid, *_children(proc.pid)] if proc is not None else []


def run_scenario(
    index: int,
    scenario: Scenario,
    server: Gunicorn,
    args: argparse.Namespace,
    database_url: str,
    db_name: str,
    sender: subprocess.Popen | None = None,
    provider: subprocess.Popen | None = None,
) -> Row:
    offset = server.log.stat().st_size
    deadlocks_before = postgres_deadlocks(database_url) if args.db == "postgresql" else None
    web_before = server.cpu_seconds()
    db_before = _cpu_by_pid(_postgres_backends(db_name)) if db_name else {}
    sender_before, provider_before = _cpu_seconds(_tree(sender)), _cpu_seconds(_tree(provider))
    busy_before = _machine_busy()
    load = run_load(
        server.port, scenario, FIRST_NUMBER + index * 1_000_000, args.concurrency, args.warmup, args.seconds,
        args.think_ms / 1000,
    )  # fmt: skip
    busy_after = _machine_busy()
    web_cpu = server.cpu_seconds() - web_before
    sender_cpu = _cpu_seconds(_tree(sender)) - sender_before
    provider_cpu = _cpu_seconds(_tree(provider)) - provider_before
    db_cpu = None
    if db_name:  # backends that ended during the run are missed (the pools keep theirs open)
        db_cpu = sum(cpu - db_before.get(pid, 0.0) for pid, cpu in _cpu_by_pid(_postgres_backends(db_name)).items())
    # the servers' CPU figures cover the warmup too: scale them to the counted window
    elapsed = args.seconds + args.warmup
    share = args.seconds / elapsed
    busy_cores = (busy_after[0] - busy_before[0]) / max(1, busy_after[1] - busy_before[1]) * (os.cpu_count() or 1)
    ours = (web_cpu + (db_cpu or 0.0) + sender_cpu + provider_cpu) / elapsed + load.generator_cpu / args.seconds
    return Row(
        scenario, load, LogCounts(),
        web_cpu=web_cpu * share,
        db_cpu=None if db_cpu is None else db_cpu * share,
        sender_cpu=None if sender is None else sender_cpu * share,
        others=max(0.0, busy_cores - ours),
        log_offset=offset,
        pg_deadlocks_before=deadlocks_before,
    )  # fmt: skip


def finish_row(row: Row, server: Gunicorn, database_url: str, provider_url: str = "") -> None:
    """After the server stopped: the log it wrote, PostgreSQL's counters, what the fake provider received."""
    row.log = scan_log(server.log, row.log_offset)
    if row.pg_deadlocks_before is not None:
        row.pg_deadlocks = postgres_deadlocks(database_url) - row.pg_deadlocks_before
    if provider_url:
        with urllib.request.urlopen(f"{provider_url}/_stats", timeout=30) as response:
            row.sent = json.load(response)["messages"]


@contextmanager
def database(kind: str, workdir: Path) -> Iterator[tuple[str, str]]:
    """A fresh database (URL, PostgreSQL database name or "") for one run."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'bench.sqlite3'}", ""
        return
    server = os.environ.get("TEST_DATABASE_URL")
    if not server:
        sys.exit("--db postgresql needs TEST_DATABASE_URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)")
    with new_postgres_database(server, "kalanso_bench_wh") as url:
        yield url, url.rsplit("/", 1)[1].split("?")[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite", choices=["sqlite", "postgresql"])
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers, for the app and the bare app")
    parser.add_argument("--worker-class", default="sync", choices=["sync", "gthread"])
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (gthread only)")
    parser.add_argument("--concurrency", type=int, default=100, help="simulated callers, each one request at a time")
    parser.add_argument("--seconds", type=float, default=20.0, help="counted time per scenario")
    parser.add_argument("--warmup", type=float, default=3.0, help="uncounted time before it")
    parser.add_argument("--think-ms", type=float, default=0.0, help="pause between a caller's requests (0: none)")
    names = [s.name for s in SCENARIOS if s.server == "app"]
    parser.add_argument("--scenarios", default=",".join(names), help=f"among {', '.join(names)} (bare always runs)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the servers' logs (their folder is printed)")
    parser.add_argument(
        "--skip-audio", action="store_true", help="do not run `flask content audio` first (as the Procfile's web does)"
    )
    args = parser.parse_args()
    chosen = [s for s in SCENARIOS if s.server == "app" and s.name in args.scenarios.split(",")]
    unknown = set(args.scenarios.split(",")) - set(names)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")

    check_signer()
    workdir = Path(tempfile.mkdtemp(prefix="kalanso_bench_wh_"))
    rows: list[Row] = []
    try:
        with database(args.db, workdir) as (url, db_name):
            import logging

            logging.getLogger("alembic").setLevel(logging.WARNING)
            migrate_to_head(url)
            logging.getLogger().setLevel(logging.WARNING)
            audio = french_audio(app_env(url), generate=not args.skip_audio)
            sms = any(s.provider_latency_ms is not None for s in chosen)
            sender = sender_command(app_env(url)) if sms else None
            _print_header(args, sender, audio)
            plan = [SCENARIOS[0], *chosen, SCENARIOS[0]]
            with gunicorn("bare", "bench.bare:app", app_env(url), args, workdir) as bare:
                for index, scenario in enumerate(plan):
                    if scenario.server == "bare":
                        row = run_scenario(index, scenario, bare, args, url, "")
                        finish_row(row, bare, url)
                    else:
                        row = _run_app_scenario(index, scenario, args, url, db_name, sender, workdir)
                    rows.append(row)
                    print(f"  {scenario.name}: {row.rps:.1f} req/s", flush=True)
        _print_table(rows)
    finally:
        if args.keep_logs:
            print(f"logs kept in {workdir}")
        else:
            for path in sorted(workdir.glob("*"), reverse=True):
                path.unlink()
            workdir.rmdir()


def _run_app_scenario(
    index: int, scenario: Scenario, args, url: str, db_name: str, sender: list[str] | None, workdir: Path
) -> Row:
    if scenario.provider_latency_ms is None:
        with gunicorn(scenario.name, "app:app", app_env(url, scenario), args, workdir) as server:
            row = run_scenario(index, scenario, server, args, url, db_name)
        finish_row(row, server, url)
        return row
    with fake_provider(scenario.provider_latency_ms, workdir) as (provider_url, provider):
        env = app_env(url, scenario, provider_url)
        with (
            sender_process(env, sender, workdir) as sender_proc,
            gunicorn(scenario.name, "app:app", env, args, workdir) as server,
        ):
            row = run_scenario(index, scenario, server, args, url, db_name, sender_proc, provider)
        finish_row(row, server, url, provider_url)
    return row


COLUMNS = (
    f"{'scenario':<17}{'req/s':>8}{'x bare':>8}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}{'answers':>9}{'non-2xx':>8}"
    f"{'failed':>7}{'flows':>7}{'short':>6}{'sorry':>6}{'log sorry':>10}{'log err':>8}{'deadlk':>7}{'pg dl':>6}"
    f"{'sent':>7}{'web ms':>8}{'db ms':>7}{'send ms':>8}{'gen %':>6}{'other %':>8}"
)


def french_audio(env: dict[str, str], generate: bool) -> str:
    """Make the French audio as the Procfile's web process does before gunicorn (idempotent), and say what
    there is: without it every French line falls back to text-to-speech and is counted in the database."""
    if generate:
        subprocess.run(
            [str(BIN / "flask"), "--app", "app", "content", "audio"], cwd=ROOT, env=env, capture_output=True,
            timeout=900, check=True,
        )  # fmt: skip
    files = sum(1 for p in (ROOT / "content" / "audio").rglob("*") if p.suffix in (".wav", ".mp3"))
    return f"{files} audio files under content/audio" + ("" if generate else " (--skip-audio: none made)")


def _print_header(args, sender: list[str] | None, audio: str) -> None:
    load = os.getloadavg()
    print(
        f"Kalanso webhooks under gunicorn {_gunicorn_version()} ({args.worker_class}, {args.workers} workers"
        + (f" x {args.threads} threads" if args.worker_class == "gthread" else "")
        + f"), database {args.db}, {args.concurrency} concurrent callers in a closed loop, think time "
        f"{args.think_ms:g} ms, {args.warmup:g} s warmup + {args.seconds:g} s counted per scenario; "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, load average {load[0]:.2f} at start"
    )
    print(
        "SMS replies: "
        + (f"a `flask {' '.join(sender)}` process sends them" if sender else "sent in the webhook (no `flask sender`)")
        + f"; French voice: {audio}",
        flush=True,
    )


def _gunicorn_version() -> str:
    from importlib.metadata import version

    return version("gunicorn")


def _print_table(rows: list[Row]) -> None:
    bare = (rows[0].rps + rows[-1].rps) / 2  # the bare app ran first and last: their mean is the baseline
    print()
    print(COLUMNS)
    for i, row in enumerate(rows):
        lat = sorted(row.load.latencies)
        non2xx = sum(n for status, n in row.load.statuses.items() if not 200 <= status < 300)
        name = row.scenario.name + (" (again)" if i and row.scenario.server == "bare" else "")
        print(
            f"{name:<17}{row.rps:>8.1f}{row.rps / bare if bare else float('nan'):>8.2f}"
            f"{quantile(lat, 0.50) * 1000:>8.1f}{quantile(lat, 0.95) * 1000:>8.1f}"
            f"{quantile(lat, 0.99) * 1000:>8.1f}{len(lat):>9}{non2xx:>8}{sum(row.load.failures.values()):>7}"
            f"{row.load.flows:>7}{row.load.cut_short:>6}{row.load.apologies:>6}{row.log.apologies:>10}"
            f"{row.log.errors:>8}{row.log.deadlocks:>7}{'-' if row.pg_deadlocks is None else row.pg_deadlocks:>6}"
            f"{'-' if row.sent is None else row.sent:>7}{row.per_request_ms(row.web_cpu):>8}"
            f"{row.per_request_ms(row.db_cpu):>7}{row.per_request_ms(row.sender_cpu):>8}"
            f"{row.load.generator_cpu / row.load.seconds * 100:>6.0f}{row.others * 100:>8.0f}"
        )
        for sample in row.log.samples:
            print(f"    log: {sample}")
        if row.load.failures:
            print(f"    failed: {dict(row.load.failures)}")
    print(
        "\nreq/s: answers completed per second in the counted window; x bare: over the mean req/s of the two bare "
        "runs; answers: in the window; flows: calls or conversations finished in it; short: calls whose answers "
        "stopped asking for keys early; sorry: answers that say the apology prompt; log sorry: the voice routes' "
        "warnings (each one answered the apology); log err: ERROR/CRITICAL lines; deadlk: log lines that say "
        "deadlock; pg dl: PostgreSQL's own deadlock count for the database; sent: SMS the fake provider received "
        "(whole scenario, warmup included); web ms / db ms / send ms: CPU per answer in gunicorn / in the "
        "PostgreSQL backends / in the sender process; gen %: the load generator's CPU; other %: every other "
        "process and the kernel's network work (one core = 100; a busy neighbour skews the figures)."
    )
    by_name = {r.scenario.name: r for r in rows}
    for provider in ("twilio", "at"):
        fast, slow = by_name.get(f"sms-{provider}-0ms"), by_name.get(f"sms-{provider}-500ms")
        if fast and slow and fast.rps:
            ratio = slow.rps / fast.rps
            print(f"sms-{provider}: requests/s with the provider answering in 500 ms / in 0 ms = {ratio:.2f}")


if __name__ == "__main__":
    main()
