"""The campaign pages: the role × page matrix (agents never see campaign figures: they are not scoped), the
editor (every error next to its input, a past time refused, "send now", unknown groups refused, the audience
rule in the live count), the confirmation step, pause / resume / cancel with their confirmation pages, forged
requests, the live fragments (encoding, preview, progress) and the deliveries' CSV export. The tests that read
the database through the audience, funnel and listings run on SQLite and PostgreSQL (``backend``)."""

from __future__ import annotations

import codecs
import csv
import html
import io
import re

import pytest
from sqlalchemy import select

from accounts.models import AuditEvent
from accounts.roles import Role, ScopeKind
from campaigns.expand import expand_due
from campaigns.models import Campaign, CampaignState, Delivery, DeliveryStatus
from campaigns.service import apply_definition, change_state
from content.catalog import get_catalog
from core.db import db
from listeners.models import Group
from tests.conftest import NOW
from tests.dashboard_support import csrf_token, post, sign_in

WHO = ("admin", "manager", "agent", "viewer", "anonymous")
LESSON = "child-labour/what-is-child-labour"


@pytest.fixture
def world(app, make_user, make_listener):
    coop = Group(name="Coopérative de Kaniko", created_at=NOW)
    db.session.add(coop)
    db.session.flush()
    awa = make_listener(phone="+22376000001", name="Awa Traoré", village="Kaniko", language="bm", consent_at=NOW)
    moussa = make_listener(phone="+22376000002", name="Moussa Diarra", village="Kaniko", language="fr",
                           consent_at=NOW)  # fmt: skip
    rang_once = make_listener(phone="+22376000003", name="Sans accord", village="Kaniko")  # no consent recorded
    french = make_listener(phone="+33612345678", name="Numéro français", village="Kaniko", consent_at=NOW)
    stopped = make_listener(phone="+22376000005", name="Désinscrit", village="Kaniko", consent_at=NOW, opted_out=True)
    for person in (awa, moussa, rang_once, french, stopped):
        person.groups = [coop]
    db.session.commit()
    users = {
        "admin": make_user(Role.ADMIN),
        "manager": make_user(Role.MANAGER),
        "agent": make_user(Role.AGENT, scopes=[(ScopeKind.VILLAGE, "Kaniko")]),
        "viewer": make_user(Role.VIEWER),
    }
    return {"coop": coop, "awa": awa, "moussa": moussa, **users}


def make_campaign(name: str = "Épargne à Kaniko", *, schedule_now: bool = False, **overrides) -> Campaign:
    """A saved SMS campaign to the cooperative, sent "now" (draft; scheduled and expanded with ``schedule_now``)."""
    definition = {
        "name": name,
        "channel": "sms",
        "message": {"fr": "Bonjour, une leçon vous attend : tapez QUIZ.", "bm": "I ni ce, kalan bɛ i makɔnɔ."},
        "audience": {"groups": ["Coopérative de Kaniko"]},
        "schedule": {"kind": "once", "at": "now"},
        **overrides,
    }
    from flask import current_app

    campaign = apply_definition(Campaign(state=CampaignState.DRAFT), definition, get_catalog(),
                                current_app.config["KALANSO"], NOW)  # fmt: skip
    if schedule_now:
        change_state(campaign, "schedule", NOW)
        db.session.commit()
        expand_due(current_app.config["KALANSO"], NOW)
    db.session.commit()
    return campaign


def each_role(app, world, expected):
    emails = {who: world[who].email for who in WHO if who != "anonymous"}
    db.session.commit()
    for who, status in zip(WHO, expected, strict=True):
        with app.app_context():
            client = app.test_client()
            if who != "anonymous":
                assert sign_in(client, emails[who]).status_code == 302
            yield who, status, client


