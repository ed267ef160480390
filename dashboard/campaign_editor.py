"""The campaign editor: its form, the form as a campaign definition (the same mapping as a YAML file) and back,
every error of ``campaigns.service.validate_definition`` next to the input its field path names, saving a draft
(audited), and the live figures beside the form (encoding and segments, audience count and sample, next sends,
cost)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import BooleanField, RadioField, SelectField, SelectMultipleField, StringField, TextAreaField, widgets
from wtforms.fields.choices import SelectChoice

from accounts import audit
from accounts.models import User
from campaigns import audience as audiences
from campaigns import estimate, schedule
from campaigns.models import Campaign, CampaignState, ScheduleKind
from campaigns.service import CampaignError, FieldError, apply_definition, validate_definition
from campaigns.service import window_for as campaign_window
from content.loader import Catalog
from core.db import db
from core.window import WEEKDAYS
from dashboard.access import now
from dashboard.campaign_words import DAY_WORDS, error_text
from listeners.models import Group, Listener
from sms.encoding import GSM7, cost, for_sms

# --- the editor's form --------------------------------------------------------------------------------------


class CheckboxesField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class CampaignForm(FlaskForm):
    name = StringField(_l("Nom de la campagne"))
    channel = RadioField(
        _l("Canal"),
        choices=[SelectChoice("sms", _l("SMS")), SelectChoice("voice", _l("Appel vocal"))],
        default="sms",
        validate_choice=False,
    )
    content = RadioField(
        _l("Type de contenu"),
        choices=[SelectChoice("message", _l("Un message (SMS)")), SelectChoice("lesson", _l("Une leçon"))],
        default="message",
        validate_choice=False,
    )
    lesson = SelectField(_l("Leçon"), validate_choice=False)
    message_fr = TextAreaField(_l("Message en français"))
    message_bm = TextAreaField(_l("Message en bambara"))
    everyone = BooleanField(_l("Tout le monde (tous les auditeurs qui ont donné leur accord)"))
    groups = CheckboxesField(_l("Groupes"), validate_choice=False)
    region = StringField(_l("Régions"))
    commune = StringField(_l("Communes"))
    village = StringField(_l("Villages"))
    language = SelectField(
        _l("Langue"),
        choices=[SelectChoice("", _l("Toutes")), SelectChoice("bm", _l("Bambara")), SelectChoice("fr", _l("Français"))],
        validate_choice=False,
    )
    completed = SelectField(_l("A terminé la leçon"), validate_choice=False)
    not_completed = SelectField(_l("N'a pas terminé la leçon"), validate_choice=False)
    joined_after = StringField(_l("Inscrit depuis le"))
    schedule_kind = RadioField(
        _l("Quand"),
        choices=[
            SelectChoice("once", _l("Une fois")),
            SelectChoice("recurring", _l("Chaque semaine")),
            SelectChoice("drip", _l("En série (après l'inscription)")),
        ],
        default="once",
        validate_choice=False,
    )
    once_mode = RadioField(
        _l("Envoi unique"),
        choices=[SelectChoice("at", _l("À une date et une heure")), SelectChoice("now", _l("Maintenant"))],
        default="at",
        validate_choice=False,
    )
    once_at = StringField(_l("Date et heure (heure locale)"))
    days = CheckboxesField(_l("Jours"), choices=[SelectChoice(d, DAY_WORDS[d]) for d in WEEKDAYS],
                           validate_choice=False)  # fmt: skip
    recurring_time = StringField(_l("Heure"))
    starts = StringField(_l("À partir du"))
    until = StringField(_l("Jusqu'au"))
    drip_time = StringField(_l("Heure d'envoi"), default="10:00")
    drip_days = StringField(_l("Jours après l'inscription"), default="0")
    calling_window = StringField(_l("Heures d'envoi permises"))
    blocked_days = StringField(_l("Jours sans envoi (en plus de ceux du service)"))
    max_retries = StringField(_l("Nouveaux essais d'appel"), default="3")
    sms_fallback = BooleanField(_l("Envoyer la leçon par SMS si personne ne répond"))

    def __init__(self, *args, catalog: Catalog, **kwargs):
        super().__init__(*args, **kwargs)
        lessons = lesson_choices(catalog)
        self.lesson.choices = [SelectChoice("", _l("Choisir une leçon")), *lessons]
        self.completed.choices = [SelectChoice("", _l("(sans condition)")), *lessons]
        self.not_completed.choices = [SelectChoice("", _l("(sans condition)")), *lessons]
        self.groups.choices = [SelectChoice(name, name) for name in group_names()]
        self.extra_steps: list[dict[str, Any]] = []


def lesson_choices(catalog: Catalog) -> list[SelectChoice]:
    out = []
    for course in catalog:
        for n, lesson in enumerate(course.lessons, 1):
            label = f"{course.title.text('fr')} — {n}. {lesson.title.text('fr')}"
            out.append(SelectChoice(f"{course.id}/{lesson.id}", label))
    return out


def group_names() -> list[str]:
    return list(db.session.scalars(select(Group.name).order_by(Group.name)))


def _words(text: str | None) -> list[str]:
    return [w.strip() for w in (text or "").split(",") if w.strip()]


def definition_from_form(form: CampaignForm) -> dict[str, Any]:
    """The form as a campaign definition, the same mapping a YAML file gives (nothing checked here: that is
    ``validate_definition``'s work, so that the dashboard and the YAML loader refuse the same things)."""
    data: dict[str, Any] = {"name": (form.name.data or "").strip(), "channel": form.channel.data or ""}
    if form.content.data == "lesson" or form.channel.data == "voice":
        data["lesson"] = form.lesson.data or ""
    else:
        data["message"] = {"fr": form.message_fr.data or "", "bm": form.message_bm.data or ""}
    data["audience"] = audience_from_form(form)
    kind = form.schedule_kind.data or ""
    if kind == "once":
        data["schedule"] = {"kind": "once", "at": "now" if form.once_mode.data == "now" else form.once_at.data or ""}
    elif kind == "recurring":
        sched = {"kind": "recurring", "days": list(form.days.data or []), "time": form.recurring_time.data or ""}
        for key, field in (("from", form.starts), ("until", form.until)):
            if (field.data or "").strip():
                sched[key] = field.data.strip()
        data["schedule"] = sched
    else:
        data["schedule"] = {"kind": kind, "time": form.drip_time.data or "", "steps": drip_steps(form)}
    data["calling_window"] = (form.calling_window.data or "").strip()
    data["blocked_days"] = (form.blocked_days.data or "").strip()
    retries = (form.max_retries.data or "").strip()
    data["max_retries"] = int(retries) if retries.isascii() and retries.isdigit() and len(retries) < 4 else retries
    data["sms_fallback"] = bool(form.sms_fallback.data)
    return data


def audience_from_form(form: CampaignForm) -> Any:
    if form.everyone.data:
        return "everyone"
    spec: dict[str, Any] = {}
    if form.groups.data:
        spec["groups"] = list(form.groups.data)
    for key in ("region", "commune", "village"):
        if words := _words(getattr(form, key).data):
            spec[key] = words
    for key in ("language", "completed", "not_completed", "joined_after"):
        value = (getattr(form, key).data or "").strip()
        if value:
            spec[key] = value
    return spec


def drip_steps(form: CampaignForm) -> list[Any]:
    """``"0, 3, 7"`` → steps on those days; a step of a YAML definition keeps its own lesson or message when its
    day is kept (``form.extra_steps``). A word that is not a number is passed on as is, for the validator."""
    kept = {step.get("day"): step for step in form.extra_steps}
    out: list[Any] = []
    for word in _words(form.drip_days.data):
        day: Any = int(word) if word.isascii() and word.isdigit() and len(word) < 5 else word
        out.append({**kept.get(day, {}), "day": day})
    return out


def form_data(campaign: Campaign) -> dict[str, Any]:
    """A saved campaign as the editor's form data."""
    sched = dict(campaign.schedule or {})
    spec = campaign.audience if isinstance(campaign.audience, dict) else {}
    everyone = campaign.audience == "everyone" or bool(spec.get("everyone"))
    data: dict[str, Any] = {
        "name": campaign.name,
        "channel": campaign.channel.value,
        "content": "lesson" if campaign.lesson_id else "message",
        "lesson": f"{campaign.course_id}/{campaign.lesson_id}" if campaign.lesson_id else "",
        "message_fr": (campaign.message or {}).get("fr", ""),
        "message_bm": (campaign.message or {}).get("bm", ""),
        "everyone": everyone,
        "groups": list(spec.get("groups") or []),
        "region": ", ".join(spec.get("region") or []),
        "commune": ", ".join(spec.get("commune") or []),
        "village": ", ".join(spec.get("village") or []),
        "language": spec.get("language") or "",
        "completed": spec.get("completed") or "",
        "not_completed": spec.get("not_completed") or "",
        "joined_after": spec.get("joined_after") or "",
        "schedule_kind": campaign.schedule_kind.value,
        "calling_window": campaign.calling_window,
        "blocked_days": campaign.blocked_days,
        "max_retries": str(campaign.max_retries),
        "sms_fallback": campaign.sms_fallback,
    }
    if campaign.schedule_kind == ScheduleKind.ONCE:
        data.update(once_mode="now" if sched.get("send_now") else "at", once_at=str(sched.get("at", "")))
    elif campaign.schedule_kind == ScheduleKind.RECURRING:
        data.update(days=sched.get("days") or [], recurring_time=sched.get("time", ""), starts=sched.get("from", ""),
                    until=sched.get("until", ""))  # fmt: skip
    else:
        steps = sched.get("steps") or []
        data.update(drip_time=sched.get("time", ""), drip_days=", ".join(str(s.get("day")) for s in steps))
    return data


# Where a field path of ``validate_definition`` shows its error: the input it names (a path not listed here goes
# to its nearest listed parent, then to the top of the form).
FIELDS = {
    "name": "name",
    "channel": "channel",
    "lesson": "lesson",
    "message": "message_fr",
    "message.fr": "message_fr",
    "message.bm": "message_bm",
    "audience": "everyone",
    "audience.everyone": "everyone",
    "audience.groups": "groups",
    "audience.region": "region",
    "audience.commune": "commune",
    "audience.village": "village",
    "audience.language": "language",
    "audience.completed": "completed",
    "audience.not_completed": "not_completed",
    "audience.joined_after": "joined_after",
    "schedule": "schedule_kind",
    "schedule.kind": "schedule_kind",
    "schedule.at": "once_at",
    "schedule.days": "days",
    "schedule.from": "starts",
    "schedule.until": "until",
    "schedule.steps": "drip_days",
    "calling_window": "calling_window",
    "blocked_days": "blocked_days",
    "max_retries": "max_retries",
    "sms_fallback": "sms_fallback",
}


def field_for(path: str, kind: str) -> str | None:
    """The form input a field path names (``schedule.time`` depends on the kind of schedule)."""
    path = re.sub(r"\[\d+\]", "", path)
    if path == "schedule.time":
        return "recurring_time" if kind == "recurring" else "drip_time"
    while path:
        if path in FIELDS:
            return FIELDS[path]
        path = path.rpartition(".")[0]
    return None


def place_errors(form: CampaignForm, errors: list[FieldError]) -> None:
    """Each error next to its input; one with no input at the top of the form."""
    kind = form.schedule_kind.data or ""
    for error in errors:
        name = field_for(error.field, kind)
        target = getattr(form, name) if name else None
        if target is None:
            form.form_errors.append(f"{error.field}: {error_text(error)}")
        elif (text := error_text(error)) not in target.errors:
            target.errors = [*target.errors, text]


def save(campaign: Campaign | None, form: CampaignForm, catalog: Catalog, user: User, moment: datetime):
    """Check the form as a definition (every error at once) and write it into a draft (new) or the campaign
    being edited; audited. None when something is refused (the errors are on the form)."""
    if campaign is not None and campaign.schedule_kind == ScheduleKind.DRIP:
        form.extra_steps = list((campaign.schedule or {}).get("steps") or [])
    data = definition_from_form(form)
    settings = current_app.config["KALANSO"]
    errors = list(validate_definition(data, catalog, settings, moment))
    same = select(Campaign.id).where(func.lower(Campaign.name) == data["name"].lower())
    if campaign is not None:
        same = same.where(Campaign.id != campaign.id)
    if data["name"] and db.session.scalar(same) is not None:
        errors.append(FieldError("name", str(_("Une autre campagne porte déjà ce nom."))))
    if errors:
        place_errors(form, errors)
        return None
    target = campaign or Campaign(state=CampaignState.DRAFT)
    try:
        apply_definition(target, data, catalog, settings, moment)
    except CampaignError as exc:
        place_errors(form, list(getattr(exc, "errors", None) or [FieldError("", str(exc))]))
        db.session.rollback()
        return None
    action = "campaign_created" if campaign is None else "campaign_edited"
    audit.record(action, moment, user=user, target=f"campaign:{target.id}", name=target.name)
    return target


# --- live figures -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TextInfo:
    text: str  # as written
    sent: str  # as it will be sent (transliterated when the deployment says so)
    encoding: str
    segments: int
    units: int
    limit: int
    changed: bool

    @property
    def gsm(self) -> bool:
        return self.encoding == GSM7

    @property
    def too_long(self) -> bool:
        return self.segments > self.limit


def text_info(text: str) -> TextInfo:
    settings = current_app.config["KALANSO"]
    text = (text or "").strip()
    sent = for_sms(text, transliterate=settings.sms_transliterate)
    found = cost(sent)
    return TextInfo(text, sent, found.encoding, found.segments, found.units, settings.sms_max_segments, sent != text)


@dataclass
class Preview:
    count: Any = None  # campaigns.audience.AudienceCount
    sample: list[Listener] | None = None
    audience_problem: str = ""
    sends: list[datetime] | None = None
    schedule_problem: str = ""
    cost: Any = None  # campaigns.estimate.CostEstimate
    cost_problem: str = ""
    runs_note: str = ""
    texts: dict[str, TextInfo] | None = None


def live_preview(form: CampaignForm, catalog: Catalog) -> Preview:
    """What the editor shows beside the form, from whatever the form holds now (never raises)."""
    settings = current_app.config["KALANSO"]
    data = definition_from_form(form)
    errors = list(validate_definition(data, catalog, settings, now()))
    out = Preview()
    if "message" in data:
        out.texts = {lang: text_info(data["message"][lang]) for lang in ("fr", "bm")}
    audience_errors = [e for e in errors if e.field.startswith("audience")]
    if audience_errors:
        out.audience_problem = "; ".join(error_text(e) for e in audience_errors)
    else:
        try:
            out.count = audiences.count_audience(data["audience"], settings)
            out.sample = audiences.sample_audience(data["audience"], settings, n=5)
        except (CampaignError, ValueError) as exc:
            out.audience_problem = str(exc)
    schedule_errors = [e for e in errors if e.field.startswith(("schedule", "calling_window", "blocked_days"))]
    if schedule_errors:
        out.schedule_problem = "; ".join(error_text(e) for e in schedule_errors)
    else:
        out.sends = upcoming(data, settings)
    content_errors = [e for e in errors if e.field.startswith(("lesson", "message", "channel"))]
    if content_errors or out.count is None:
        out.cost_problem = (
            _("Le coût s'affichera quand le contenu sera complet.")
            if content_errors
            else _("Choisissez d'abord qui la reçoit.")
        )
    else:
        out.cost, out.runs_note = cost_of(data, catalog, out.count, settings)
    return out


def upcoming(data: dict[str, Any], settings, n: int = 5) -> list[datetime]:
    """The next ``n`` send times of a definition whose schedule is valid, each moved into its calling window."""
    sched = dict(data.get("schedule") or {})
    kind = str(sched.pop("kind", ""))
    sched, _errors = schedule.check(kind, sched, settings.tz, now())
    if sched is None:
        return []
    window = campaign_window(
        Campaign(calling_window=data.get("calling_window") or "", blocked_days=data.get("blocked_days") or ""),
        settings,
    )
    return schedule.next_sends(kind, sched, settings.tz, now(), window, n=n)


def cost_of(data: dict[str, Any], catalog: Catalog, count, settings) -> tuple[Any, str]:
    """The cost of one send to this audience (every run of a series costs as much again)."""
    kind = data["schedule"].get("kind")
    content = data.get("message") or data.get("lesson")
    retries = data.get("max_retries") if isinstance(data.get("max_retries"), int) else 0
    runs, note = 1, ""
    if kind == "drip":
        runs = len(data["schedule"].get("steps") or []) or 1
        note = str(_("pour chaque auditeur qui suit toute la série (%(n)s envois)", n=runs))
    elif kind == "recurring":
        note = str(_("pour un envoi ; chaque semaine coûte autant"))
    found = estimate.estimate_cost(data["channel"], content, count, settings, runs=runs, max_retries=retries,
                                   catalog=catalog)  # fmt: skip
    return found, note
