"""Campaigns in the dashboard: the list, the editor (new, or a draft / paused campaign), the confirmation step,
the campaign page with its live funnel and per-listener deliveries (filters, keyset pages, CSV export), and
pause / resume / cancel, each confirmed on a page of its own.

Access: managers and admins (``MANAGE_CAMPAIGNS``) create, edit, schedule, pause, resume and cancel; viewers
read the list and the campaign pages; field agents get 403 on every campaign page and no menu entry: a
campaign's audience, funnel and deliveries count listeners everywhere, not only in an agent's places and
groups (the figures are not scoped), so showing them to an agent would show people outside their zone.
Every change is audited (``campaign_created``, ``campaign_edited``, ``campaign_scheduled``, ``campaign_paused``,
``campaign_resumed``, ``campaign_cancelled``; the CSV export as ``export``), never with a phone number.

The editor's form is turned into the same definition mapping as a YAML file (``definition_from_form``) and
checked by ``campaigns.service.validate_definition``: every error at once, each shown next to the input its
field path names (``FIELDS``). The live parts (encoding and segments of each text, the audience count and
sample, the next send times, the cost) are small htmx fragments computed by the campaigns package.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import wraps
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import and_, func, or_, select
from wtforms import BooleanField, RadioField, SelectField, SelectMultipleField, StringField, TextAreaField, widgets
from wtforms.fields.choices import SelectChoice

from accounts import audit
from accounts.models import User
from accounts.roles import Permission, Role, allowed, scoped
from campaigns import audience as audiences
from campaigns import estimate, funnel, schedule
from campaigns.models import Campaign, CampaignState, Delivery, DeliveryStatus, ScheduleKind
from campaigns.service import (
    TRANSITIONS,
    CampaignError,
    FieldError,
    apply_action,
    apply_definition,
    next_send,
    validate_definition,
)
from campaigns.service import window_for as campaign_window
from content.catalog import get_catalog
from content.loader import Catalog
from core.db import db
from core.phones import mask_phone
from core.vocabulary import Channel
from core.window import WEEKDAYS
from dashboard.access import me, now, require
from dashboard.exports import csv_chunks
from dashboard.listing import ListenerFilter, parse_cursor
from listeners.models import Group, Listener
from sms.encoding import GSM7, cost, for_sms

bp = Blueprint("campaigns", __name__, url_prefix="/dashboard/campaigns", template_folder="templates")

PAGE_SIZE = 50
EDITABLE = (CampaignState.DRAFT, CampaignState.PAUSED)
LIVE = (CampaignState.SCHEDULED, CampaignState.RUNNING, CampaignState.PAUSED)
AUDITED = {"schedule": "campaign_scheduled", "pause": "campaign_paused", "resume": "campaign_resumed",
           "cancel": "campaign_cancelled"}  # fmt: skip


def may_read(role: Role) -> bool:
    """Viewers, managers and admins; never an agent (campaign figures are not scoped to a zone)."""
    return allowed(role, Permission.VIEW) and not scoped(role)


def require_reader(view: Callable) -> Callable:
    @wraps(view)
    def unscoped(*args, **kwargs):
        if not may_read(me().role):
            abort(403)
        return view(*args, **kwargs)

    return require(Permission.VIEW)(unscoped)


# --- routes -------------------------------------------------------------------------------------------------


@bp.get("/")
@require_reader
def index():
    after = parse_cursor(request.args.get("after"))
    rows, next_after = campaigns_page(after)
    may_manage = allowed(me().role, Permission.MANAGE_CAMPAIGNS)
    return render_template(
        "dashboard/campaigns/index.html", rows=rows, next_after=next_after, after=after, may_manage=may_manage
    )


@bp.route("/new", methods=["GET", "POST"])
@require(Permission.MANAGE_CAMPAIGNS)
def create():
    return _editor(None)


@bp.route("/<int:campaign_id>/edit", methods=["GET", "POST"])
@require(Permission.MANAGE_CAMPAIGNS)
def edit(campaign_id: int):
    campaign = campaign_or_404(campaign_id)
    if campaign.state not in EDITABLE:
        flash(_("Cette campagne est « %(state)s » : mettez-la en pause pour la modifier.", state=state_word(campaign)))
        return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    return _editor(campaign)


def _editor(campaign: Campaign | None):
    catalog = get_catalog()
    form = CampaignForm(
        data=None if request.method == "POST" or campaign is None else form_data(campaign), catalog=catalog
    )
    if form.validate_on_submit() and (saved := save(campaign, form, catalog, me(), now())) is not None:
        db.session.commit()
        return redirect(url_for("campaigns.confirm", campaign_id=saved.id))
    preview = live_preview(form, catalog) if request.method == "POST" else None
    page = render_template("dashboard/campaigns/edit.html", form=form, campaign=campaign, preview=preview)
    return page, 400 if form.errors or form.form_errors else 200


@bp.post("/preview")
@require(Permission.MANAGE_CAMPAIGNS)
def preview():
    """The editor's live figures (htmx): audience count and sample, next send times, cost."""
    catalog = get_catalog()
    form = CampaignForm(catalog=catalog, meta={"csrf": False})
    return render_template("dashboard/campaigns/_preview.html", preview=live_preview(form, catalog))