MATRIX = [
    # method, page, expected for admin, manager, agent, viewer, anonymous
    ("get", "/dashboard/campaigns/", (200, 200, 403, 200, 302)),
    ("get", "/dashboard/campaigns/new", (200, 200, 403, 403, 302)),
    ("post", "/dashboard/campaigns/new", (400, 400, 403, 403, 302)),  # an empty form
    ("get", "/dashboard/campaigns/{c}", (200, 200, 403, 200, 302)),
    ("get", "/dashboard/campaigns/999999", (404, 404, 403, 404, 302)),
    ("get", "/dashboard/campaigns/{c}/progress", (200, 200, 403, 200, 302)),
    ("get", "/dashboard/campaigns/{c}/deliveries.csv", (200, 200, 403, 200, 302)),
    ("get", "/dashboard/campaigns/{c}/edit", (200, 200, 403, 403, 302)),
    ("get", "/dashboard/campaigns/{c}/confirm", (200, 200, 403, 403, 302)),
    ("get", "/dashboard/campaigns/{c}/pause", (200, 200, 403, 403, 302)),
    ("get", "/dashboard/campaigns/{c}/resume", (200, 200, 403, 403, 302)),
    ("get", "/dashboard/campaigns/{c}/cancel", (200, 200, 403, 403, 302)),
    ("post", "/dashboard/campaigns/{c}/pause", (302, 302, 403, 403, 302)),  # a draft: "nothing changed"
    ("post", "/dashboard/campaigns/{c}/resume", (302, 302, 403, 403, 302)),
    ("post", "/dashboard/campaigns/{c}/confirm", (302, 400, 403, 403, 302)),  # scheduled by the admin: no more
    ("post", "/dashboard/campaigns/{c}/cancel", (302, 302, 403, 403, 302)),
    ("post", "/dashboard/campaigns/preview", (200, 200, 403, 403, 302)),
    ("post", "/dashboard/campaigns/encoding", (200, 200, 403, 403, 302)),
]


@pytest.mark.parametrize("method, page, expected", MATRIX)
def test_role_page_matrix(backend, app, world, method, page, expected):
    campaign = make_campaign()
    url = page.format(c=campaign.id)
    for who, status, client in each_role(app, world, expected):
        if method == "get":
            answer = client.get(url)
        else:
            answer = post(client, url, {}, page="/dashboard/login" if who == "anonymous" else "/dashboard/")
        answer.get_data()  # a streamed export is read to its end (and its request closed)
        answer.close()
        assert (who, answer.status_code) == (who, status)
        if who == "anonymous":
            assert answer.headers["Location"].startswith("/dashboard/login")


def test_the_menu_shows_campaigns_to_managers_and_viewers_not_to_agents(client, world):
    for who, shown in (("manager", True), ("viewer", True), ("agent", False)):
        sign_in(client, world[who])
        home = client.get("/dashboard/").get_data(as_text=True)
        assert ('href="/dashboard/campaigns/"' in home) == shown, who
        client.post("/dashboard/logout", data={"csrf_token": csrf_token(client, "/dashboard/")})
    sign_in(client, world["viewer"])
    listing = client.get("/dashboard/campaigns/").get_data(as_text=True)
    assert "Nouvelle campagne" not in listing


# --- the editor --------------------------------------------------------------------------------------------


