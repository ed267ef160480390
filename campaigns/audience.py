"""Audiences: which listeners a campaign reaches.

**Who can be in an audience (the consent rule).** A listener is in a campaign's audience only if all of:

1. consent is recorded (``Listener.consent_at IS NOT NULL``): imported from a list with consent, registered by
   an agent who read the consent sentence, consent given through the API, a language chosen on a call (the
   voice line records consent then), or an opt-in by SMS. A number that only rang, or only texted a keyword
   without opting in, has no recorded consent and receives no campaign;
2. not opted out (STOP / ARRET / the Bambara word, or the key in a call);
3. the number's country is allowed: ``CAMPAIGN_COUNTRIES`` (calling codes, default ``223`` = Mali). Phones are
   stored in E.164, so the test is a ``phone LIKE '+223%'`` prefix.

``audience_query`` applies the rule, so expansion into deliveries obeys it; ``count_audience`` says how many
listeners matched the filters and how many of them each rule excluded (each excluded listener is counted once,
under the first rule it fails in this order: opted out, no consent, other country).

A filter, as stored in ``Campaign.audience`` (every key optional; lists mean "any of"):
``{"groups": ["coop-koutiala"], "language": "bm", "region": ["Sikasso"], "commune": [...],
"village": [...], "not_completed": "money/saving-a-little", "completed": "child-labour/what-is-child-labour",
"joined_after": "2026-11-01"}``, or ``{"everyone": true}``. A definition must choose: the filters, or
``everyone`` (written ``audience: everyone`` in YAML).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Select, and_, case, exists, func, literal, or_, select

from core.db import db
from listeners.models import Group, LessonProgress, Listener, ProgressStatus, listener_groups

KEYS = {"groups", "language", "region", "commune", "village", "not_completed", "completed", "joined_after"}
EVERYONE = "everyone"
CHOOSE = "choose who receives it, or 'everyone'"


class AudienceError(ValueError):
    """A filter that cannot work; ``field`` is the form field (``audience``, ``audience.groups``...)."""

    def __init__(self, message: str, field: str = "audience"):
        super().__init__(message)
        self.field = field


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list | tuple):
        return [str(value).strip()]
    return [str(v).strip() for v in value if str(v).strip()]


def _lesson_ref(value: Any, key: str) -> tuple[str, str]:
    text = str(value or "")
    if text.count("/") != 1 or not all(text.split("/")):
        raise AudienceError(f"expected course/lesson, got {value!r}", f"audience.{key}")
    course_id, lesson_id = text.split("/")
    return course_id, lesson_id


def check(spec: Any, *, require_choice: bool = False) -> tuple[dict[str, Any], list[AudienceError]]:
    """The filter in canonical form and every problem found in it (not only the first).

    ``require_choice``: a definition must say who receives it; ``{}`` or nothing is refused then."""
    if isinstance(spec, str) and spec.strip().lower() == EVERYONE:
        spec = {EVERYONE: True}
    if spec is None or spec == {} or spec == "":
        return {}, [AudienceError(CHOOSE)] if require_choice else []
    if not isinstance(spec, dict):
        return {}, [AudienceError(f"expected filters (groups, region, ...) or 'everyone', got {spec!r}")]
    spec = dict(spec)
    everyone = spec.pop(EVERYONE, None)
    errors: list[AudienceError] = []
    unknown = set(spec) - KEYS
    if unknown:
        errors.append(
            AudienceError(f"unknown key(s) {', '.join(sorted(unknown))} (allowed: {', '.join(sorted(KEYS))})")
        )
    out: dict[str, Any] = {}
    for key in ("groups", "region", "commune", "village"):
        if spec.get(key):
            out[key] = _as_list(spec[key])
    if spec.get("language"):
        if spec["language"] not in ("bm", "fr"):
            errors.append(AudienceError(f"must be bm or fr, got {spec['language']!r}", "audience.language"))
        else:
            out["language"] = spec["language"]
    for key in ("not_completed", "completed"):
        if spec.get(key):
            try:
                _lesson_ref(spec[key], key)
                out[key] = str(spec[key])
            except AudienceError as exc:
                errors.append(exc)
    if spec.get("joined_after"):
        try:
            out["joined_after"] = date.fromisoformat(str(spec["joined_after"])).isoformat()
        except ValueError:
            errors.append(AudienceError(f"expected YYYY-MM-DD, got {spec['joined_after']!r}", "audience.joined_after"))
    if everyone is not None and everyone is not True:
        errors.append(AudienceError("everyone: expected true (or leave it out and give filters)"))
    elif everyone is True:
        if out or unknown:
            errors.append(AudienceError("choose either 'everyone' or filters, not both"))
        return {EVERYONE: True}, errors
    if not out and not errors and require_choice:
        errors.append(AudienceError(CHOOSE))
    return out, errors


def validate(spec: Any, *, require_choice: bool = False) -> dict[str, Any]:
    """The filter in canonical form, or the first AudienceError."""
    clean, errors = check(spec, require_choice=require_choice)
    if errors:
        raise errors[0]
    return clean


def unknown_groups(names: list[str]) -> list[str]:
    """The names among ``names`` that are no group (compared without case), in the order given."""
    if not names:
        return []
    known = {name.casefold() for name in db.session.scalars(select(Group.name))}
    return [n for n in names if n.casefold() not in known]


def group_ids(names: list[str]) -> list[int]:
    """The ids of the groups named (without case). Compared in Python, not with SQL ``lower()``: SQLite's lowers
    ASCII only, so "Écoute à Sanando" would not match "écoute à sanando" there. Groups are few (hundreds)."""
    wanted = {n.casefold() for n in names}
    return [gid for gid, name in db.session.execute(select(Group.id, Group.name)) if name.casefold() in wanted]


def _settings(settings):
    if settings is None:
        from flask import current_app

        settings = current_app.config["KALANSO"]
    return settings


def _completed(course_id: str, lesson_id: str):
    return exists().where(
        and_(
            LessonProgress.listener_id == Listener.id,
            LessonProgress.course_id == course_id,
            LessonProgress.lesson_id == lesson_id,
            LessonProgress.status == ProgressStatus.COMPLETED,
        )
    )


def _filters(spec: dict[str, Any]) -> list:
    """The WHERE clauses of the filter alone (no consent or country rule)."""
    clauses = []
    if spec.get("groups"):
        in_groups = select(listener_groups.c.listener_id).where(
            listener_groups.c.group_id.in_(group_ids(spec["groups"]))
        )
        clauses.append(Listener.id.in_(in_groups))
    if spec.get("language"):
        clauses.append(Listener.language == spec["language"])
    for key, column in (("region", Listener.region), ("commune", Listener.commune), ("village", Listener.village)):
        if spec.get(key):
            clauses.append(func.lower(column).in_([v.lower() for v in spec[key]]))
    if spec.get("not_completed"):
        clauses.append(~_completed(*_lesson_ref(spec["not_completed"], "not_completed")))
    if spec.get("completed"):
        clauses.append(_completed(*_lesson_ref(spec["completed"], "completed")))
    if spec.get("joined_after"):
        start = datetime.combine(date.fromisoformat(spec["joined_after"]), datetime.min.time(), tzinfo=UTC)
        clauses.append(Listener.created_at >= start)
    return clauses


def allowed_country(settings) -> Any:
    """``phone LIKE '+223%' OR ...`` for the deployment's ``campaign_countries``."""
    return or_(*(Listener.phone.like(f"+{code}%") for code in settings.campaign_countries))


