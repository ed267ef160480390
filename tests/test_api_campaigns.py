"""``/api/v1/campaigns``: the list (state, next send, funnel summary) and one campaign's whole funnel, from the
same ``campaign_funnel`` as the page and the CLI; who may read them (agents may not: 403)."""

from __future__ import annotations

import pytest

from accounts import tokens
from accounts.roles import Role, ScopeKind
from campaigns.expand import expand_due
from campaigns.funnel import campaign_funnel
from campaigns.models import Delivery, DeliveryStatus
from campaigns.service import change_state, upsert_from_definition
from core.db import db
from tests.conftest import NOW


def _token(user) -> dict:
    _row, token = tokens.create(user, "test", NOW)
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def campaigns(app, catalog, make_listener):
    settings = app.config["KALANSO"]
    for _ in range(3):
        make_listener(consent_at=NOW, language="fr")
    voice = upsert_from_definition(
        {"name": "Appel", "channel": "voice", "lesson": "money/saving-a-little", "audience": "everyone",
         "schedule": {"kind": "once", "at": "2026-11-24T10:00"}},
        catalog, settings, NOW,
    )  # fmt: skip
    change_state(voice, "schedule", NOW, settings)
    sms = upsert_from_definition(
        {"name": "Quiz", "channel": "sms", "message": {"fr": "QUIZ ?", "bm": "QUIZ ?"}, "audience": "everyone",
         "schedule": {"kind": "recurring", "days": ["thu"], "time": "18:00"}},
        catalog, settings, NOW,
    )  # fmt: skip
    expand_due(settings, NOW)
    rows = db.session.query(Delivery).filter_by(campaign_id=voice.id).order_by(Delivery.id).all()
    rows[0].status, rows[0].attempts, rows[0].started_at = DeliveryStatus.ANSWERED, 2, NOW
    rows[1].status, rows[1].attempts = DeliveryStatus.QUEUED, 1
    db.session.commit()
    return voice, sms


@pytest.fixture
def headers(make_user):
    users = {
        "admin": make_user(Role.ADMIN),
        "manager": make_user(Role.MANAGER),
        "viewer": make_user(Role.VIEWER),
        "agent": make_user(Role.AGENT, scopes=[(ScopeKind.VILLAGE, "Kaniko")]),
    }
    out = {name: _token(user) for name, user in users.items()}
    out["anonymous"] = {}
    return out


@pytest.mark.parametrize(
    ("who", "status"), [("admin", 200), ("manager", 200), ("viewer", 200), ("agent", 403), ("anonymous", 401)]
)
def test_who_may_read_campaigns(backend, client, campaigns, headers, who, status):
    voice, _sms = campaigns
    for path in ("/api/v1/campaigns", f"/api/v1/campaigns/{voice.id}"):
        answer = client.get(path, headers=headers[who])
        assert answer.status_code == status, path
        if who == "agent":
            assert answer.get_json()["error"] == "forbidden"
            assert "not an area" in answer.get_json()["message"]


def test_the_list_and_one_campaign(backend, client, campaigns, headers):
    voice, sms = campaigns
    listing = client.get("/api/v1/campaigns", headers=headers["viewer"]).get_json()
    assert listing["next"] is None
    first, second = listing["data"]
    assert (first["id"], first["state"], first["channel"], first["next_send"]) == (
        voice.id,
        "running",
        "voice",
        "2026-11-24T10:00:00Z",
    )  # fmt: skip  (a delivery still waits: its time)
    assert first["funnel"]["stages"] == {
        "audience": 3, "queued": 2, "sent": 1, "reached": 1, "started": 1, "completed": 0,
    }  # fmt: skip
    assert first["funnel"]["completion"]["label"] == "completed 0 of 1 reached (SMS delivered / call answered)"
    assert second["id"] == sms.id
    assert (second["state"], second["next_send"], second["funnel"]["expected_audience"]) == (
        "draft", "2026-11-26T18:00:00Z", 3,
    )  # fmt: skip
    one = client.get(f"/api/v1/campaigns/{voice.id}", headers=headers["manager"]).get_json()
    assert one["funnel"] == campaign_funnel(voice).as_dict()  # the one function
    assert one["funnel"]["outcomes"]["in_flight"] == 1 and one["funnel"]["outcomes"]["waiting"] == 1
    assert one["funnel"]["attempts"] == {
        "1": {"answered": 0, "not_answered": 1},
        "2": {"answered": 1, "not_answered": 0},
    }
    assert one["audience"] == {"everyone": True} and one["lesson"] == "money/saving-a-little"
    missing = client.get("/api/v1/campaigns/999", headers=headers["manager"])
    assert missing.status_code == 404 and missing.get_json()["error"] == "not_found"


def test_paging(backend, client, campaigns, headers):
    page = client.get("/api/v1/campaigns?limit=1", headers=headers["admin"]).get_json()
    assert len(page["data"]) == 1 and page["next"]
    rest = client.get(page["next"], headers=headers["admin"]).get_json()
    assert len(rest["data"]) == 1 and rest["next"] is None
    assert rest["data"][0]["id"] != page["data"][0]["id"]