def _form(**overrides) -> dict:
    data = {
        "name": "Épargne à Kaniko",
        "channel": "sms",
        "content": "message",
        "message_fr": "Bonjour, une leçon vous attend : tapez QUIZ.",
        "message_bm": "I ni ce, kalan bɛ i makɔnɔ.",
        "groups": ["Coopérative de Kaniko"],
        "schedule_kind": "once",
        "once_mode": "at",
        "once_at": "2026-11-25T10:00",
        "max_retries": "3",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def field_errors(page: str, field_id: str) -> list[str]:
    """The error messages shown inside the field (or fieldset) that holds the input ``field_id``."""
    page = html.unescape(page)
    at = page.index(f'id="{field_id}"')
    start = max(page.rfind('<div class="field', 0, at), page.rfind('<fieldset class="field', 0, at))
    end = page.find("</fieldset>" if page[start:].startswith("<fieldset") else "</div>\n", at)
    return re.findall(r'<p class="error" role="alert">([^<]*)</p>', page[start:end])


def test_an_empty_form_shows_every_error_next_to_its_field(client, world):
    sign_in(client, world["manager"])
    answer = post(client, "/dashboard/campaigns/new", {"channel": "sms", "content": "message", "schedule_kind": "once",
                                                       "once_mode": "at"})  # fmt: skip
    assert answer.status_code == 400
    page = answer.get_data(as_text=True)
    assert field_errors(page, "name")
    assert field_errors(page, "message_fr")
    assert field_errors(page, "everyone") == [
        "Choisissez qui reçoit la campagne (des groupes, des lieux…), ou cochez « Tout le monde »."
    ]
    assert field_errors(page, "once_at")
    assert db.session.scalar(select(Campaign.id)) is None


def test_a_time_in_the_past_is_refused_next_to_the_date(client, world):
    sign_in(client, world["manager"])
    answer = post(client, "/dashboard/campaigns/new", _form(once_at="2026-11-24T09:00"))  # NOW is 10:00 in Bamako
    assert answer.status_code == 400
    errors = field_errors(answer.get_data(as_text=True), "once_at")
    assert len(errors) == 1 and errors[0].startswith("Cette heure est passée")
    assert "Maintenant" in errors[0]
    assert db.session.scalar(select(Campaign.id)) is None


def test_an_unknown_group_is_refused_by_name(backend, client, world):
    sign_in(client, world["manager"])
    answer = post(client, "/dashboard/campaigns/new", _form(groups=["Coopérative de Kaniko", "Coopérative fantôme"]))
    assert answer.status_code == 400
    assert field_errors(answer.get_data(as_text=True), "groups-set") == ["Groupe(s) inconnu(s) : Coopérative fantôme."]
    assert db.session.scalar(select(Campaign.id)) is None


def test_send_now_saves_a_draft_then_the_confirmation_schedules_it(backend, client, world):
    sign_in(client, world["manager"])
    saved = post(client, "/dashboard/campaigns/new", _form(once_mode="now", once_at=""))
    assert saved.status_code == 302
    campaign = db.session.scalars(select(Campaign)).one()
    assert saved.headers["Location"] == f"/dashboard/campaigns/{campaign.id}/confirm"
    assert campaign.state == CampaignState.DRAFT
    assert campaign.schedule["at"] == "2026-11-24T10:00"  # "now": the minute it was saved

    page = html.unescape(client.get(saved.headers["Location"]).get_data(as_text=True))
    assert "Confirmer et programmer" in page
    assert re.search(r"<strong>2</strong> personnes", page)  # Awa and Moussa: consent, Mali, not opted out
    assert "FCFA" in page
    assert "kalan bè i makònò" in page  # the Bambara text as it is sent (transliterated)

    confirmed = post(client, saved.headers["Location"], page=saved.headers["Location"])
    assert confirmed.status_code == 302 and confirmed.headers["Location"] == f"/dashboard/campaigns/{campaign.id}"
    db.session.refresh(campaign)
    assert campaign.state == CampaignState.SCHEDULED
    shown = html.unescape(client.get(confirmed.headers["Location"]).get_data(as_text=True))
    assert "Campagne programmée" in shown
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.target == f"campaign:{campaign.id}"))
    assert list(actions) == ["campaign_created", "campaign_scheduled"]


def test_a_valid_form_is_a_draft_and_nothing_is_sent_before_confirming(app, client, world):
    sign_in(client, world["manager"])
    assert post(client, "/dashboard/campaigns/new", _form()).status_code == 302
    campaign = db.session.scalars(select(Campaign)).one()
    assert (campaign.state, campaign.schedule, campaign.audience) == (
        CampaignState.DRAFT,
        {"at": "2026-11-25T10:00"},
        {"groups": ["Coopérative de Kaniko"]},
    )
    expand_due(app.config["KALANSO"], NOW)
    assert db.session.scalar(select(Delivery.id)) is None


def test_editing_keeps_the_form_and_is_audited_and_a_running_campaign_must_be_paused_first(client, world):
    campaign = make_campaign(schedule={"kind": "once", "at": "2026-11-26T09:00"})
    sign_in(client, world["manager"])
    form = html.unescape(client.get(f"/dashboard/campaigns/{campaign.id}/edit").get_data(as_text=True))
    assert 'value="2026-11-26T09:00"' in form and "Coopérative de Kaniko" in form
    assert post(client, f"/dashboard/campaigns/{campaign.id}/edit",
                _form(name="Épargne — deuxième", once_at="2026-11-27T09:00")).status_code == 302  # fmt: skip
    db.session.refresh(campaign)
    assert (campaign.name, campaign.schedule["at"]) == ("Épargne — deuxième", "2026-11-27T09:00")
    assert db.session.scalar(select(AuditEvent.action).where(AuditEvent.action == "campaign_edited"))
    change_state(campaign, "schedule", NOW)
    db.session.commit()
    refused = client.get(f"/dashboard/campaigns/{campaign.id}/edit")
    assert refused.status_code == 302
    assert "mettez-la en pause" in html.unescape(client.get(refused.headers["Location"]).get_data(as_text=True))


