"""A real gateway: Debian's Kannel (bearerbox + smsbox) with its test SMSC ``fakesmsc`` (``kannel-extras``),
started here, in front of the app served over HTTP with ``SMS_PROVIDER=gateway`` and the kannel preset.

A listener's text is injected at the fake SMSC; Kannel's ``sms-service`` brings it to our receive URL (its
``get-url``); the replies go out through the real sender to smsbox's ``sendsms`` and arrive at the fake SMSC
(read from fakesmsc's output, concatenated parts reassembled); Kannel's delivery reports come back to the
``dlr-url`` and are recorded on the messages. Skipped with the reason when Kannel is not installed, unless
``KALANSO_REQUIRE_KANNEL=1`` (``.ci/run`` installs it and sets that).
"""

from __future__ import annotations

import os
import random
import re
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, unquote_to_bytes

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from core.db import db
from core.vocabulary import MessageStatus
from listeners.models import Listener
from sms.models import Message
from tests.conftest import make_app
from tests.gateway_support import SECRET
from tests.test_sms_line import COURSES_FR, STOPPED_FR, to_sms

pytestmark = pytest.mark.kannel

BEARERBOX = Path("/usr/sbin/bearerbox")
SMSBOX = Path("/usr/sbin/smsbox")
FAKESMSC = Path("/usr/lib/kannel/test/fakesmsc")
PORTS = range(13100, 13200)
PHONE = "+22376123456"
SHORT_CODE = "36001"
WAIT = 20.0  # seconds for any one step (the whole test takes a few seconds)


def _require_kannel() -> None:
    missing = [str(path) for path in (BEARERBOX, SMSBOX, FAKESMSC) if not path.exists()]
    if not missing:
        return
    if os.environ.get("KALANSO_REQUIRE_KANNEL") == "1":
        pytest.fail(f"KALANSO_REQUIRE_KANNEL=1 but {', '.join(missing)} missing (apt-get install kannel kannel-extras)")
    pytest.skip(f"Kannel is not installed ({', '.join(missing)} missing): apt-get install kannel kannel-extras")


