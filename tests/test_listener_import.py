"""The CSV importer (``flask listeners import`` and the dashboard's import page): separators, encodings, bad rows
reported by line with nothing half-imported, a language chosen by phone never overwritten, consent recorded."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.db import db
from listeners.importer import decode, import_listeners, sniff_separator
from listeners.models import ConsentEvent, Group, Listener
from tests.conftest import NOW

GOOD = """phone,name,language,village,commune,region,groups
76 12 34 56,Awa Traoré,bm,Kaniko,Koutiala,Sikasso,coop-koutiala;femmes
0022366001122,Moussa Diarra,Français,Kéniéba,Kéniéba,Kayes,orpailleurs
+22350112233,Seydou Coulibaly,,Molobala,Koutiala,Sikasso,coop-koutiala
"""
# the same file as Excel in French saves it: ";" between cells, "CSV UTF-8" with its byte-order mark, CRLF
EXCEL_FR = "\ufeff" + GOOD.replace(",", ";").replace("coop-koutiala;femmes", '"coop-koutiala;femmes"').replace(
    "\n", "\r\n"
)


def _listener(phone: str) -> Listener:
    return db.session.scalars(select(Listener).filter_by(phone=phone)).one()


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize("text", [GOOD, EXCEL_FR], ids=["comma", "excel-fr"])
def test_good_file_imports_everyone_with_groups_and_consent(backend, app, text):
    report = import_listeners(text, NOW, by=7)
    assert report.ok and (report.created, report.updated, report.groups_created) == (3, 0, 3)
    awa = _listener("+22376123456")
    assert (awa.name, awa.language, awa.language_set_by) == ("Awa Traoré", "bm", "import")
    assert (awa.village, awa.commune, awa.region) == ("Kaniko", "Koutiala", "Sikasso")
    assert sorted(g.name for g in awa.groups) == ["coop-koutiala", "femmes"]
    assert (awa.consent_channel, awa.consent_at, awa.created_at) == ("import", NOW, NOW)
    assert (_listener("+22366001122").language, _listener("+22350112233").language) == ("fr", None)
    assert _listener("+22350112233").language_set_by == ""  # no language given: nobody set one
    events = db.session.execute(select(ConsentEvent.action, ConsentEvent.channel, ConsentEvent.user_id)).all()
    assert sorted(events) == [("consent", "import", 7)] * 3
    assert _count(Group) == 3
    assert report.listener_ids == sorted(listener.id for listener in db.session.scalars(select(Listener)))


@pytest.mark.parametrize(
    ("data", "text", "encoding"),
    [
        ("phone,name\n76123457,Kéniéba\n".encode(), "phone,name\n76123457,Kéniéba\n", "utf-8"),
        (b"\xef\xbb\xbfphone;name\r\n", "phone;name\r\n", "utf-8"),  # Excel "CSV UTF-8"
        ("phone;name\n76123457;Kéniéba\n".encode("cp1252"), "phone;name\n76123457;Kéniéba\n", "cp1252"),
        ("phone;name\n1;Sɛgu\n".encode(), "phone;name\n1;Sɛgu\n", "utf-8"),
    ],
)
def test_files_are_read_as_utf8_else_windows_1252(data, text, encoding):
    assert decode(data) == (text, encoding)


@pytest.mark.parametrize("data", ["phone\n7612".encode("utf-16"), b"\x81\x8d\x8f\x90\x9d"])
def test_what_is_not_text_is_refused(data):
    with pytest.raises(ValueError, match="not_text"):
        decode(data)


@pytest.mark.parametrize(
    ("header", "separator"),
    [("phone,name", ","), ("phone;name;village", ";"), ("phone", ","), ('"a,b";c;d', ";"), ("\ufeffphone;name", ";")],
)
def test_the_separator_is_found_from_the_header(header, separator):
    assert sniff_separator(header + "\n1,2;3\n") == separator


def test_bad_rows_are_reported_by_line_and_nothing_is_imported(backend, app):
    text = GOOD + "hello,Bad Phone,fr,,,,\n76 12 34 56,Awa again,bm,,,,\n70 00 00 01,X,english,,,,\n,Nobody,fr,,,,\n"
    text += "70 00 00 02,X,fr,,,,,extra\n\n"
    report = import_listeners(text, NOW)
    assert not report.imported and report.bad_lines == 5 and report.rows == 8
    assert [str(e) for e in report.errors] == [
        "line 5: not a phone number: 'hello' (only digits, spaces, + ( ) . - /)",
        "line 6: the same phone number as line 2",
        "line 7: language must be bm or fr (or empty), got 'english'",
        "line 8: no phone number",
        "line 9: more values than columns",
    ]
    assert [(e.line, e.code) for e in report.errors][:2] == [(5, "phone_invalid"), (6, "duplicate")]
    assert (_count(Listener), _count(Group), _count(ConsentEvent)) == (0, 0, 0)


def test_partial_import_keeps_the_good_rows(app):
    report = import_listeners(GOOD + "12,short,fr,,,,\n", NOW, partial=True)
    assert report.imported and report.created == 3 and len(report.errors) == 1
    assert str(report.errors[0]).startswith("line 5: not a valid phone number")
    assert _count(Listener) == 3


def test_a_language_chosen_by_phone_is_never_overwritten(backend, app, make_listener):
    by_voice = make_listener(phone="+22376123456", language="fr", language_set_by="voice")
    by_sms = make_listener(phone="+22366001122", language="bm", language_set_by="sms")
    by_agent = make_listener(phone="+22350112233", language="bm", language_set_by="user:3", name="Seydou C.")
    text = "phone;language;name\n76123456;bm;Awa\n66001122;bm;\n50112233;fr;\n"
    report = import_listeners(text, NOW)
    assert (report.created, report.updated, report.language_kept) == (0, 3, 1)
    assert (by_voice.language, by_voice.language_set_by, by_voice.name) == ("fr", "voice", "Awa")
    assert (by_sms.language, by_sms.language_set_by) == ("bm", "sms")
    assert (by_agent.language, by_agent.language_set_by, by_agent.name) == ("fr", "import", "Seydou C.")
    assert _count(ConsentEvent) == 0  # nobody new: no consent recorded for them


def test_empty_cells_change_nothing(app, make_listener):
    awa = make_listener(phone="+22376123456", name="Awa", village="Kaniko", language="bm", language_set_by="user:1")
    report = import_listeners("phone,name,village,language,groups\n76123456,,,,\n", NOW)
    assert report.ok and report.updated == 1
    assert (awa.name, awa.village, awa.language, awa.language_set_by) == ("Awa", "Kaniko", "bm", "user:1")


def test_groups_are_found_without_case_and_created_once(app):
    db.session.add(Group(name="Femmes", created_at=NOW))
    db.session.flush()
    report = import_listeners("phone,groups\n76123456,femmes|Orpailleurs\n66001122,FEMMES;orpailleurs\n", NOW)
    assert report.ok and report.groups_created == 1
    assert sorted(g.name for g in db.session.scalars(select(Group))) == ["Femmes", "Orpailleurs"]
    assert sorted(g.name for g in _listener("+22366001122").groups) == ["Femmes", "Orpailleurs"]


def test_existing_listeners_are_updated_not_duplicated(make_listener):
    make_listener(phone="+22376123456", name="", language=None)
    report = import_listeners(GOOD, NOW)
    assert (report.created, report.updated) == (2, 1)
    assert _count(Listener) == 3


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("name,language\nAwa,bm\n", "line 1: the header must name a 'phone' column"),
        ("phone,age\n76123456,30\n", "line 1: unknown column(s) age"),
        ("", "line 1: the file is empty"),
        ("\ufeff\r\n", "line 1: the file is empty"),
    ],
)
def test_header_problems(app, text, error):
    report = import_listeners(text, NOW)
    assert not report.imported and str(report.errors[0]).startswith(error)


def test_cli_import(runner, tmp_path):
    good = tmp_path / "good.csv"
    good.write_bytes(EXCEL_FR.encode("utf-8"))
    result = runner.invoke(args=["listeners", "import", str(good)])
    assert result.exit_code == 0, result.output
    assert "Imported: 3 new, 0 updated, 0 bad row(s) skipped." in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("phone\n76 12 34 56\nnope\n", encoding="utf-8")
    result = runner.invoke(args=["listeners", "import", str(bad)])
    assert result.exit_code == 1
    assert "bad.csv: line 3: not a phone number" in result.output
    assert "Nothing imported: 1 bad row(s)" in result.output
    result = runner.invoke(args=["listeners", "import", "--partial", str(bad)])
    assert result.exit_code == 0 and "Imported: 0 new, 1 updated, 1 bad row(s) skipped." in result.output
    windows = tmp_path / "windows.csv"
    windows.write_bytes("phone;name;language\n76123457;Kéniéba;bm\n76123456;Awa;fr\n".encode("cp1252"))
    result = runner.invoke(args=["listeners", "import", str(windows)])
    assert result.exit_code == 0, result.output
    assert "read as Windows-1252" in result.output
    assert _listener("+22376123457").name == "Kéniéba"
    utf16 = tmp_path / "utf16.csv"
    utf16.write_bytes("phone\n76123456\n".encode("utf-16"))
    result = runner.invoke(args=["listeners", "import", str(utf16)])
    assert result.exit_code == 1 and "the file is not text (save it as CSV UTF-8)" in result.output