def test_a_voice_campaign_needs_a_lesson_next_to_the_lesson_field(client, world):
    sign_in(client, world["manager"])
    answer = post(client, "/dashboard/campaigns/new", _form(channel="voice", lesson=""))
    assert answer.status_code == 400
    assert field_errors(answer.get_data(as_text=True), "lesson")


# --- forged requests --------------------------------------------------------------------------------------


def test_forged_or_missing_csrf_tokens_change_nothing(client, world):
    campaign = make_campaign(schedule_now=True)
    state = campaign.state
    sign_in(client, world["manager"])
    for data in ({}, {"csrf_token": "forged"}):
        assert client.post("/dashboard/campaigns/new", data={**_form(name="Autre"), **data}).status_code == 400
        for action in ("cancel", "pause", "confirm", "edit"):
            assert client.post(f"/dashboard/campaigns/{campaign.id}/{action}", data=data).status_code == 400
        assert client.post("/dashboard/campaigns/preview", data=_form()).status_code == 400
    db.session.refresh(campaign)
    assert campaign.state == state == CampaignState.RUNNING
    assert [c.name for c in db.session.scalars(select(Campaign))] == ["Épargne à Kaniko"]
    changes = select(AuditEvent.action).where(AuditEvent.action.like("campaign_%"))
    assert list(db.session.scalars(changes)) == []


# --- pause, resume, cancel --------------------------------------------------------------------------------


def test_cancel_asks_first_then_cancels_the_pending_deliveries_and_says_how_many(backend, client, world):
    campaign = make_campaign(schedule_now=True)
    assert db.session.scalars(select(Delivery.status)).all() == [DeliveryStatus.PENDING] * 2
    sign_in(client, world["manager"])
    ask = html.unescape(client.get(f"/dashboard/campaigns/{campaign.id}/cancel").get_data(as_text=True))
    assert "Oui, annuler la campagne" in ask and "2 envoi(s) en attente ou à réessayer seront annulés" in ask
    db.session.refresh(campaign)
    assert campaign.state != CampaignState.CANCELLED  # asking changes nothing

    done = post(client, f"/dashboard/campaigns/{campaign.id}/cancel")
    assert done.status_code == 302
    db.session.refresh(campaign)
    assert campaign.state == CampaignState.CANCELLED
    assert db.session.scalars(select(Delivery.status)).all() == [DeliveryStatus.CANCELLED] * 2
    page = html.unescape(client.get(done.headers["Location"]).get_data(as_text=True))
    assert "Campagne annulée : 2 envoi(s) en attente ou à réessayer sont annulés" in page
    assert db.session.scalar(select(AuditEvent.action).where(AuditEvent.action == "campaign_cancelled"))
    again = post(client, f"/dashboard/campaigns/{campaign.id}/cancel")
    assert "Rien n'a changé" in html.unescape(client.get(again.headers["Location"]).get_data(as_text=True))


def test_pause_then_resume(client, world):
    campaign = make_campaign(schedule_now=True)
    sign_in(client, world["manager"])
    post(client, f"/dashboard/campaigns/{campaign.id}/pause")
    db.session.refresh(campaign)
    assert campaign.state == CampaignState.PAUSED
    post(client, f"/dashboard/campaigns/{campaign.id}/resume")
    db.session.refresh(campaign)
    assert campaign.state != CampaignState.PAUSED
    actions = list(db.session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("campaign_%"))))
    assert actions == ["campaign_paused", "campaign_resumed"]


# --- the live fragments -----------------------------------------------------------------------------------


def test_the_encoding_fragment_shows_segments_and_the_transliteration(client, world):
    sign_in(client, world["manager"])
    answer = post(client, "/dashboard/campaigns/encoding", {"lang": "bm", "message_bm": "Kalan bɛ i makɔnɔ."})
    text = html.unescape(answer.get_data(as_text=True))
    assert 'id="enc-bm"' in text and "GSM-7" in text and "1 SMS (segment)" in text
    assert "Kalan bè i makònò." in text
    long_text = post(client, "/dashboard/campaigns/encoding", {"lang": "fr", "message_fr": "é" * 10 + "ɛ" * 500})
    assert "Trop long" in html.unescape(long_text.get_data(as_text=True))