def may_receive(settings) -> Any:
    """The consent rule as one SQL condition (see the module docstring)."""
    return and_(Listener.consent_at.is_not(None), Listener.opted_out.is_(False), allowed_country(settings))


def audience_query(spec: dict[str, Any] | None, settings=None) -> Select:
    """``SELECT listeners.id`` for the filter and the consent rule, in id order."""
    spec = validate(spec)
    return select(Listener.id).where(may_receive(_settings(settings)), *_filters(spec)).order_by(Listener.id)


def audience_ids(spec: dict[str, Any] | None, batch: int = 1000, settings=None) -> Iterator[int]:
    """Stream the listener ids of an audience, ``batch`` at a time (memory does not grow with size)."""
    last = 0
    base = audience_query(spec, settings)
    while True:
        ids = db.session.scalars(base.where(Listener.id > last).limit(batch)).all()
        if not ids:
            return
        yield from ids
        last = ids[-1]


def audience_size(spec: dict[str, Any] | None, settings=None) -> int:
    return db.session.scalar(select(func.count()).select_from(audience_query(spec, settings).order_by(None).subquery()))


@dataclass
class AudienceCount:
    """How many listeners a filter reaches, and why the others it matched are left out."""

    eligible: int = 0
    matched: int = 0  # matched the filters, before the consent rule
    no_consent: int = 0
    other_country: int = 0
    opted_out: int = 0
    by_language: dict[str, int] = field(default_factory=dict)  # eligible per "bm", "fr", "" (not chosen yet)

    @property
    def excluded(self) -> int:
        return self.no_consent + self.other_country + self.opted_out


def count_audience(spec: dict[str, Any] | None, settings=None) -> AudienceCount:
    """Eligible listeners per language and the exclusions, in one aggregate query (GROUP BY reason, language)."""
    settings = _settings(settings)
    spec = validate(spec)
    reason = case(
        (Listener.opted_out.is_(True), literal("opted_out")),
        (Listener.consent_at.is_(None), literal("no_consent")),
        (~allowed_country(settings), literal("other_country")),
        else_=literal("eligible"),
    ).label("reason")
    language = func.coalesce(Listener.language, "").label("language")
    rows = db.session.execute(
        select(reason, language, func.count()).where(*_filters(spec)).group_by(reason, language)
    ).all()
    out = AudienceCount()
    for why, lang, count in rows:
        out.matched += count
        if why == "eligible":
            out.eligible += count
            out.by_language[lang or ""] = out.by_language.get(lang or "", 0) + count
        else:
            setattr(out, why, getattr(out, why) + count)
    return out


def sample_audience(spec: dict[str, Any] | None, settings=None, n: int = 5) -> list[Listener]:
    """The first ``n`` eligible listeners (by id), to show who a filter reaches."""
    ids = audience_query(spec, settings).limit(n)
    return list(
        db.session.scalars(select(Listener).where(Listener.id.in_(ids.scalar_subquery())).order_by(Listener.id))
    )