def _free_ports(count: int) -> list[int]:
    """Ports in 13100-13199 that nothing listens on right now."""
    found = []
    for port in random.sample(list(PORTS), len(PORTS)):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        found.append(port)
        if len(found) == count:
            return found
    pytest.fail(f"fewer than {count} free ports in 13100-13199")


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _wait(what: str, check: Callable[[], object], timeout: float = WAIT, logs: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    files = sorted(logs.glob("*.log")) if logs else []
    tail = "".join(f"\n--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in files)
    pytest.fail(f"timed out waiting for {what}{tail}")


KANNEL_CONF = """\
group = core
admin-port = {admin}
admin-password = kalanso-admin
admin-interface = 127.0.0.1
smsbox-port = {box}
box-allow-ip = 127.0.0.1
log-file = "{logs}/bearerbox.log"
log-level = 0
dlr-storage = internal

group = smsc
smsc = fake
smsc-id = fake
port = {smsc}
connect-allow-ip = 127.0.0.1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {box}
sendsms-port = {sendsms}
sendsms-interface = 127.0.0.1
log-file = "{logs}/smsbox.log"
log-level = 0
http-request-retry = 3
http-queue-delay = 1

group = sendsms-user
username = kalanso
password = kannel-pass
max-messages = 3
concatenation = true

group = sms-service
keyword = default
catch-all = true
get-url = "{app}/sms/gateway/{secret}/receive?from=%p&to=%P&text=%b&coding=%c&charset=%C&time=%T&id=%I"
max-messages = 0
omit-empty = true
"""


@contextmanager
def _process(args: list[str], log: Path) -> Iterator[subprocess.Popen]:
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=log.parent)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


@pytest.fixture
def kannel(tmp_path) -> Iterator[dict]:
    """bearerbox and smsbox on free ports, and the URL our app will be served at (the get-url's host)."""
    _require_kannel()
    admin, box, smsc, sendsms, app = _free_ports(5)
    conf = tmp_path / "kannel.conf"
    ports = {"admin": admin, "box": box, "smsc": smsc, "sendsms": sendsms}
    conf.write_text(KANNEL_CONF.format(**ports, logs=tmp_path, app=f"http://127.0.0.1:{app}", secret=SECRET))
    with _process([str(BEARERBOX), str(conf)], tmp_path / "bearerbox.out.log"):
        _wait("bearerbox", lambda: _listening(box) and _listening(smsc), logs=tmp_path)
        with _process([str(SMSBOX), str(conf)], tmp_path / "smsbox.out.log"):
            _wait("smsbox's sendsms port", lambda: _listening(sendsms), logs=tmp_path)
            yield {**ports, "app": app, "dir": tmp_path}


@pytest.fixture
def served(request, kannel, sqlite_url) -> Iterator:
    """The app over HTTP on the port Kannel calls, SMS through Kannel; and the real sender in a thread. Settings
    can be added with ``@pytest.mark.parametrize("served", [{...}], indirect=True)``."""
    from sender.loop import Sender

    app = make_app(
        sqlite_url,
        **getattr(request, "param", {}),
        PUBLIC_BASE_URL=f"http://127.0.0.1:{kannel['app']}",
        SMS_PROVIDER="gateway",
        SMS_GATEWAY_PRESET="kannel",
        SMS_GATEWAY_URL=f"http://127.0.0.1:{kannel['sendsms']}/cgi-bin/sendsms",
        SMS_GATEWAY_USERNAME="kalanso",
        SMS_GATEWAY_PASSWORD="kannel-pass",
        SMS_GATEWAY_SENDER=SHORT_CODE,
        SMS_GATEWAY_CALLBACK_SECRET=SECRET,
    )
    server = make_server("127.0.0.1", kannel["app"], app, threaded=True)
    stop = threading.Event()
    threads = [
        threading.Thread(target=server.serve_forever, daemon=True),
        threading.Thread(target=Sender(app, poll_seconds=0.1).run, args=(stop,), daemon=True),
    ]
    for thread in threads:
        thread.start()
    try:
        yield app
    finally:
        stop.set()
        server.shutdown()
        for thread in threads:
            thread.join(10)
        with app.app_context():
            db.engine.dispose()


_GOT = re.compile(r"Got message \d+: <(.*)>$")


def _received(log: Path) -> list[str]:
    """The texts fakesmsc got, decoded (``text``: as is; ``data``: URL-encoded bytes; ``ucs-2``: UTF-16BE), the
    parts of a concatenated SMS (``udh 05 00 03 ref total seq``) joined in order.

    fakesmsc reads one message per line: a plain ``text`` with new lines reaches it as one "message" per line,
    the first with ``from to text``, the others bare — they are joined back with their new lines."""
    lines = [found.group(1) for found in map(_GOT.search, log.read_text(errors="replace").splitlines()) if found]
    messages: list[str] = []
    for line in lines:
        if line.startswith(f"{SHORT_CODE} {PHONE} ") or not messages:
            messages.append(line.removeprefix(f"{SHORT_CODE} {PHONE} "))
        else:
            messages[-1] += "\n" + line
    texts, parts = [], {}
    for rest in messages:
        udh = b""
        if rest.startswith("udh "):
            _, encoded_udh, rest = rest.split(" ", 2)
            udh = unquote_to_bytes(encoded_udh.replace("+", " "))
        kind, _, data = rest.partition(" ")
        if kind == "text":
            text = data
        else:
            raw = unquote_to_bytes(data.replace("+", " "))
            text = raw.decode("utf-16-be" if kind == "ucs-2" else "utf-8")
        if len(udh) >= 6 and udh[1] == 0x00:  # concatenation: reference, total, sequence number
            reference, total, number = udh[3], udh[4], udh[5]
            parts.setdefault(reference, {})[number] = text
            if len(parts[reference]) == total:
                done = parts.pop(reference)
                texts.append("".join(done[n] for n in range(1, total + 1)))
        else:
            texts.append(text)
    return texts


def _text_in(kannel: dict, text: str, expect: int, *, ucs2: bool = False) -> list[str]:
    """A listener texts the short code through the fake SMSC (``ucs2``: as a phone sends a text that is not
    GSM-7); the replies it gets (``expect`` of them)."""
    n = len(list(kannel["dir"].glob("fakesmsc-*.log")))
    log = kannel["dir"] / f"fakesmsc-{n}.log"
    args = [str(FAKESMSC), "-H", "127.0.0.1", "-r", str(kannel["smsc"]), "-i", "0.1", "-m", "1"]
    message = f"ucs2 {quote(text.encode('utf-16-be'), safe='')}" if ucs2 else f"text {text}"
    with _process([*args, f"{PHONE} {SHORT_CODE} {message}"], log):
        return _wait(f"{expect} reply(ies) to {text!r}", lambda: (r := _received(log)) and len(r) >= expect and r,
                     logs=kannel["dir"])  # fmt: skip


def _messages(app) -> list[Message]:
    with app.app_context():
        rows = db.session.scalars(select(Message).order_by(Message.id)).all()
        db.session.expunge_all()
        db.session.remove()
        return rows


def test_a_quiz_through_a_real_kannel(kannel, served, catalog):
    started = time.monotonic()
    assert _text_in(kannel, "QUIZ", 1) == [COURSES_FR]

    lesson = catalog.lesson("child-labour", "what-is-child-labour")
    chunk, q1, _ = lesson.items
    replies = _text_in(kannel, "1", 2)  # the lesson's text (two concatenated parts) and its first question
    assert replies[0] == "Lecon : Qu'est-ce que le travail des enfants ?\n" + to_sms(chunk.body.text("fr"))
    assert replies[1].startswith("Question 1/2 : Awa a dix ans.")
    assert _text_in(kannel, "oui", 1)[0].startswith(to_sms(q1.feedback_correct.text("fr")))
    assert _text_in(kannel, "Arrêt", 1, ucs2=True) == [STOPPED_FR]  # ê is not GSM-7: the phone sends UCS-2

    def reported() -> list[Message] | None:
        rows = [m for m in _messages(served) if m.direction == "outbound"]
        return rows if rows and all(m.status == MessageStatus.DELIVERED for m in rows) else None

    outbound = _wait("every reply's delivery report", reported, logs=kannel["dir"])
    assert [m.provider_message_id for m in outbound] == [f"kalanso-{n}" for n in range(1, 6)]
    assert {(m.provider, m.provider_status, m.encoding) for m in outbound} == {("gateway", "DLR_SUCCESS", "GSM-7")}
    assert all(m.sent_at and m.delivered_at for m in outbound)
    inbound = [m for m in _messages(served) if m.direction == "inbound"]
    assert [(m.provider, m.body) for m in inbound] == [("gateway", t) for t in ("QUIZ", "1", "oui", "Arrêt")]
    assert all(re.fullmatch(r"[0-9a-f-]{36}", m.provider_message_id) for m in inbound)  # Kannel's %I
    with served.app_context():
        assert db.session.scalars(select(Listener)).one().opted_out
        db.session.remove()
    assert time.monotonic() - started < 60


@pytest.mark.parametrize("served", [{"SMS_TRANSLITERATE": "off", "SMS_MAX_SEGMENTS": "6"}], indirect=True)
def test_a_bambara_reply_goes_through_kannel_as_ucs2(kannel, served):
    """Transliteration off: the Bambara letters stay, so the reply goes as UCS-2 (``coding=2``) and reaches the
    handset as it was written."""
    assert _text_in(kannel, "KALAN", 1) == ["Kalan dɔ sugandi, a nimɔrɔ ci:\n1) Denmisɛnw ka baara\n2) Wari"]

    def reported() -> list[Message] | None:
        rows = [m for m in _messages(served) if m.direction == "outbound"]
        return rows if rows and rows[0].status == MessageStatus.DELIVERED else None

    (reply,) = _wait("the reply's delivery report", reported, logs=kannel["dir"])
    assert (reply.encoding, reply.segments, reply.provider_status) == ("UCS-2", 1, "DLR_SUCCESS")


def test_without_kannel_the_test_says_why_it_skips_unless_kannel_is_required(monkeypatch, tmp_path):
    monkeypatch.setitem(globals(), "FAKESMSC", tmp_path / "fakesmsc")
    monkeypatch.delenv("KALANSO_REQUIRE_KANNEL", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"fakesmsc missing\): apt-get install kannel kannel-extras"):
        _require_kannel()
    monkeypatch.setenv("KALANSO_REQUIRE_KANNEL", "1")
    with pytest.raises(pytest.fail.Exception, match=r"KALANSO_REQUIRE_KANNEL=1 but .*fakesmsc missing"):
        _require_kannel()