def test_the_preview_counts_the_audience_with_its_exclusions_and_a_masked_sample(backend, client, world):
    sign_in(client, world["manager"])
    answer = post(client, "/dashboard/campaigns/preview", _form())
    assert answer.status_code == 200
    text = html.unescape(answer.get_data(as_text=True))
    assert re.search(r"<strong>2</strong> personnes recevront la campagne", text)
    assert "1 sans accord enregistré" in text and "1 numéros d'un autre pays" in text and "1 désinscrits" in text
    assert "Écartés (3 sur 5 qui correspondent)" in text
    assert "+22376000001" not in text and "Awa Traoré" in text  # the sample's phones are masked
    assert re.search(r'id="live-sends"[^>]*hx-swap-oob="true"', text)  # swapped beside the cost (htmx out of band)
    assert re.search(r'id="live-audience"[^>]*hx-swap-oob="true"', text)
    assert "FCFA" in text
    # a past time: the schedule part says so; the audience still counts
    past = html.unescape(post(client, "/dashboard/campaigns/preview", _form(once_at="2026-11-24T09:00")).get_data(
        as_text=True))  # fmt: skip
    assert "Cette heure est passée" in past and "personnes recevront" in past


def test_the_progress_fragment_polls_until_the_campaign_is_over(client, world):
    campaign = make_campaign(schedule_now=True)
    sign_in(client, world["viewer"])
    running = client.get(f"/dashboard/campaigns/{campaign.id}/progress").get_data(as_text=True)
    assert 'hx-trigger="every 3s"' in running
    assert "Chaque barre : part de l'audience (2 personne(s))." in html.unescape(running)
    change_state(campaign, "cancel", NOW)
    db.session.commit()
    over = client.get(f"/dashboard/campaigns/{campaign.id}/progress").get_data(as_text=True)
    assert "hx-trigger" not in over and "annulée" in over


# --- the deliveries and their export ----------------------------------------------------------------------


def _csv(answer) -> list[list[str]]:
    data = answer.get_data()
    assert data.startswith(codecs.BOM_UTF8)
    return list(csv.reader(io.StringIO(data[3:].decode("utf-8"), newline=""), delimiter=";"))


def test_the_deliveries_export_is_audited_filtered_and_masked_for_viewers(backend, client, world):
    campaign = make_campaign(schedule_now=True)
    sign_in(client, world["manager"])
    rows = _csv(client.get(f"/dashboard/campaigns/{campaign.id}/deliveries.csv"))
    assert rows[0][:4] == ["Envoi", "Numéro de l'auditeur", "Téléphone", "Nom"]
    assert sorted((r[2], r[3], r[9], r[10]) for r in rows[1:]) == [
        ("+22376000001", "Awa Traoré", "en attente", "0"),
        ("+22376000002", "Moussa Diarra", "en attente", "0"),
    ]
    only = _csv(client.get(f"/dashboard/campaigns/{campaign.id}/deliveries.csv?q=Moussa"))
    assert [r[3] for r in only[1:]] == ["Moussa Diarra"]
    client.post("/dashboard/logout", data={"csrf_token": csrf_token(client, "/dashboard/")})
    sign_in(client, world["viewer"])
    masked = _csv(client.get(f"/dashboard/campaigns/{campaign.id}/deliveries.csv?place=kani"))
    assert len(masked) == 3 and all("+22376000" not in r[2] and r[2].startswith("+2237600") for r in masked[1:])
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export")).all()
    assert [(e.target, e.detail.get("masked")) for e in events] == [(f"export:campaign:{campaign.id}", False)] * 2 + [
        (f"export:campaign:{campaign.id}", True)
    ]
    assert events[1].detail["filter"] == {"q": "Moussa"}


def test_the_deliveries_table_filters_and_pages_by_keyset(backend, client, world, monkeypatch):
    import dashboard.campaign_reports

    campaign = make_campaign(schedule_now=True)
    monkeypatch.setattr(dashboard.campaign_reports, "PAGE_SIZE", 1)
    sign_in(client, world["viewer"])
    first = html.unescape(client.get(f"/dashboard/campaigns/{campaign.id}").get_data(as_text=True))
    assert "Awa Traoré" in first and "Moussa Diarra" not in first and "+22376000001" not in first
    after = re.search(r"after=(\d+)", first).group(1)
    second = html.unescape(client.get(f"/dashboard/campaigns/{campaign.id}?after={after}").get_data(as_text=True))
    assert "Moussa Diarra" in second and "Awa Traoré" not in second
    filtered = html.unescape(client.get(f"/dashboard/campaigns/{campaign.id}?status=answered").get_data(as_text=True))
    assert "Aucun envoi ne correspond." in filtered


