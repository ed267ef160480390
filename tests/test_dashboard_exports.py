"""Exports: exact CSV bytes and XLSX cells (read back with openpyxl), formula injection, phones kept as text,
batches by keyset, the audit log, the answers' filters, and a role × export × scope matrix on both databases."""

from __future__ import annotations

import codecs
import csv
import html
import io
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from accounts.models import AuditEvent
from accounts.roles import Role, ScopeKind
from core.db import db
from core.vocabulary import Channel
from dashboard import exports
from listeners.models import Group, LessonProgress, ProgressStatus, QuizAnswer
from tests.conftest import NOW
from tests.dashboard_support import sign_in

LESSON = "child-labour/what-is-child-labour"
HEADER = ["Numéro", "Téléphone", "Nom", "Village", "Commune", "Région", "Langue", "Groupes", "Consentement le",
          "Désinscrit", "Inscrit le", "Dernier contact"]  # fmt: skip


@pytest.fixture
def people(make_listener):
    """Kaniko: =Awa (a formula-looking name, 5/6, groups Femmes and Agri), Bintou (2/6), -Coumba (nothing).
    Kolondiéba: Ems (6/6, group Femmes). Answers: Awa twice (the 24th and the 20th), Ems once (the 24th)."""
    awa = make_listener(phone="+22376000001", name="=Awa", village="Kaniko", commune="Ouéléssébougou",
                        language="bm", consent_at=NOW - timedelta(days=3))  # fmt: skip
    bintou = make_listener(phone="+22376000002", name="Bintou", village="Kaniko")
    coumba = make_listener(phone="+22376000003", name="-Coumba", village="Kaniko", opted_out=True)
    ems = make_listener(phone="+22376000004", name="Ems", village="Kolondiéba", last_contact_at=NOW)
    for listener, best in ((awa, 5), (bintou, 2), (ems, 6)):
        db.session.add(LessonProgress(listener_id=listener.id, course_id="child-labour",
                                      lesson_id="what-is-child-labour", status=ProgressStatus.COMPLETED,
                                      best_score=best, total=6, attempts=1))  # fmt: skip
    db.session.add_all([Group(name="Femmes", listeners=[awa, ems]), Group(name="Agri", listeners=[awa])])
    for listener, answer, when, attempt in ((awa, "@SUM(1)", NOW, 2), (awa, "2", NOW - timedelta(days=4), 1),
                                            (ems, "1", NOW, 1)):  # fmt: skip
        db.session.add(QuizAnswer(listener_id=listener.id, course_id="child-labour",
                                  lesson_id="what-is-child-labour", question_id="q1", answer=answer,
                                  option_key=answer[:1], correct=answer == "1", counted=True,
                                  channel=Channel.SMS, attempt=attempt, answered_at=when))  # fmt: skip
    db.session.commit()
    return {"awa": awa, "bintou": bintou, "coumba": coumba, "ems": ems}


def _csv(answer) -> list[list[str]]:
    data = answer.get_data()
    assert data.startswith(codecs.BOM_UTF8)
    return list(csv.reader(io.StringIO(data[3:].decode("utf-8"), newline=""), delimiter=";"))


def _xlsx(answer) -> list[list]:
    book = load_workbook(io.BytesIO(answer.get_data()), read_only=True)
    return [[c for c in row] for sheet in book.worksheets for row in sheet.iter_rows(values_only=True)]


def _agent(make_user, place="Kaniko"):
    return make_user(Role.AGENT, scopes=[(ScopeKind.VILLAGE, place)])


def test_a_listener_list_as_csv_exact_bytes_in_scope(backend, client, people, make_user):
    sign_in(client, _agent(make_user))
    answer = client.get("/dashboard/exports/listeners.csv")
    assert answer.status_code == 200 and answer.is_streamed
    assert answer.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert answer.headers["Content-Disposition"] == 'attachment; filename="kalanso-auditeurs-2026-11-24.csv"'
    ids = [people[n].id for n in ("awa", "bintou", "coumba")]
    assert _csv(answer) == [
        HEADER,
        [str(ids[0]), "+22376000001", "'=Awa", "Kaniko", "Ouéléssébougou", "", "bm", "Agri, Femmes",
         "2026-11-21T10:00:00+00:00", "0", "2026-11-24T10:00:00+00:00", ""],
        [str(ids[1]), "+22376000002", "Bintou", "Kaniko", "", "", "", "", "", "0", "2026-11-24T10:00:00+00:00", ""],
        [str(ids[2]), "+22376000003", "'-Coumba", "Kaniko", "", "", "", "", "", "1", "2026-11-24T10:00:00+00:00", ""],
    ]  # fmt: skip
    assert b"\r\n" in answer.get_data()