@bp.post("/encoding")
@require(Permission.MANAGE_CAMPAIGNS)
def encoding():
    """One text's encoding, segment count and the text as it will be sent (htmx, as the manager types)."""
    lang = "bm" if request.form.get("lang") == "bm" else "fr"
    info = text_info(request.form.get(f"message_{lang}", ""))
    return render_template("dashboard/campaigns/_encoding.html", lang=lang, info=info)


@bp.route("/<int:campaign_id>/confirm", methods=["GET", "POST"])
@require(Permission.MANAGE_CAMPAIGNS)
def confirm(campaign_id: int):
    campaign = campaign_or_404(campaign_id)
    form = FlaskForm()
    error = ""
    if form.validate_on_submit():
        try:
            apply_action(campaign, "schedule", now())
        except CampaignError as exc:
            db.session.rollback()
            error = error_text(FieldError("", str(exc)))
        else:
            audit.record(AUDITED["schedule"], now(), user=me(), target=f"campaign:{campaign.id}")
            db.session.commit()
            flash(_("Campagne programmée. Premier envoi : %(when)s.", when=when_text(next_send_of(campaign))))
            return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    summary = summarize(campaign, get_catalog())
    page = render_template("dashboard/campaigns/confirm.html", campaign=campaign, summary=summary, form=form,
                           error=error)  # fmt: skip
    return page, 400 if error else 200


@bp.get("/<int:campaign_id>")
@require_reader
def show(campaign_id: int):
    campaign = campaign_or_404(campaign_id)
    flt = DeliveryFilter.from_args(request.args)
    after = parse_cursor(request.args.get("after"))
    page = deliveries_page(campaign, flt, after=after)
    return render_template(
        "dashboard/campaigns/show.html",
        campaign=campaign,
        summary=summarize(campaign, get_catalog(), with_cost=False),
        progress=progress_of(campaign),
        flt=flt,
        page=page,
        after=after,
        statuses=STATUS_WORDS,
        may_manage=allowed(me().role, Permission.MANAGE_CAMPAIGNS),
        may_export=allowed(me().role, Permission.EXPORT),
    )


@bp.get("/<int:campaign_id>/progress")
@require_reader
def progress(campaign_id: int):
    """The funnel fragment the campaign page polls every 3 s (until the campaign is finished or cancelled)."""
    campaign = campaign_or_404(campaign_id)
    return render_template("dashboard/campaigns/_progress.html", campaign=campaign, progress=progress_of(campaign))


