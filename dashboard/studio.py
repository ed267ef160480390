"""The content studio's coverage page and its print view (editors, reviewers, managers, admins: ``Permission.RECORD``).

- ``coverage``: per course, lesson and language, how many texts there are, how many are reviewed (for their text as
  it is now), recorded by a person (a file under ``<audio>/<lang>/`` or a current ``Recording``), approved, missing;
  French also counts the generated voice. The voice prompts are their own group. The most-needed missing recordings
  (callers heard the fallback most often) come first in a list. When the course files have errors, a banner says
  so, says that the last good version keeps serving, and lists the errors.
- ``print_view``: the texts to record in a session, numbered, French and Bambara side by side, for paper.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l

from accounts.roles import Permission
from content.catalog import content_status, get_catalog
from content.model import LANGUAGES
from content.recordings import find_generated, find_recorded
from core.db import db
from dashboard.access import require
from studio.models import AudioFallback, RecordingStatus, ReviewStatus
from studio.service import StudioText, audio_dir, current_recordings, most_needed, review_state, reviews, studio_texts

bp = Blueprint("studio", __name__, url_prefix="/dashboard/studio", template_folder="templates")
MOST_NEEDED = 20
LANGUAGE_NAMES = {"bm": "Bambara", "fr": "Français"}


@dataclass
class Figures:
    texts: int = 0
    reviewed: int = 0
    recorded: int = 0  # by a person
    approved: int = 0
    generated: int = 0  # French: a synthetic file and no person's recording

    @property
    def missing(self) -> int:
        return self.texts - self.recorded

    def add(self, other: Figures) -> None:
        for name in ("texts", "reviewed", "recorded", "approved", "generated"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class Row:
    """A lesson (or the course's own texts, or the voice prompts): its figures per language."""

    key: str  # lesson id, "" for the course's title, "prompts"
    label: str
    by_lang: dict[str, Figures] = field(default_factory=dict)


@dataclass
class Group:
    course_id: str  # "" for the voice prompts
    title: str
    rows: list[Row]
    total: dict[str, Figures]


def voice_prompts() -> dict:
    """The voice prompts people record (those with placeholders are spoken by text-to-speech)."""
    from ivr.prompts import is_template, load_prompts

    return {key: text for key, text in load_prompts().items() if not is_template(key)}


def all_texts() -> list[StudioText]:
    return studio_texts(get_catalog(), voice_prompts())


def text_figures(texts: list[StudioText], lang: str, base: Path, recordings: dict, review_rows: dict) -> Figures:
    out = Figures()
    for t in texts:
        out.texts += 1
        if review_state(review_rows.get((lang, t.stem)), t.text.text(lang)) is ReviewStatus.REVIEWED:
            out.reviewed += 1
        recording = recordings.get((lang, t.stem))
        if recording is not None or find_recorded(base, lang, t.stem) is not None:
            out.recorded += 1
            if recording is not None and recording.status is RecordingStatus.APPROVED:
                out.approved += 1
        elif lang == "fr" and find_generated(base, lang, t.stem) is not None:
            out.generated += 1
    return out


def coverage_groups(texts: list[StudioText], langs: tuple[str, ...], course_id: str = "") -> list[Group]:
    """The figures, grouped by course then lesson (in listening order), the voice prompts last."""
    base = audio_dir()
    recordings = current_recordings()
    review_rows = reviews()
    catalog = get_catalog()
    groups: list[Group] = []
    for course in catalog:
        if course_id and course.id != course_id:
            continue
        mine = [t for t in texts if t.course_id == course.id]
        keys = [""] + [lesson.id for lesson in course.lessons]
        labels = {"": "—"} | {lesson.id: lesson.title.text("fr") for lesson in course.lessons}
        rows = []
        for key in keys:
            part = [t for t in mine if t.lesson_id == key]
            if not part:
                continue
            figures = {lang: text_figures(part, lang, base, recordings, review_rows) for lang in langs}
            rows.append(Row(key, labels.get(key, key), figures))
        groups.append(Group(course.id, course.title.text("fr"), rows, _total(rows, langs)))
    if not course_id:
        prompts = [t for t in texts if not t.course_id]
        if prompts:
            figures = {lang: text_figures(prompts, lang, base, recordings, review_rows) for lang in langs}
            rows = [Row("prompts", "", figures)]
            groups.append(Group("", "", rows, _total(rows, langs)))
    return groups


def _total(rows: list[Row], langs: tuple[str, ...]) -> dict[str, Figures]:
    total = {lang: Figures() for lang in langs}
    for row in rows:
        for lang in langs:
            total[lang].add(row.by_lang[lang])
    return total


def fallback_counts(lang: str) -> dict[str, int]:
    from sqlalchemy import select

    query = select(AudioFallback.stem, AudioFallback.count).where(AudioFallback.lang == lang)
    return dict(db.session.execute(query).all())


def item_url(stem: str, lang: str) -> str | None:
    """The item's page (helper G2's blueprint), when this app has it."""
    if "studio_items.show" not in current_app.view_functions:
        return None
    return url_for("studio_items.show", stem=stem, lang=lang)


KINDS = (
    (": title", _l("titre")),
    (": feedback correct", _l("après une bonne réponse")),
    (": feedback wrong", _l("après une mauvaise réponse")),
)


def kind_of(text: StudioText) -> str:
    """What the text is, for the person who reads it aloud (a title, a reply after an answer, a voice message)."""
    if not text.course_id:
        return str(_l("message du serveur vocal"))
    for ending, label in KINDS:
        if text.where.endswith(ending):
            return str(label)
    return ""


def _filters(courses: list[str]) -> tuple[tuple[str, ...], str]:
    lang = request.args.get("lang", "")
    course = request.args.get("course", "")
    langs = (lang,) if lang in LANGUAGES else tuple(LANGUAGES)
    return langs, course if course in courses else ""


def _errors(errors: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """Each error as (file, where, what): the loader writes ``<file>: <where>: <what>``."""
    out = []
    for error in errors:
        parts = error.split(": ", 2)
        if len(parts) == 3 and re.search(r"\.ya?ml$", parts[0]):
            out.append((Path(parts[0]).name, parts[1], parts[2]))
        elif len(parts) >= 2 and re.search(r"\.ya?ml$", parts[0]):
            out.append((Path(parts[0]).name, "", ": ".join(parts[1:])))
        else:
            out.append(("", "", error))
    return out


@bp.get("/")
@require(Permission.RECORD)
def coverage():
    status = content_status()
    if not status.serving:  # started on broken files: nothing to count, the errors say why
        return render_template(
            "dashboard/studio/coverage.html", status=status, errors=_errors(status.errors), groups=[], langs=(),
            lang_filter="", course="", courses=[], needed={}, names=LANGUAGE_NAMES, items_page=False,
        )  # fmt: skip
    catalog = get_catalog()
    courses = [(c.id, c.title.text("fr")) for c in catalog]
    langs, course = _filters([cid for cid, _ in courses])
    texts = all_texts()
    groups = coverage_groups(texts, langs, course)
    needed = {}
    for lang in langs:
        counts = fallback_counts(lang)
        scope = [t for t in texts if not course or t.course_id == course]
        needed[lang] = [
            (t, counts.get(t.stem, 0), item_url(t.stem, lang)) for t in most_needed(scope, lang, limit=MOST_NEEDED)
        ]
    return render_template(
        "dashboard/studio/coverage.html",
        status=status,
        errors=_errors(status.errors),
        groups=groups,
        langs=langs,
        lang_filter=request.args.get("lang", "") if len(langs) == 1 else "",
        course=course,
        courses=courses,
        needed=needed,
        names=LANGUAGE_NAMES,
        items_page="studio_items.show" in current_app.view_functions,
    )


@bp.get("/print")
@require(Permission.RECORD)
def print_view():
    if not content_status().serving:  # no course was ever loaded: the studio's page shows the errors
        return redirect(url_for("studio.coverage"))
    catalog = get_catalog()
    courses = [(c.id, c.title.text("fr")) for c in catalog]
    lang = request.args.get("lang", "bm")
    lang = lang if lang in LANGUAGES else "bm"
    course = request.args.get("course", "")
    course = course if course in dict(courses) else ""
    only_missing = request.args.get("missing") == "1"
    texts = [t for t in all_texts() if not course or t.course_id == course]
    if only_missing:
        base = audio_dir()
        recordings = current_recordings(lang)
        texts = [t for t in texts if (lang, t.stem) not in recordings and find_recorded(base, lang, t.stem) is None]
    return render_template(
        "dashboard/studio/print.html",
        texts=texts,
        lang=lang,
        course_title=dict(courses).get(course, ""),
        only_missing=only_missing,
        names=LANGUAGE_NAMES,
        kind_of=kind_of,
    )
