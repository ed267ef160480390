"""What the campaign pages show: what a campaign sends and when (the confirmation step), its progress as a funnel
of bars with their denominator and the retries table, the list of campaigns, and the per-listener deliveries
(filters, keyset pages, the CSV's rows)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import abort, current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select

from campaigns import audience as audiences
from campaigns import funnel, schedule
from campaigns.models import Campaign, CampaignState, Delivery, DeliveryStatus, ScheduleKind
from campaigns.service import next_send
from campaigns.service import window_for as campaign_window
from content.catalog import get_catalog
from content.loader import Catalog
from core.db import db
from core.phones import mask_phone
from core.vocabulary import Channel
from dashboard.access import now
from dashboard.campaign_editor import TextInfo, cost_of, text_info
from dashboard.campaign_words import DAY_WORDS, STATUS_WORDS
from dashboard.listing import ListenerFilter
from listeners.models import Listener

PAGE_SIZE = 50
LIVE = (CampaignState.SCHEDULED, CampaignState.RUNNING, CampaignState.PAUSED)


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
