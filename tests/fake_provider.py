"""A fake Twilio + Africa's Talking REST server on 127.0.0.1, reached through the real SDKs.

Used by the campaign crash test and by ``bench/``: point ``TWILIO_API_BASE_URL`` / ``AT_API_BASE_URL``
at ``server.base_url``. It records every message and call it accepts, so a test can count
duplicates and missing listeners. Wire shapes follow shared/reference/providers.md §6 and §9–10.

Run standalone: ``python -m tests.fake_provider --port 8765`` (prints what it receives).
``--latency-ms 500`` (or ``FakeProviderServer(latency_ms=500)``) makes every provider request wait that
long before its answer, as a slow provider would (``/_stats`` answers at once).
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class Store:
    def __init__(self):
        self.lock = threading.Lock()
        self.messages: list[dict] = []  # {"sid", "to", "body", "at", "provider"}
        self.calls: list[dict] = []
        self.requests: Counter = Counter()  # path -> number of requests
        self.latency_seconds = 0.0  # how long each provider request waits before its answer

    def add_message(self, provider: str, to: str, body: str) -> dict:
        record = {
            "sid": ("SM" if provider == "twilio" else "ATXid_") + uuid.uuid4().hex,
            "to": to,
            "body": body,
            "at": datetime.now(UTC),
            "provider": provider,
        }
        with self.lock:
            self.messages.append(record)
        return record

    def add_call(self, provider: str, to: str) -> dict:
        record = {
            "sid": ("CA" if provider == "twilio" else "ATVId_") + uuid.uuid4().hex,
            "to": to,
            "at": datetime.now(UTC),
            "provider": provider,
        }
        with self.lock:
            self.calls.append(record)
        return record

    def message_counts(self) -> Counter:
        with self.lock:
            return Counter(m["to"] for m in self.messages)


def _twilio_message_json(record: dict, account: str) -> dict:
    return {
        "sid": record["sid"],
        "account_sid": account,
        "to": record["to"],
        "from": "+15005550006",
        "body": record["body"],
        "status": "queued",
        "num_segments": "1",
        "direction": "outbound-api",
        "date_created": format_datetime(record["at"]),
        "date_sent": format_datetime(record["at"]),
        "error_code": None,
        "error_message": None,
        "uri": f"/2010-04-01/Accounts/{account}/Messages/{record['sid']}.json",
    }


class Handler(BaseHTTPRequestHandler):
    server_version = "FakeProvider/1.0"
    store: Store

    def log_message(self, fmt, *args):  # quiet
        pass

    def _json(self, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")  # bare, as the AT SDK requires
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _form(self) -> dict[str, list[str]]:
        length = int(self.headers.get("Content-Length") or 0)
        return parse_qs(self.rfile.read(length).decode(), keep_blank_values=True)

    def _wait(self) -> None:
        """The provider's own latency, in this request's thread (the server answers others meanwhile)."""
        if self.store.latency_seconds > 0:
            time.sleep(self.store.latency_seconds)

    def do_POST(self):
        url = urlparse(self.path)
        form = self._form()
        self._wait()
        with self.store.lock:
            self.store.requests[url.path] += 1
        parts = url.path.strip("/").split("/")
        if url.path.endswith("/Messages.json"):  # Twilio create message
            record = self.store.add_message("twilio", form["To"][0], form["Body"][0])
            return self._json(201, _twilio_message_json(record, parts[2]))
        if url.path.endswith("/Calls.json"):  # Twilio create call
            record = self.store.add_call("twilio", form["To"][0])
            return self._json(201, {"sid": record["sid"], "status": "queued", "to": record["to"]})
        if url.path == "/version1/messaging":  # Africa's Talking bulk SMS
            recipients = [r.strip() for r in form["to"][0].split(",") if r.strip()]
            out = []
            for to in recipients:
                record = self.store.add_message("africastalking", to, form["message"][0])
                out.append({"statusCode": 101, "number": to, "status": "Success", "cost": "XOF 15.0000",
                            "messageId": record["sid"]})  # fmt: skip
            message = f"Sent to {len(out)}/{len(recipients)} Total Cost: XOF {15 * len(out)}"
            return self._json(201, {"SMSMessageData": {"Message": message, "Recipients": out}})
        if url.path == "/call":  # Africa's Talking voice
            entries = []
            for to in form["to"][0].split(","):
                record = self.store.add_call("africastalking", to.strip())
                entries.append({"phoneNumber": record["to"], "status": "Queued", "sessionId": record["sid"]})
            return self._json(200, {"entries": entries, "errorMessage": "None"})
        return self._json(404, {"message": f"unknown path {url.path}"})

    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/_stats":  # for a benchmark that runs this server in another process
            counts = self.store.message_counts()
            with self.store.lock:
                requests = dict(self.store.requests)
            return self._json(200, {"messages": sum(counts.values()), "distinct": len(counts), "requests": requests})
        self._wait()
        if url.path.endswith("/Messages.json"):  # Twilio list, filtered by To and DateSent>=
            query = parse_qs(url.query)
            account = url.path.strip("/").split("/")[2]
            to = query.get("To", [None])[0]
            with self.store.lock:
                found = [m for m in self.store.messages if m["provider"] == "twilio" and (to is None or m["to"] == to)]
            page = {
                "messages": [_twilio_message_json(m, account) for m in found],
                "page": 0,
                "page_size": len(found) or 50,
                "next_page_uri": None,
                "uri": url.path,
            }
            return self._json(200, page)
        return self._json(404, {"message": f"unknown path {url.path}"})


class FakeProviderServer:
    """``with FakeProviderServer() as server: ... server.base_url ... server.store``"""

    def __init__(self, port: int = 0, latency_ms: float = 0.0):
        if latency_ms < 0:
            raise ValueError("latency_ms must be 0 or more")
        self.store = Store()
        handler = type("BoundHandler", (Handler,), {"store": self.store})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.store.latency_seconds = latency_ms / 1000  # each provider request waits this long (0: at once)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> FakeProviderServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="wait this long before each answer")
    args = parser.parse_args()
    with FakeProviderServer(args.port, latency_ms=args.latency_ms) as server:
        print(f"fake provider on {server.base_url}, latency {args.latency_ms:g} ms (Ctrl-C to stop)", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print(f"{len(server.store.messages)} messages, {len(server.store.calls)} calls received")


if __name__ == "__main__":
    main()
