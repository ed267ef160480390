"""SUIVI by SMS: a field agent's phone asks for a listener's or a village's figures and gets one SMS, inside the
agent's scope; strangers, listeners and disabled accounts get what any text gets (nothing about anyone).

Through the real webhooks (Twilio's and Africa's Talking's form parameters) and the real sender, as in
tests/test_sms_line.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from accounts import service as accounts
from accounts.models import AuditEvent
from accounts.roles import Role, ScopeKind
from core.db import db
from core.vocabulary import Direction
from listeners.models import LessonProgress, ProgressStatus
from sms import machine
from sms.encoding import cost
from sms.keywords import Keywords
from sms.models import Message
from tests.conftest import NOW
from tests.test_sms_line import Line, wire  # noqa: F401  (the fixture)

AGENT_PHONE = "+22390001122"
STRANGER = "+22390009988"
NOT_FOUND = "SUIVI : rien trouvé pour {} dans votre zone."


@pytest.fixture
def village(make_listener):
    """Awa (Kaniko) finished the child-labour lesson; Moussa (Kaniko) started it; Seydou lives in Molobala."""
    awa = make_listener(phone="+22376123456", name="Awa Traoré", village="Kaniko", last_contact_at=NOW - timedelta(3))
    moussa = make_listener(phone="+22376123457", name="Moussa", village=" kaniko")
    seydou = make_listener(phone="+22350112233", name="Seydou Coulibaly", village="Molobala")
    rows = [
        (awa, "child-labour", "what-is-child-labour", ProgressStatus.COMPLETED, NOW - timedelta(days=2)),
        (moussa, "child-labour", "what-is-child-labour", ProgressStatus.IN_PROGRESS, NOW - timedelta(days=1)),
        (seydou, "money", "saving-a-little", ProgressStatus.COMPLETED, NOW - timedelta(days=1)),
    ]
    for listener, course, lesson, status, at in rows:
        db.session.add(LessonProgress(listener_id=listener.id, course_id=course, lesson_id=lesson, status=status,
                                      updated_at=at, started_at=at))  # fmt: skip
    db.session.commit()
    return {"awa": awa, "moussa": moussa, "seydou": seydou}


@pytest.fixture
def agent(make_user, village):
    return make_user(Role.AGENT, scopes=[(ScopeKind.VILLAGE, "Kaniko")], phone="90 00 11 22")


def _suivi_events() -> list[tuple]:
    return [
        (e.user_id, e.target, e.detail) for e in db.session.scalars(select(AuditEvent).filter_by(action="suivi_sms"))
    ]


@pytest.mark.parametrize("provider", ["twilio", "africastalking", "local"])
def test_an_agent_gets_a_listeners_completions_in_one_sms(backend, client, wire, agent, village, provider):  # noqa: F811
    line = Line(provider, client, wire)
    [reply] = line.text("SUIVI 76 12 34 56", phone=AGENT_PHONE)
    assert (
        reply
        == "SUIVI Awa Traoré (+2237612****) : Le travail des enfants 1/1, L'argent 0/1. Dernière activité : 22/11/2026."
    )
    assert cost(reply).segments == 1
    assert _suivi_events() == [(agent.id, f"listener:{village['awa'].id}", {"query": "76 12 ** **", "found": True})]
    # the exchange is kept without a listener (no listener's page shows it), the number asked about masked
    rows = db.session.execute(
        select(Message.direction, Message.listener_id, Message.body)
        .where(Message.phone == AGENT_PHONE)
        .order_by(Message.id)
    ).all()
    assert rows == [(Direction.INBOUND, None, "SUIVI 76 12 ** **"), (Direction.OUTBOUND, None, reply)]
    assert db.session.scalars(select(Message).where(Message.listener_id == village["awa"].id)).all() == []


def test_an_agent_gets_a_villages_counts(backend, client, wire, agent, village):  # noqa: F811
    line = Line("twilio", client, wire)
    assert line.text("suivi KANIKO", phone=AGENT_PHONE) == [
        "SUIVI Kaniko : 2 auditeurs. Cours finis : Le travail des enfants 1, L'argent 0."
    ]
    assert _suivi_events() == [(agent.id, "village:Kaniko", {"query": "KANIKO", "found": True})]


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("SUIVI 50 11 22 33", "50 11 ** **"),  # Seydou: another agent's village
        ("SUIVI +22370000000", "+2237000****"),  # nobody has it
        ("SUIVI 12", "**"),  # not a number at all
        ("SUIVI Molobala", "Molobala"),  # another agent's village
        ("SUIVI Sanso", "Sanso"),  # no such village
    ],
)
def test_out_of_scope_reads_like_not_found(backend, client, wire, agent, village, text, shown):  # noqa: F811
    [reply] = Line("twilio", client, wire).text(text, phone=AGENT_PHONE)
    assert reply == NOT_FOUND.format(shown)
    assert "Seydou" not in reply and "Molobala 1" not in reply
    assert _suivi_events() == [(agent.id, "", {"query": shown, "found": False})]


def test_suivi_alone_says_how_to_ask(client, wire, agent):  # noqa: F811
    [reply] = Line("twilio", client, wire).text("Suivi", phone=AGENT_PHONE)
    assert reply == "SUIVI : envoyez SUIVI et un numéro (SUIVI 76123456) ou un village (SUIVI Kaniko)."


def test_a_manager_sees_every_village_and_an_agent_who_chose_bambara_reads_bambara(client, wire, make_user, village):  # noqa: F811
    make_user(Role.MANAGER, phone="+22390001133")
    line = Line("twilio", client, wire)
    assert line.text("KAN 1", phone="+22390001133")  # the manager's phone chose Bambara on the line
    [reply] = line.text("SUIVI 50112233", phone="+22390001133")
    assert reply == "SUIVI Seydou Coulibaly (+2235011****): Denmisènw ka baara 0/1, Wari 1/1. Tuma laban: 23/11/2026."


@pytest.mark.parametrize("who", ["stranger", "disabled", "listener", "listener_mid_lesson"])
def test_nobody_but_an_active_user_learns_anything(backend, client, wire, make_user, village, who):  # noqa: F811
    line = Line("twilio", client, wire)
    phone = STRANGER
    if who == "disabled":
        user = make_user(Role.AGENT, scopes=[(ScopeKind.VILLAGE, "Kaniko")], phone=STRANGER)
        accounts.disable(user, NOW)
        db.session.commit()
    if who.startswith("listener"):
        phone = village["moussa"].phone  # a listener of Kaniko himself
        db.session.execute(LessonProgress.__table__.delete())
        db.session.commit()
        line.text("AIDE" if who == "listener" else "QUIZ 1", phone=phone)
    # the same text with any other first word is what SUIVI must be answered like
    control = Line("twilio", client, wire)
    control.n = 1000
    before = db.session.scalars(select(Message.id)).all()
    replies = line.text("SUIVI 76 12 34 56", phone=phone)
    assert replies, "an ordinary text gets its ordinary answer"
    assert all("Awa" not in r and "1/1" not in r and "rien trouvé" not in r for r in replies)
    assert _suivi_events() == []
    if who in ("stranger", "disabled"):
        assert replies == control.text("BONJOUR 76 12 34 56", phone="+22390009977")
    elif who == "listener":
        assert replies == ["Kalanso : envoyez QUIZ pour apprendre, AIDE pour l'aide."]
    else:  # in a lesson: the text is an answer the lesson does not understand
        assert replies[0].startswith("Réponse non comprise.")
    inbound = db.session.scalars(
        select(Message).where(Message.id.not_in(before), Message.direction == "inbound")
    ).first()
    assert inbound.listener_id is not None  # kept with the texter, as any text is


def test_the_machine_treats_suivi_as_an_ordinary_text():
    table = Keywords.from_file(opt_out_word_bm="BANNI", opt_in_word_bm="SEGINNI")
    ctx = machine.Context(keywords=table, language="fr", default_language="fr", courses=())
    assert machine.receive({"node": "idle"}, ctx, "SUIVI Kaniko") == machine.receive({"node": "idle"}, ctx, "XYZ")
    assert table.route("suivi 76 12").action == "suivi"


@pytest.mark.parametrize(
    ("text", "query"),
    [
        ("SUIVI 76 12 34 56", ("phone", "76 12 34 56")),
        ("suivi +223 76-12-34-56", ("phone", "+223 76-12-34-56")),
        ("SUIVI  Kéniéba ", ("village", "Kéniéba")),
        ("SUIVI Dio  Gare", ("village", "Dio Gare")),
        ("SUIVI", ("none", "")),
        ("SUIVI   ", ("none", "")),
    ],
)
def test_what_suivi_asks(text, query):
    assert machine.suivi_query(text) == query


@pytest.mark.parametrize(
    ("courses", "listener", "village"),
    [
        (
            4,  # titles cut
            "SUIVI Fatoumata Binta Coulibaly-Tra. (+2237612****) : Un titre de. 0/12, Un titre de. 1/12, "
            "Un titre de. 2/12, Un titre de. 3/12. Dernière activité : aucune.",
            "SUIVI Kaniko : 1234 auditeurs. Cours finis : Un titre de. 0, Un titre de. 1, Un titre de. 2, "
            "Un titre de. 3.",
        ),
        (
            8,  # titles left out for their numbers
            "SUIVI Fatoumata Binta Coulibaly-Tra. (+2237612****) : 1) 0/12, 2) 1/12, 3) 2/12, 4) 3/12, 5) 4/12, "
            "6) 5/12, 7) 6/12, 8) 7/12. Dernière activité : aucune.",
            "SUIVI Kaniko : 1234 auditeurs. Cours finis : 1) 0, 2) 1, 3) 2, 4) 3, 5) 4, 6) 5, 7) 6, 8) 7.",
        ),
    ],
)
def test_a_long_reply_is_shortened_to_one_sms(courses, listener, village):
    from content.model import Localized

    long_title = Localized({"fr": "Un titre de cours vraiment très long pour un SMS", "bm": "x"}, {})
    counts = tuple(machine.CourseCount(long_title, n, 12) for n in range(courses))
    figures = machine.ListenerFigures("Fatoumata Binta Coulibaly-Traoré de Kaniko", "+2237612****", counts, None)
    assert machine.suivi_reply(figures, "76123456", "fr") == listener
    assert machine.suivi_reply(machine.VillageFigures("Kaniko", 1234, counts), "Kaniko", "fr") == village
    assert cost(listener).segments == cost(village).segments == 1
