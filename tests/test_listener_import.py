"""``flask listeners import``: bad rows reported with their line numbers; nothing half-imported."""

from __future__ import annotations

from sqlalchemy import func, select

from core.db import db
from listeners.importer import import_listeners
from listeners.models import Group, Listener
from tests.conftest import NOW

GOOD = """phone,name,language,village,commune,region,groups
76 12 34 56,Awa Traoré,bm,Kaniko,Koutiala,Sikasso,coop-koutiala;femmes
0022366001122,Moussa Diarra,Français,Kéniéba,Kéniéba,Kayes,orpailleurs
+22350112233,Seydou Coulibaly,,Molobala,Koutiala,Sikasso,coop-koutiala
"""


def test_good_file_imports_everyone_with_groups(app):
    report = import_listeners(GOOD, NOW)
    assert report.ok and (report.created, report.updated) == (3, 0)
    awa = db.session.scalars(select(Listener).filter_by(phone="+22376123456")).one()
    assert (awa.name, awa.language, awa.village, awa.region) == ("Awa Traoré", "bm", "Kaniko", "Sikasso")
    assert sorted(g.name for g in awa.groups) == ["coop-koutiala", "femmes"]
    assert awa.consent_channel == "import" and awa.created_at == NOW
    moussa = db.session.scalars(select(Listener).filter_by(phone="+22366001122")).one()
    assert moussa.language == "fr"
    assert db.session.scalar(select(func.count()).select_from(Group)) == 3


def test_bad_rows_are_reported_by_line_and_nothing_is_imported(app):
    text = GOOD + "hello,Bad Phone,fr,,,,\n76 12 34 56,Awa again,bm,,,,\n70 00 00 01,X,english,,,,\n"
    report = import_listeners(text, NOW)
    assert not report.imported
    assert report.errors == [
        "line 5: not a phone number: 'hello' (only digits, spaces, + ( ) . - /)",
        "line 6: the same phone number as line 2",
        "line 7: language must be bm or fr (or empty), got 'english'",
    ]
    assert db.session.scalar(select(func.count()).select_from(Listener)) == 0


def test_partial_import_keeps_the_good_rows(app):
    report = import_listeners(GOOD + "12,short,fr,,,,\n", NOW, partial=True)
    assert report.imported and report.created == 3 and len(report.errors) == 1
    assert report.errors[0].startswith("line 5: not a valid phone number")


def test_existing_listeners_are_updated_not_duplicated(make_listener):
    make_listener(phone="+22376123456", name="", language=None)
    report = import_listeners(GOOD, NOW)
    assert (report.created, report.updated) == (2, 1)
    assert db.session.scalar(select(func.count()).select_from(Listener)) == 3


def test_header_problems(app):
    assert import_listeners("name,language\nAwa,bm\n", NOW).errors[0].startswith("line 1: the header must name")
    assert "unknown column(s) age" in import_listeners("phone,age\n76123456,30\n", NOW).errors[0]


def test_cli_import(runner, tmp_path):
    good = tmp_path / "good.csv"
    good.write_text(GOOD, encoding="utf-8")
    result = runner.invoke(args=["listeners", "import", str(good)])
    assert result.exit_code == 0, result.output
    assert "Imported: 3 new, 0 updated, 0 bad row(s) skipped." in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("phone\n76 12 34 56\nnope\n", encoding="utf-8")
    result = runner.invoke(args=["listeners", "import", str(bad)])
    assert result.exit_code == 1
    assert "bad.csv: line 3: not a phone number" in result.output
    assert "Nothing imported: 1 bad row(s)" in result.output
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("phone,name\n76123457,Kéniéba\n".encode("latin-1"))
    result = runner.invoke(args=["listeners", "import", str(latin1)])
    assert result.exit_code == 1 and "not UTF-8 text" in result.output
