"""Campaigns in the dashboard: the list, the editor (new, or a draft / paused campaign), the confirmation step,
the campaign page with its live funnel and per-listener deliveries (filters, keyset pages, CSV export), and
pause / resume / cancel, each confirmed on a page of its own.

Access: managers and admins (``MANAGE_CAMPAIGNS``) create, edit, schedule, pause, resume and cancel; viewers
read the list and the campaign pages; field agents get 403 on every campaign page and no menu entry: a
campaign's audience, funnel and deliveries count listeners everywhere, not only in an agent's places and
groups (the figures are not scoped), so showing them to an agent would show people outside their zone.
Every change is audited (``campaign_created``, ``campaign_edited``, ``campaign_scheduled``, ``campaign_paused``,
``campaign_resumed``, ``campaign_cancelled``; the CSV export as ``export``), never with a phone number.

The routes are here; the editor's form and its live figures are in ``dashboard.campaign_editor`` (the form becomes
the same definition mapping as a YAML file and is checked by ``campaigns.service.validate_definition``: every
error at once, each next to the input its field path names), what the pages show (summary, funnel, deliveries) in
``dashboard.campaign_reports``, and the French words for the campaigns package's English in
``dashboard.campaign_words``. The live parts (encoding and segments of each text, the audience count and sample,
the next send times, the cost, the funnel) are small htmx fragments computed by the campaigns package.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, stream_with_context, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm

from accounts import audit
from accounts.roles import Permission, Role, allowed, scoped
from campaigns.models import Campaign, CampaignState
from campaigns.service import TRANSITIONS, CampaignError, FieldError, apply_action
from content.catalog import get_catalog
from core.db import db
from core.phones import mask_phone
from dashboard.access import me, now, require
from dashboard.campaign_editor import CampaignForm, error_text, form_data, live_preview, save, text_info
from dashboard.campaign_reports import (
    DELIVERY_COLUMNS,
    DeliveryFilter,
    campaign_or_404,
    campaigns_page,
    deliveries_page,
    delivery_rows,
    next_send_of,
    outcome_message,
    progress_of,
    summarize,
    when_text,
)
from dashboard.campaign_words import STATUS_WORDS, cost_words, state_word
from dashboard.exports import csv_chunks
from dashboard.listing import parse_cursor

bp = Blueprint("campaigns", __name__, url_prefix="/dashboard/campaigns", template_folder="templates")

EDITABLE = (CampaignState.DRAFT, CampaignState.PAUSED)
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


@bp.context_processor
def _template_words() -> dict[str, Any]:
    return {"state_word": state_word, "cost_words": cost_words}
