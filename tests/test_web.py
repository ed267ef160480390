"""The front page, the health check and the scheduler's command."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

from campaigns.scheduler import build_scheduler
from core.db import db


def test_healthz_is_200_with_the_database_reachable(backend, client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "content": "ok"}


def test_healthz_is_503_when_the_database_is_down(client, monkeypatch):
    def broken(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(db.session, "execute", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "error", "database": "unreachable", "content": "ok"}


def test_front_page_shows_the_service_and_its_courses(client, make_listener):
    make_listener()
    db.session.commit()
    page = client.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Kalanso" in html and "en marche" in html
    assert "Le travail des enfants" in html and "Denmisɛnw ka baara" in html
    assert "Auditeurs" not in html  # figures about people are behind the dashboard's sign-in
    assert '<a href="/dashboard/" id="dashboard">se connecter</a>' in html
    assert "Enregistrements audio" in html
    assert '<a href="/simulator">le simulateur' in html  # the local simulator is the provider here


def test_front_page_reports_broken_content_instead_of_crashing(app, client, tmp_path):
    (tmp_path / "bad.yaml").write_text("id: [", encoding="utf-8")
    app.config["KALANSO_COURSES_DIR"] = tmp_path
    app.extensions.pop("kalanso.catalog", None)
    page = client.get("/")
    assert page.status_code == 200
    assert "Le contenu a des erreurs" in page.get_data(as_text=True)


def test_scheduler_builds_in_bamako_time(app):
    scheduler = build_scheduler(app)
    assert str(scheduler.timezone) == "Africa/Bamako"
