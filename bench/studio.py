"""Benchmark: the content studio's pages, and what the studio adds to the voice line, on PostgreSQL.

A throw-away database (``kalanso_bench_studio_*``) is migrated to head and filled as after a long recording season on
the real courses: every text the line speaks (``ivr.studio.recordable_texts``: ~380) has its fallback count; in
Bambara 80 % of them have a current recording with ``--takes`` takes each (the older ones replaced, as history), in
French 30 %; half the texts are reviewed per language. The current Bambara recordings are real WAV files in a
temporary audio folder.

Measured in-process with the Flask test client (routing, sign-in from the session, queries, template; no network),
≥ 30 requests each, for an admin and a reviewer:
- the coverage page (all languages, then Bambara for one course), the print view, a text's page (varied texts);
- the voice line's look-up of a Bambara line's audio (``ivr.audio.utterance``, 30 lines per "request") with the
  studio's map of current recordings warm, and with it read again every time (what one turn in 30 s pays), side by
  side with the file look-up alone (``content.recordings.cached_recording``, the line before the studio);
- a recording served to a provider (``/audio/bm/<stem>.wav?v=<id>``).
Baselines in the same run: a bare endpoint (``/healthz``) and a bare ``SELECT 1``.

    TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test .venv/bin/python -m bench.studio
    ... -m bench.studio --takes 10 --requests 50

Prints figures; asserts nothing (``tests/test_bench_studio.py`` runs it tiny so that it cannot rot).
"""

from __future__ import annotations

import argparse
import io
import math
import os
import random
import struct
import sys
import tempfile
import time
import wave
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from bench.dashboard import NOW, PASSWORD, Figures, Who, make_bench_app, report, signed_in

REQUESTS = 30
LINES_PER_TURN = 30


def timed(fn: Callable[[int], object], requests: int) -> list[float]:
    fn(0)  # warm: the first call pays for compiling the query and the template
    out = []
    for i in range(requests):
        start = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - start) * 1000)
    return out


def tone_wav(seconds: float = 1.0, rate: int = 16_000) -> bytes:
    frames = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * n / rate))) for n in range(int(rate * seconds))
    )
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(rate)
        w.writeframes(frames)
    return out.getvalue()


def fill(app, audio_dir: Path, takes: int) -> dict[str, int]:
    """The studio's rows after a season; the current Bambara recordings as files. Returns row counts."""
    from sqlalchemy import func, select

    from accounts.roles import Role
    from accounts.service import create_user
    from core.db import db
    from ivr.studio import recordable_texts
    from studio.models import AudioFallback, Recording, RecordingSource, RecordingStatus, ReviewStatus, TextReview
    from studio.service import text_hash

    rng = random.Random(7)
    sound = tone_wav()
    with app.app_context():
        editor, _ = create_user("editor@bench.example", Role.EDITOR, NOW, password=PASSWORD)
        db.session.flush()
        texts = recordable_texts()
        rows: list[object] = []
        for n, t in enumerate(texts):
            rows.append(AudioFallback(lang="bm", stem=t.stem, count=int(rng.paretovariate(1.2) * 10), first_at=NOW,
                                      last_at=NOW))  # fmt: skip
            for lang, share in (("bm", 0.8), ("fr", 0.3)):
                if n % 2 == 0:
                    rows.append(TextReview(lang=lang, stem=t.stem, status=ReviewStatus.REVIEWED,
                                           text_hash=text_hash(t.text.text(lang)), updated_at=NOW))  # fmt: skip
                if rng.random() >= share:
                    continue
                for k in range(takes):
                    current = k == takes - 1
                    file = f"{lang}/{t.stem}.wav" if current else f".history/{lang}/{t.stem}.{n}{k}.wav"
                    rows.append(Recording(
                        lang=lang, stem=t.stem, file=file, source=RecordingSource.BROWSER,
                        status=RecordingStatus.APPROVED if current and n % 3 else RecordingStatus.RECORDED,
                        duration_ms=4000, text_hash=text_hash(t.text.text(lang)), recorded_by=editor.id,
                        created_at=NOW - timedelta(days=takes - k), replaced_at=None if current else NOW,
                    ))  # fmt: skip
                    if current and lang == "bm":
                        path = audio_dir / file
                        path.parent.mkdir(parents=True, exist_ok=True)
                        path.write_bytes(sound)
        db.session.add_all(rows)
        db.session.commit()
        counts = {
            "texts": len(texts),
            "recordings": db.session.scalar(select(func.count()).select_from(Recording)),
            "current recordings": db.session.scalar(
                select(func.count()).select_from(Recording).where(Recording.replaced_at.is_(None))
            ),
            "text reviews": db.session.scalar(select(func.count()).select_from(TextReview)),
            "fallback counts": db.session.scalar(select(func.count()).select_from(AudioFallback)),
        }
        db.session.remove()
        return counts


def people(app) -> list[Who]:
    from accounts.roles import Role
    from accounts.service import create_user
    from core.db import db

    with app.app_context():
        admin, _ = create_user("admin@bench.example", Role.ADMIN, NOW, password=PASSWORD)
        reviewer, _ = create_user("reviewer@bench.example", Role.REVIEWER, NOW, password=PASSWORD)
        db.session.commit()
        return [Who("admin", admin.id, admin.email), Who("reviewer", reviewer.id, reviewer.email)]