def test_the_campaign_pages_speak_english_when_asked(client, world):
    campaign = make_campaign(schedule_now=True)
    world["viewer"].locale = "en"
    db.session.commit()
    sign_in(client, world["viewer"])
    page = html.unescape(client.get(f"/dashboard/campaigns/{campaign.id}").get_data(as_text=True))
    assert "Progress" in page and "Each bar: share of the audience (2 person(s))." in page
    assert "Sends, person by person" in page and "Progression" not in page
    listing = html.unescape(client.get("/dashboard/campaigns/").get_data(as_text=True))
    assert "Sent: 0 · delivered: 0 of 2" in listing


def test_a_weekly_campaign_shows_its_next_five_sends_and_is_saved_for_everyone(client, world):
    sign_in(client, world["manager"])
    weekly = _form(schedule_kind="recurring", days=["tue", "thu"], recurring_time="18:00", starts="", until="",
                   everyone="y", groups=None)  # fmt: skip
    text = html.unescape(post(client, "/dashboard/campaigns/preview", weekly).get_data(as_text=True))
    sends = re.findall(r"<li>(\d\d/\d\d/\d{4} \d\d:\d\d)</li>", text)
    assert sends == ["24/11/2026 18:00", "26/11/2026 18:00", "01/12/2026 18:00", "03/12/2026 18:00",
                     "08/12/2026 18:00"]  # fmt: skip
    assert re.search(r"<strong>2</strong> personnes recevront", text)  # everyone who may receive it
    assert post(client, "/dashboard/campaigns/new", weekly).status_code == 302
    campaign = db.session.scalars(select(Campaign)).one()
    assert (campaign.schedule_kind.value, campaign.schedule, campaign.audience) == (
        "recurring",
        {"days": ["tue", "thu"], "time": "18:00"},
        {"everyone": True},
    )


def test_weekly_and_series_errors_are_next_to_their_inputs(client, world):
    sign_in(client, world["manager"])
    no_days = post(client, "/dashboard/campaigns/new", _form(schedule_kind="recurring", recurring_time="25:00"))
    page = no_days.get_data(as_text=True)
    assert no_days.status_code == 400
    assert field_errors(page, "days-set") == ["Cochez au moins un jour."]
    assert field_errors(page, "recurring_time") == ["Une heure comme 18:00."]
    bad_steps = post(client, "/dashboard/campaigns/new", _form(schedule_kind="drip", drip_time="09:00",
                                                               drip_days="0, trois"))  # fmt: skip
    assert bad_steps.status_code == 400
    assert field_errors(bad_steps.get_data(as_text=True), "drip_days") == [
        "Jour n° 2 : un nombre entier de jours, 0 ou plus."
    ]
    series = post(client, "/dashboard/campaigns/new", _form(schedule_kind="drip", drip_time="09:00", drip_days="0, 3"))
    assert series.status_code == 302
    campaign = db.session.scalars(select(Campaign)).one()
    assert campaign.schedule == {"time": "09:00", "steps": [{"day": 0}, {"day": 3}]}
    again = html.unescape(client.get(f"/dashboard/campaigns/{campaign.id}/edit").get_data(as_text=True))
    assert 'value="0, 3"' in again


def test_send_now_must_be_confirmed_within_ten_minutes(app, client, world):
    from datetime import timedelta

    sign_in(client, world["manager"])
    saved = post(client, "/dashboard/campaigns/new", _form(once_mode="now", once_at=""))
    app.config["KALANSO_CLOCK"] = lambda: NOW + timedelta(minutes=11)
    late = post(client, saved.headers["Location"], page=saved.headers["Location"])
    assert late.status_code == 400
    assert "« Maintenant » a été choisi il y a plus de 10 minutes" in html.unescape(late.get_data(as_text=True))
    assert db.session.scalars(select(Campaign.state)).one() == CampaignState.DRAFT


def test_a_draft_page_does_not_poll(client, world):
    campaign = make_campaign()
    sign_in(client, world["viewer"])
    page = client.get(f"/dashboard/campaigns/{campaign.id}").get_data(as_text=True)
    assert 'id="progress"' in page and "hx-trigger" not in page
    assert "estimée : aucun envoi préparé encore" in html.unescape(page)  # the audience as it would be now