def test_a_listener_list_as_xlsx_keeps_phones_as_text(backend, client, people, make_user):
    sign_in(client, make_user(Role.MANAGER))
    answer = client.get("/dashboard/exports/listeners.xlsx?group=" + str(db.session.scalar(
        select(Group.id).where(Group.name == "Femmes"))))  # fmt: skip
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    rows = _xlsx(answer)
    assert rows[0] == HEADER
    assert [r[:4] for r in rows[1:]] == [
        [people["awa"].id, "+22376000001", "=Awa", "Kaniko"],  # a string cell: never a formula, "+223" kept
        [people["ems"].id, "+22376000004", "Ems", "Kolondiéba"],
    ]
    assert rows[2][11] == "2026-11-24T10:00:00+00:00" and rows[1][9] == 0
    book = load_workbook(io.BytesIO(answer.get_data()))
    sheet = book.worksheets[0]
    assert sheet["B2"].data_type == "s" and sheet["C2"].data_type == "s"


def test_an_export_is_audited_before_its_first_byte(client, people, make_user):
    agent = _agent(make_user)
    sign_in(client, agent)
    answer = client.get(f"/dashboard/exports/listeners.csv?lesson={LESSON}&progress=completed&score=under_half",
                        buffered=False)  # fmt: skip
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export")).all()
    assert [(e.user_id, e.target, e.detail) for e in events] == [
        (agent.id, "export:listeners",
         {"fmt": "csv", "filter": {"lesson": LESSON, "progress": "completed", "score": "under_half"}}),
    ]  # fmt: skip
    rows = list(csv.reader(io.StringIO(b"".join(answer.response).decode("utf-8-sig")), delimiter=";"))
    assert [r[2] for r in rows[1:]] == ["Bintou"]  # the follow-up list "finished with under half right"
    answer.close()