@bp.get("/<int:campaign_id>/deliveries.csv")
@require_reader
def export(campaign_id: int):
    if not allowed(me().role, Permission.EXPORT):
        abort(403)
    campaign = campaign_or_404(campaign_id)
    flt = DeliveryFilter.from_args(request.args)
    masked = not allowed(me().role, Permission.MANAGE_CAMPAIGNS)
    described = flt.args()
    if "q" in described:
        described["q"] = mask_phone(described["q"])
    audit.record("export", now(), user=me(), target=f"export:campaign:{campaign.id}", fmt="csv",
                 ip=request.remote_addr or "", filter=described, masked=masked)  # fmt: skip
    db.session.commit()  # the audit event is written before the first byte
    headers = [str(h) for h, _kind in DELIVERY_COLUMNS]
    kinds = [kind for _h, kind in DELIVERY_COLUMNS]
    body = csv_chunks(headers, kinds, delivery_rows(campaign, flt, masked=masked))
    filename = f"kalanso-campagne-{campaign.id}-{now().date().isoformat()}.csv"
    return Response(
        stream_with_context(body),
        content_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


@bp.route("/<int:campaign_id>/<any(pause, resume, cancel):action>", methods=["GET", "POST"])
@require(Permission.MANAGE_CAMPAIGNS)
def act(campaign_id: int, action: str):
    """Pause, resume or cancel: GET shows what it will do, the POST of that page's button does it."""
    campaign = campaign_or_404(campaign_id)
    form = FlaskForm()
    if request.method == "POST" and form.validate_on_submit():
        try:
            result = apply_action(campaign, action, now())
        except CampaignError as exc:
            db.session.rollback()
            flash(_("Rien n'a changé : %(why)s", why=error_text(FieldError("", str(exc)))))
        else:
            audit.record(AUDITED[action], now(), user=me(), target=f"campaign:{campaign.id}",
                         stopped=result.stopped_total, in_flight=result.in_flight)  # fmt: skip
            db.session.commit()
            flash(outcome_message(action, campaign, result))
        return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    if request.method == "POST":
        abort(400)
    possible = campaign.state in TRANSITIONS[action][0]
    funnel_now = progress_of(campaign).funnel
    return render_template(
        "dashboard/campaigns/act.html", campaign=campaign, action=action, possible=possible, form=form,
        funnel=funnel_now, next_time=next_send_of(campaign),
    )  # fmt: skip


# --- the editor's form --------------------------------------------------------------------------------------


class CheckboxesField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


DAY_WORDS = {
    "mon": _l("lundi"), "tue": _l("mardi"), "wed": _l("mercredi"), "thu": _l("jeudi"), "fri": _l("vendredi"),
    "sat": _l("samedi"), "sun": _l("dimanche"),
}  # fmt: skip


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


# Known messages of ``validate_definition`` in French (the others are shown as they are, in English).
MESSAGES: list[tuple[re.Pattern, object]] = [
    (re.compile(r"this time has passed \((?P<when>[^)]*)\)", re.I),
    _l("Cette heure est passée (%(when)s) : choisissez une heure plus tard, ou « Maintenant »."),
    ),
    (re.compile(r"choose who receives it", re.I),
     _l("Choisissez qui reçoit la campagne (des groupes, des lieux…), ou cochez « Tout le monde »."),
    ),
    (re.compile(r"unknown group\(s\): (?P<names>.+)$", re.I), _l("Groupe(s) inconnu(s) : %(names)s.")),
    (re.compile(r"^required$", re.I), _l("Obligatoire.")),
    (re.compile(r"'send now' was chosen more than (?P<n>\d+) minutes ago"),
     _l("« Maintenant » a été choisi il y a plus de %(n)s minutes : modifiez la campagne et choisissez à nouveau "
        "« Maintenant », ou une heure.")),
    (re.compile(r"^cannot (?P<action>\w+) campaign .*: it is (?P<state>\w+)$"),
     _l("Ce n'est pas possible : la campagne est « %(state)s ».")),
    (re.compile(r"^at most (?P<n>\d+) characters$"), _l("Au plus %(n)s caractères.")),
    (re.compile(r"^must be voice or sms"), _l("Choisissez SMS ou appel vocal.")),
    (re.compile(r"^a voice campaign calls listeners with a lesson"),
     _l("Un appel vocal fait écouter une leçon : choisissez la leçon.")),
    (re.compile(r"^expected course/lesson|^no lesson .* in the content$"), _l("Choisissez une leçon de la liste.")),
    (re.compile(r"^expected a text in both languages"), _l("Écrivez le message dans cette langue.")),
    (re.compile(r"^SMS too long: (?P<n>\d+) segments .*the limit is (?P<max>\d+)"),
     _l("Trop long : %(n)s SMS, au plus %(max)s. Raccourcissez le texte.")),
    (re.compile(r"^expected HH:MM"), _l("Une heure comme 18:00.")),
    (re.compile(r"^expected a local date and time"), _l("Choisissez une date et une heure, ou « Maintenant ».")),
    (re.compile(r"^expected YYYY-MM-DD"), _l("Une date comme 2026-12-01.")),
    (re.compile(r"^expected weekdays"), _l("Cochez au moins un jour.")),
    (re.compile(r"^ends before it starts"), _l("La fin est avant le début.")),
    (re.compile(r"^this date has passed \((?P<when>[^)]*)\)"),
     _l("Cette date est passée (%(when)s) : choisissez une date plus tard.")),
    (re.compile(r"^expected a non-empty list of steps"), _l("Donnez au moins un jour, par exemple 0.")),
    (re.compile(r"^step (?P<n>\d+): day: expected a whole number"),
     _l("Jour n° %(n)s : un nombre entier de jours, 0 ou plus.")),
    (re.compile(r"^days must be in increasing order"),
     _l("Donnez les jours dans l'ordre, du plus petit au plus grand.")),
    (re.compile(r"^must be a whole number$"), _l("Un nombre entier.")),
    (re.compile(r"^must be between (?P<a>\d+) and (?P<b>\d+)$"), _l("Entre %(a)s et %(b)s.")),
    (re.compile(r"^choose either 'everyone' or filters, not both"),
     _l("Choisissez « Tout le monde » ou des conditions, pas les deux.")),
    (re.compile(r"^must be bm or fr"), _l("Bambara ou français.")),
]  # fmt: skip


def error_text(error: FieldError) -> str:
    message = error.message
    if message.startswith(f"{error.field}: "):
        message = message[len(error.field) + 2 :]
    for pattern, french in MESSAGES:
        if found := pattern.search(message):
            values = dict(found.groupdict())
            if "state" in values and values["state"] in {s.value for s in CampaignState}:
                values["state"] = str(STATE_WORDS[CampaignState(values["state"])])
            return str(french) % values
    return message


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


# --- what a campaign sends and when -------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    what: str
    texts: dict[str, TextInfo]
    audience: Any  # AudienceCount, or None
    next_time: datetime | None
    sends: list[datetime]
    cost: Any
    runs_note: str
    schedule_words: str
    window_words: str


def what_is_sent(campaign: Campaign, catalog: Catalog) -> str:
    if campaign.lesson_id:
        try:
            course = catalog.course(campaign.course_id or "")
            lesson = course.lesson(campaign.lesson_id)
        except KeyError:
            return _("Leçon %(id)s (absente du contenu)", id=f"{campaign.course_id}/{campaign.lesson_id}")
        return _("Leçon « %(lesson)s » (%(course)s)", lesson=lesson.title.text("fr"), course=course.title.text("fr"))
    return _("Un message (texte ci-dessous)")


def schedule_words(campaign: Campaign) -> str:
    sched = campaign.schedule or {}
    if campaign.schedule_kind == ScheduleKind.ONCE:
        at = str(sched.get("at", "")).replace("T", " à ")
        if sched.get("send_now"):
            return _("Tout de suite (« Maintenant », choisi le %(at)s, heure locale)", at=at)
        return _("Une fois, le %(at)s (heure locale)", at=at)
    if campaign.schedule_kind == ScheduleKind.RECURRING:
        days = ", ".join(str(DAY_WORDS.get(d, d)) for d in sched.get("days") or [])
        text = _("Chaque %(days)s à %(time)s", days=days, time=sched.get("time", ""))
        if sched.get("from"):
            text += " " + _("à partir du %(day)s", day=sched["from"])
        if sched.get("until"):
            text += " " + _("jusqu'au %(day)s", day=sched["until"])
        return text
    days = ", ".join(str(s.get("day")) for s in sched.get("steps") or [])
    return _("En série : jours %(days)s après l'inscription, à %(time)s", days=days, time=sched.get("time", ""))


def next_send_of(campaign: Campaign) -> datetime | None:
    return next_send(campaign, current_app.config["KALANSO"], now())


def summarize(campaign: Campaign, catalog: Catalog, *, with_cost: bool = True) -> Summary:
    settings = current_app.config["KALANSO"]
    texts = {lang: text_info(text) for lang, text in (campaign.message or {}).items() if text}
    count = cost = None
    runs_note = ""
    sends: list[datetime] = []
    if with_cost:
        count = audiences.count_audience(campaign.audience, settings)
        definition = {
            "channel": campaign.channel.value,
            "schedule": {"kind": campaign.schedule_kind.value, **(campaign.schedule or {})},
            "max_retries": campaign.max_retries,
            **({"lesson": f"{campaign.course_id}/{campaign.lesson_id}"} if campaign.lesson_id else {}),
            **({} if campaign.lesson_id else {"message": campaign.message}),
        }
        cost, runs_note = cost_of(definition, catalog, count, settings)
        window = campaign_window(campaign, settings)
        sched = dict(campaign.schedule or {})
        sends = schedule.next_sends(campaign.schedule_kind.value, sched, settings.tz, now(), window, n=5)
    return Summary(
        what=what_is_sent(campaign, catalog),
        texts=texts,
        audience=count,
        next_time=next_send_of(campaign),
        sends=sends,
        cost=cost,
        runs_note=runs_note,
        schedule_words=schedule_words(campaign),
        window_words=campaign.calling_window or _("%(window)s (celles du service)", window=settings.calling_window),
    )


def when_text(moment: datetime | None) -> str:
    from flask_babel import format_datetime

    return format_datetime(moment, "short") if moment is not None else _("aucun envoi prévu")


# --- the funnel ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    label: str
    count: int
    share: float  # of the denominator, 0..1
    hint: str = ""


@dataclass(frozen=True)
class Progress:
    funnel: Any  # campaigns.funnel.Funnel
    denominator: int
    bars: list[Bar]
    sides: list[tuple[str, int, str]]  # (label, count, css class)
    attempts: list[tuple[int, int, int, int, float]]  # attempt, answered, not answered, cumulative, share
    finished: bool  # nothing will move (a draft, finished or cancelled): the page does not poll

    @property
    def completion_percent(self) -> int | None:
        reached = self.funnel.reached
        return round(100 * self.funnel.completed / reached) if reached else None


def progress_of(campaign: Campaign) -> Progress:
    """The campaign's funnel as bars (each a share of the audience), the side counts and the retries table."""
    f = funnel.campaign_funnel(campaign)
    audience = f.audience or (f.expected_audience or 0)
    voice = f.channel == Channel.VOICE
    steps = [
        (_("Audience"), audience, _("personnes visées") if f.audience else _("estimée : aucun envoi préparé encore")),
        (_("Mises en file"), f.queued, _("confiées à la file d'envoi au moins une fois")),
        (_("Envoyées"), f.sent, _("appel passé (il a sonné)") if voice else _("acceptés par l'opérateur")),
        (_("Répondu") if voice else _("Reçues"), f.reached, _("a décroché") if voice else _("remis au téléphone")),
        (_("Leçon commencée"), f.started, ""),
        (_("Leçon terminée"), f.completed, ""),
    ]
    bars = [Bar(str(label), n, n / audience if audience else 0.0, str(hint)) for label, n, hint in steps]
    sides = [
        (_("En attente"), f.waiting, "wait"),
        (_("Nouvel essai prévu"), f.retrying, "wait"),
        (_("En cours d'envoi"), f.in_flight, "wait"),
        (_("Pas de réponse"), f.no_answer, "warn"),
        (_("Occupé"), f.busy, "warn"),
        (_("Échec"), f.failed, "off"),
        (_("Désinscrits"), f.opted_out, "off"),
        (_("Annulés"), f.cancelled, "off"),
        (_("Inconnu"), f.unknown, "off"),
    ]
    rows, cumulative = [], 0
    for attempt in sorted(f.attempts):
        answered = f.attempts[attempt].get("answered", 0)
        cumulative += answered
        share = cumulative / audience if audience else 0.0
        rows.append((attempt, answered, f.attempts[attempt].get("not_answered", 0), cumulative, share))
    return Progress(
        funnel=f,
        denominator=audience,
        bars=bars,
        sides=[(str(label), n, css) for label, n, css in sides],
        attempts=rows,
        finished=campaign.state not in LIVE,  # a draft does not move either: no polling
    )


def outcome_message(action: str, campaign: Campaign, result) -> str:
    """What pause, resume or cancel did, in plain words (``result``: the service's ``ActionResult``)."""
    if action == "pause":
        f = funnel.campaign_funnel(campaign)
        return _(
            "Campagne en pause : rien de plus ne part. %(flight)s envoi(s) déjà chez l'opérateur peuvent encore "
            "arriver ; %(waiting)s attendent la reprise.",
            flight=f.in_flight,
            waiting=f.waiting + f.retrying,
        )
    if action == "resume":
        return _("Campagne reprise. Prochain envoi : %(when)s.", when=when_text(next_send_of(campaign)))
    return _(
        "Campagne annulée : %(stopped)s envoi(s) en attente ou à réessayer sont annulés. %(flight)s déjà chez "
        "l'opérateur ne peuvent plus être retenus.",
        stopped=result.stopped_total,
        flight=result.in_flight,
    )


# --- the list and the deliveries ----------------------------------------------------------------------------


def campaign_or_404(campaign_id: int) -> Campaign:
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        abort(404)
    return campaign


@dataclass(frozen=True)
class Row:
    campaign: Campaign
    what: str
    next_time: datetime | None
    sent: int
    reached: int
    audience: int


def campaigns_page(after: int | None, size: int | None = None) -> tuple[list[Row], int | None]:
    """Newest first, by keyset (``after``: show the campaigns with a smaller id)."""
    size = size or PAGE_SIZE
    query = select(Campaign).order_by(Campaign.id.desc()).limit(size + 1)
    if after is not None:
        query = query.where(Campaign.id < after)
    found = list(db.session.scalars(query))
    more = len(found) > size
    catalog = get_catalog()
    rows = []
    for campaign in found[:size]:
        f = funnel.campaign_funnel(campaign)
        rows.append(Row(campaign, what_is_sent(campaign, catalog), next_send_of(campaign), f.sent, f.reached,
                        f.audience or (f.expected_audience or 0)))  # fmt: skip
    return rows, rows[-1].campaign.id if more and rows else None


STATE_WORDS = {
    CampaignState.DRAFT: _l("brouillon"),
    CampaignState.SCHEDULED: _l("programmée"),
    CampaignState.RUNNING: _l("en cours"),
    CampaignState.PAUSED: _l("en pause"),
    CampaignState.FINISHED: _l("terminée"),
    CampaignState.CANCELLED: _l("annulée"),
}
STATUS_WORDS = {
    DeliveryStatus.PENDING: _l("en attente"),
    DeliveryStatus.SENDING: _l("en cours d'envoi"),
    DeliveryStatus.QUEUED: _l("chez l'opérateur"),
    DeliveryStatus.SENT: _l("envoyé"),
    DeliveryStatus.DELIVERED: _l("reçu"),
    DeliveryStatus.ANSWERED: _l("répondu"),
    DeliveryStatus.NO_ANSWER: _l("pas de réponse"),
    DeliveryStatus.BUSY: _l("occupé"),
    DeliveryStatus.FAILED: _l("échec"),
    DeliveryStatus.OPTED_OUT: _l("désinscrit"),
    DeliveryStatus.CANCELLED: _l("annulé"),
    DeliveryStatus.UNKNOWN: _l("inconnu"),
}


def state_word(campaign: Campaign) -> str:
    return str(STATE_WORDS[campaign.state])


OUTCOMES = ("reached", "not_reached", "started", "completed", "not_completed")


@dataclass(frozen=True)
class DeliveryFilter:
    status: str = ""
    attempts: int | None = None
    outcome: str = ""  # reached | not_reached | started | completed | not_completed
    place: str = ""  # part of a village, commune or region
    q: str = ""  # a phone number (or part of one), or part of a name

    @classmethod
    def from_args(cls, args) -> DeliveryFilter:
        def text(name: str) -> str:
            return " ".join((args.get(name) or "").replace("\x00", "").split())[:120]

        status = text("status")
        attempts = text("attempts")
        outcome = text("outcome")
        return cls(
            status=status if status in {s.value for s in DeliveryStatus} else "",
            attempts=int(attempts) if attempts.isascii() and attempts.isdigit() and len(attempts) < 3 else None,
            outcome=outcome if outcome in OUTCOMES else "",
            place=text("place"),
            q=text("q"),
        )

    def args(self) -> dict[str, str]:
        out = {"status": self.status, "attempts": "" if self.attempts is None else str(self.attempts),
               "outcome": self.outcome, "place": self.place, "q": self.q}  # fmt: skip
        return {k: v for k, v in out.items() if v}

    def clauses(self) -> list:
        out = []
        if self.status:
            out.append(Delivery.status == DeliveryStatus(self.status))
        if self.attempts is not None:
            out.append(Delivery.attempts == self.attempts)
        reached = Delivery.status.in_((DeliveryStatus.DELIVERED, DeliveryStatus.ANSWERED))
        if self.outcome == "reached":
            out.append(reached)
        elif self.outcome == "not_reached":
            out.append(~reached)
        elif self.outcome == "started":
            out.append(Delivery.started_at.is_not(None))
        elif self.outcome == "completed":
            out.append(Delivery.completed_at.is_not(None))
        elif self.outcome == "not_completed":
            out.append(and_(reached, Delivery.completed_at.is_(None)))
        if self.place:
            pattern = "%" + self.place.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            out.append(or_(*(func.lower(column).like(pattern, escape="\\")
                             for column in (Listener.village, Listener.commune, Listener.region))))  # fmt: skip
        if self.q:
            out.extend(ListenerFilter(q=self.q).clauses())
        return out


def _deliveries_query(campaign: Campaign, flt: DeliveryFilter):
    return (
        select(Delivery, Listener)
        .join(Listener, Listener.id == Delivery.listener_id)
        .where(Delivery.campaign_id == campaign.id, *flt.clauses())
        .order_by(Delivery.id)
    )


@dataclass(frozen=True)
class DeliveryPage:
    rows: list[tuple[Delivery, Listener]]
    next_after: int | None


def deliveries_page(campaign: Campaign, flt: DeliveryFilter, *, after: int | None = None, size: int | None = None):
    size = size or PAGE_SIZE
    query = _deliveries_query(campaign, flt).limit(size + 1)
    if after is not None:
        query = query.where(Delivery.id > after)
    rows = [(d, p) for d, p in db.session.execute(query).all()]
    more = len(rows) > size
    rows = rows[:size]
    return DeliveryPage(rows, rows[-1][0].id if more and rows else None)


DELIVERY_COLUMNS = [
    (_l("Envoi"), "int"),
    (_l("Numéro de l'auditeur"), "int"),
    (_l("Téléphone"), "phone"),
    (_l("Nom"), "text"),
    (_l("Village"), "text"),
    (_l("Commune"), "text"),
    (_l("Région"), "text"),
    (_l("Langue"), "text"),
    (_l("Canal"), "text"),
    (_l("État"), "text"),
    (_l("Essais"), "int"),
    (_l("Prévu le"), "date"),
    (_l("Leçon commencée le"), "date"),
    (_l("Leçon terminée le"), "date"),
    (_l("Mis à jour le"), "date"),
]


def delivery_rows(campaign: Campaign, flt: DeliveryFilter, *, masked: bool, batch: int = 1000) -> Iterator[tuple]:
    """The deliveries for the CSV, ``batch`` at a time by keyset, as plain tuples (flat memory)."""
    query = (
        select(
            Delivery.id, Listener.id, Listener.phone, Listener.name, Listener.village, Listener.commune,
            Listener.region, Listener.language, Delivery.channel, Delivery.status, Delivery.attempts,
            Delivery.due_at, Delivery.started_at, Delivery.completed_at, Delivery.updated_at,
        )
        .join(Listener, Listener.id == Delivery.listener_id)
        .where(Delivery.campaign_id == campaign.id, *flt.clauses())
        .order_by(Delivery.id)
        .limit(batch)
    )  # fmt: skip
    last = 0
    while True:
        rows = db.session.execute(query.where(Delivery.id > last)).all()
        for r in rows:
            phone = mask_phone(r[2]) if masked else r[2]
            yield (r[0], r[1], phone, r[3], r[4], r[5], r[6], r[7] or "", str(r[8]),
                   str(STATUS_WORDS[DeliveryStatus(r[9])]), *r[10:])  # fmt: skip
        if len(rows) < batch:
            return
        last = rows[-1][0]


# The estimate's lines and notes (campaigns.estimate, in English) in French; an unknown one is shown as it is.
LANGUAGE_WORDS = {"bm": _l("bambara"), "fr": _l("français")}
COST_WORDS: list[tuple[re.Pattern, object]] = [
    (re.compile(r"^SMS (?P<lang>\w+): (?P<n>\d+) listener\(s\) × (?P<m>\d+) segment\(s\)$"),
     _l("SMS en %(lang)s : %(n)s personne(s) × %(m)s segment(s)")),
    (re.compile(r"^calls (?P<lang>\w+): (?P<n>\d+) listener\(s\) × (?P<m>\d+) min$"),
     _l("Appels en %(lang)s : %(n)s personne(s) × %(m)s min")),
    (re.compile(r"^segments counted as sent \(Bambara letters transliterated\)$"),
     _l("Segments comptés tels qu'ils partent (lettres bambara remplacées).")),
    (re.compile(r"^segments counted as sent \(no transliteration\)$"),
     _l("Segments comptés tels qu'ils partent (sans remplacer de lettres).")),
    (re.compile(r"^(?P<lang>\w+): (?P<min>[\d.]+) min from the recordings' durations$"),
     _l("Leçon en %(lang)s : %(min)s min, d'après la durée des enregistrements.")),
    (re.compile(r"^(?P<lang>\w+): (?P<min>[\d.]+) min from the words at (?P<wpm>\d+) words a minute$"),
     _l("Leçon en %(lang)s : %(min)s min, d'après le nombre de mots (%(wpm)s mots par minute).")),
    (re.compile(r"^upper bound: every call answered"),
     _l("Au plus : comme si chaque appel était décroché (une fois) ; les appels sans réponse et les nouveaux "
        "essais ne sont pas facturés.")),
    (re.compile(r"^up to (?P<n>\d+) retries per listener cost nothing unless answered$"),
     _l("Jusqu'à %(n)s nouveaux essais par personne : gratuits tant qu'ils ne sont pas décrochés.")),
    (re.compile(r"^(?P<n>\d+) runs$"), _l("%(n)s envois.")),
    (re.compile(r"^tariffs of (?P<provider>\S+) from TARIFFS"),
     _l("Tarifs de %(provider)s (réglage TARIFFS, en FCFA ; ceux par défaut sont approximatifs : demandez les "
        "vôtres à l'opérateur).")),
]  # fmt: skip


def cost_words(text: str) -> str:
    for pattern, french in COST_WORDS:
        if found := pattern.search(text):
            values = dict(found.groupdict())
            if "lang" in values:
                values["lang"] = str(LANGUAGE_WORDS.get(values["lang"], values["lang"]))
            return str(french) % values
    return text


@bp.context_processor
def _template_words() -> dict[str, Any]:
    return {"state_word": state_word, "cost_words": cost_words}