def bench_pages(app, who: list[Who], requests: int) -> list[Figures]:
    from ivr.studio import recordable_texts

    with app.app_context():
        stems = [t.stem for t in recordable_texts()]
    step = max(1, len(stems) // requests)
    cases: list[tuple[str, Callable[[int], str]]] = [
        ("baseline: /healthz (one SELECT 1)", lambda i: "/healthz"),
        ("page coverage (both languages)", lambda i: "/dashboard/studio/"),
        ("page coverage (Bambara, one course)", lambda i: f"/dashboard/studio/?lang=bm&course={COURSES[i % 3]}"),
        ("page print view (Bambara, missing)", lambda i: "/dashboard/studio/print?lang=bm&missing=1"),
        ("page a text (varied)", lambda i: f"/dashboard/studio/items/{stems[(i * step) % len(stems)]}"),
    ]
    out = []
    for person in who:
        with signed_in(app, person) as client:
            for name, url in cases:

                def get(i: int, client=client, url=url) -> None:
                    response = client.get(url(i))
                    if response.status_code != 200:
                        raise SystemExit(f"{url(i)}: {response.status_code}")

                out.append(Figures(name, person.label, timed(get, requests)))
    return out


COURSES = ("child-labour", "field-agents", "money")


def bench_line(app, requests: int) -> list[Figures]:
    from sqlalchemy import select, text

    from content.model import Localized
    from content.recordings import cached_recording, forget_recordings
    from core.db import db
    from ivr.audio import utterance
    from ivr.menu import Said
    from ivr.studio import recordable_texts
    from studio.models import Recording
    from studio.playback import forget as forget_published

    out = []
    with app.test_request_context():
        texts = [t for t in recordable_texts() if t.course_id][: LINES_PER_TURN * 4]
        lines = [Said(Localized(t.text.texts, t.text.audio)) for t in texts]
        audio_dir = app.config["KALANSO_AUDIO_DIR"]

        def files_only(i: int) -> None:
            for line in lines[(i % 4) * LINES_PER_TURN : (i % 4 + 1) * LINES_PER_TURN]:
                cached_recording(audio_dir, "bm", line.text.recording("bm"))

        def warm(i: int) -> None:
            for line in lines[(i % 4) * LINES_PER_TURN : (i % 4 + 1) * LINES_PER_TURN]:
                utterance(line, "bm", count=False)

        def cold(i: int) -> None:
            forget_published()
            warm(i)

        out.append(Figures("baseline: SELECT 1", "-", timed(lambda i: db.session.execute(text("SELECT 1")), requests)))
        forget_recordings()
        out.append(Figures(f"line: {LINES_PER_TURN} lines, files only (before)", "-", timed(files_only, requests)))
        out.append(Figures(f"line: {LINES_PER_TURN} lines, studio map warm", "-", timed(warm, requests)))
        out.append(Figures(f"line: {LINES_PER_TURN} lines, studio map read", "-", timed(cold, requests)))
        current = db.session.execute(
            select(Recording.id, Recording.stem).where(Recording.lang == "bm", Recording.replaced_at.is_(None))
        ).all()
        db.session.remove()
    client = app.test_client()

    def served(i: int) -> None:
        rid, stem = current[i % len(current)]
        with client.get(f"/audio/bm/{stem}.wav?v={rid}") as response:
            if response.status_code != 200:
                raise SystemExit(f"/audio/bm/{stem}.wav: {response.status_code}")

    out.append(Figures("audio: a recording served (files)", "-", timed(served, requests)))
    return out


def run(url: str, takes: int = 5, requests: int = REQUESTS) -> dict:
    from flask_migrate import upgrade

    app = make_bench_app(url)
    with tempfile.TemporaryDirectory(prefix="kalanso-bench-audio-") as folder:
        app.config["KALANSO_AUDIO_DIR"] = Path(folder)
        with app.app_context():
            upgrade()
        start = time.perf_counter()
        counts = fill(app, Path(folder), takes)
        print(f"filled in {time.perf_counter() - start:.1f} s: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
        who = people(app)
        figures = bench_pages(app, who, requests) + bench_line(app, requests)
        report("the content studio", figures)
        with app.app_context():
            from core.db import db

            db.engine.dispose()
    return {"counts": counts, "figures": figures}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--takes", type=int, default=5, help="takes per recorded text and language (default 5)")
    parser.add_argument("--requests", type=int, default=REQUESTS, help="requests per case (default 30)")
    args = parser.parse_args(argv)
    server = os.environ.get("TEST_DATABASE_URL", "")
    if not server.startswith("postgresql"):
        print("set TEST_DATABASE_URL to a PostgreSQL server whose user may create databases", file=sys.stderr)
        return 2
    from tests.conftest import new_postgres_database

    with new_postgres_database(server, "kalanso_bench_studio") as url:
        run(url, args.takes, args.requests)
    return 0


if __name__ == "__main__":
    sys.exit(main())