@pytest.mark.parametrize(
    "value, expected",
    [("=1+1", "'=1+1"), ("+33", "'+33"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"),
     ("\rx", "'\rx"), ("Awa", "Awa"), ("", ""), ("a=b", "a=b")],
)  # fmt: skip
def test_csv_cells_that_excel_would_run_are_disarmed(value, expected):
    assert exports.csv_value(value, "text") == expected
    assert exports.csv_value("+22376000001", "phone") == "+22376000001"  # a validated number, kept to search it


def test_rows_are_read_in_batches_by_keyset_in_order(app, client, make_listener, make_user, monkeypatch):
    monkeypatch.setattr(exports, "BATCH", 2)
    made = [make_listener(name=f"P{n}", village="Kaniko").id for n in range(5)]
    db.session.commit()
    sign_in(client, make_user(Role.VIEWER))
    rows = _csv(client.get("/dashboard/exports/listeners.csv"))
    assert [int(r[0]) for r in rows[1:]] == made


def test_a_sheet_full_continues_on_the_next_one(app, client, make_listener, make_user, monkeypatch):
    monkeypatch.setattr(exports, "XLSX_MAX_ROWS", 3)
    for n in range(5):
        make_listener(name=f"P{n}")
    db.session.commit()
    sign_in(client, make_user(Role.VIEWER))
    book = load_workbook(io.BytesIO(client.get("/dashboard/exports/listeners.xlsx").get_data()), read_only=True)
    names = [[r[2] for r in sheet.iter_rows(values_only=True)] for sheet in book.worksheets]
    assert names == [["Nom", "P0", "P1"], ["Nom", "P2", "P3"], ["Nom", "P4"]]


def test_an_empty_export_has_its_header_row(client, make_user):
    sign_in(client, _agent(make_user, "Sikasso"))
    assert _xlsx(client.get("/dashboard/exports/listeners.xlsx")) == [HEADER]
    assert _csv(client.get("/dashboard/exports/listeners.csv")) == [HEADER]


def test_the_completion_matrix_export(backend, client, people, make_user):
    sign_in(client, make_user(Role.MANAGER))
    rows = _csv(client.get("/dashboard/exports/completion.csv?course=child-labour"))
    assert rows == [
        ["Village", "Auditeurs", "1. Qu'est-ce que le travail des enfants ?", "1. %"],
        ["Kaniko", "3", "2", "67"],
        ["Kolondiéba", "1", "1", "100"],
        ["Toute ma zone", "4", "3", "75"],
    ]
    sheet = _xlsx(client.get("/dashboard/exports/completion.xlsx?course=child-labour&by=group"))
    assert sheet[1:] == [["Agri", 1, 1, 1], ["Femmes", 2, 2, 1]]


@pytest.mark.parametrize(
    "query, answers",
    [
        ("", ["@SUM(1)", "1", "2"]),  # by answer id: Awa's two, in the order recorded, then Ems's
        (f"?lesson={LESSON}", ["@SUM(1)", "2", "1"]),
        ("?lesson=money", []),
        ("?start=2026-11-24", ["@SUM(1)", "1"]),
        ("?end=2026-11-23", ["2"]),
        ("?start=2026-11-20&end=2026-11-20", ["2"]),
    ],
)
def test_the_quiz_answers_export_and_its_filters(backend, client, people, make_user, query, answers):
    sign_in(client, make_user(Role.MANAGER))
    rows = _csv(client.get("/dashboard/exports/answers.csv" + query))
    assert rows[0][:3] == ["Date", "Numéro de l'auditeur", "Téléphone"]
    given = [r[8].removeprefix("'") if r[8].startswith("'@") else r[8] for r in rows[1:]]
    assert sorted(given) == sorted(answers)
    if query == "":
        assert rows[1][2:] == ["+22376000001", "'=Awa", "Kaniko", "child-labour", "what-is-child-labour", "q1",
                               "'@SUM(1)", "'@", "0", "1", "2", "sms"]  # fmt: skip


def test_an_agent_exports_the_answers_of_their_scope_only(client, people, make_user):
    sign_in(client, _agent(make_user, "Kolondiéba"))
    rows = _xlsx(client.get("/dashboard/exports/answers.xlsx"))
    assert [(r[3], r[8]) for r in rows[1:]] == [("Ems", "1")]


def test_the_answers_form_shows_a_wrong_date_next_to_its_field(client, make_user):
    sign_in(client, make_user(Role.MANAGER))
    assert client.get("/dashboard/exports/answers").status_code == 200
    wrong = client.get("/dashboard/exports/answers?start=2026-11-24&end=2026-11-01&fmt=csv")
    page = html.unescape(wrong.get_data(as_text=True))
    assert wrong.status_code == 400
    assert 'class="field has-error"' in page and "La date de fin est avant la date de début." in page
    good = client.get(f"/dashboard/exports/answers?lesson={LESSON}&start=2026-11-01&fmt=csv")
    assert good.status_code == 302
    assert good.headers["Location"] == f"/dashboard/exports/answers.csv?lesson={LESSON}&start=2026-11-01"
    bad_link = client.get("/dashboard/exports/answers.xlsx?start=24/11")
    assert bad_link.status_code == 302 and "/dashboard/exports/answers?" in bad_link.headers["Location"]
    assert db.session.scalar(select(AuditEvent.id).where(AuditEvent.action == "export")) is None


# --- who may download what --------------------------------------------------------------------------------

URLS = {
    "listeners_village": "/dashboard/exports/listeners.csv?village=Kaniko",
    "listeners_all": "/dashboard/exports/listeners.xlsx",
    "completion": "/dashboard/exports/completion.csv",
    "answers": "/dashboard/exports/answers.csv",
    "answers_form": "/dashboard/exports/answers",
    "wrong_format": "/dashboard/exports/listeners.pdf",
}
ALL = {"listeners_village": 200, "listeners_all": 200, "completion": 200, "answers": 200, "answers_form": 200,
       "wrong_format": 404}  # fmt: skip
EXPECTED = {
    "admin": ALL,
    "manager": ALL,
    "viewer": ALL,
    "agent_in": ALL,
    "agent_out": {**ALL, "listeners_village": 404},
    "anonymous": dict.fromkeys(URLS, 302),
}
# the names each user finds in the files (never another agent's listeners)
EVERYONE = {"=Awa", "Bintou", "-Coumba", "Ems"}
NAMES = {"admin": EVERYONE, "manager": EVERYONE, "viewer": EVERYONE, "agent_in": EVERYONE - {"Ems"},
         "agent_out": set(), "anonymous": set()}  # fmt: skip


@pytest.mark.parametrize("who", list(EXPECTED))
def test_role_export_scope_matrix(backend, app, people, make_user, who):
    client = app.test_client()
    if who != "anonymous":
        role = Role.AGENT if who.startswith("agent") else Role(who)
        place = {"agent_in": "Kaniko", "agent_out": "Sikasso"}.get(who)
        sign_in(client, make_user(role, scopes=[(ScopeKind.VILLAGE, place)] if place else []))
    for name, url in URLS.items():
        answer = client.get(url, buffered=True)
        assert answer.status_code == EXPECTED[who][name], (who, name)
        if name == "listeners_all" and answer.status_code == 200:
            found = {r[2] for r in _xlsx(answer)[1:]}
            assert found == NAMES[who], who
        if name == "answers" and answer.status_code == 200:
            found = {r[3].removeprefix("'") for r in _csv(answer)[1:]}
            assert found == NAMES[who] & {"=Awa", "Ems"}, who
    exported = db.session.scalars(select(AuditEvent.target).where(AuditEvent.action == "export")).all()
    expected = {"anonymous": []}.get(who)
    if expected is None:
        expected = ["export:listeners", "export:completion", "export:answers"]
        if who != "agent_out":
            expected.insert(0, "export:listeners")
    assert sorted(exported) == sorted(expected)


def test_a_phone_searched_is_masked_in_the_audit_log(client, people, make_user):
    sign_in(client, make_user(Role.MANAGER))
    rows = _csv(client.get("/dashboard/exports/listeners.csv?q=76 00 00 01"))
    assert [r[1] for r in rows[1:]] == ["+22376000001"]
    detail = db.session.scalars(select(AuditEvent.detail).where(AuditEvent.action == "export")).one()
    assert detail == {"fmt": "csv", "filter": {"q": "76 00 ** **"}}
