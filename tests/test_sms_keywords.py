"""The keyword router and the answer parser: tables of texts, and properties on arbitrary Unicode."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from content.model import Option
from engine import parse_choice
from sms.keywords import Command, KeywordError, Keywords

KEYWORDS = Keywords.from_file(opt_out_word_bm="BANNI", opt_in_word_bm="SEGINNI")


@pytest.mark.parametrize(
    ("text", "action", "language", "args"),
    [
        ("STOP", "stop", None, ()),
        ("stop.", "stop", None, ()),
        ("ARRET", "stop", "fr", ()),
        ("ARRÊT", "stop", "fr", ()),
        ("  arrêt !!", "stop", "fr", ()),
        ("Banni", "stop", "bm", ()),
        ("SEGINNI", "start", "bm", ()),
        ("START", "start", None, ()),
        ("Reprendre", "start", "fr", ()),
        ("QUIZ", "quiz", "fr", ()),
        ("quiz 2", "quiz", "fr", ("2",)),
        ("KALAN", "quiz", "bm", ()),
        ("kalan money", "quiz", "bm", ("money",)),
        ("AIDE", "help", "fr", ()),
        ("HELP", "help", None, ()),
        ("DƐMƐ", "help", "bm", ()),
        ("dɛmɛ", "help", "bm", ()),
        ("Dèmè", "help", "bm", ()),
        ("LANGUE", "language", "fr", ()),
        ("langue bm", "language", "fr", ("bm",)),
        ("KAN", "language", "bm", ()),
        ("Kan FR", "language", "bm", ("fr",)),
        ("PROGRES", "progress", "fr", ()),
        ("Progrès", "progress", "fr", ()),
        ("TAASIRA", "progress", "bm", ()),
    ],
)
def test_keywords_are_read_from_the_first_word_in_both_languages(text, action, language, args):
    assert KEYWORDS.route(text) == Command(action, language, args)


@pytest.mark.parametrize("text", ["", "   ", "2", "b", "5 000 francs", "je veux STOP", "Ɔwɔ", "stopper", "?!"])
def test_other_texts_are_no_keyword(text):
    assert KEYWORDS.route(text) is None


def test_the_bambara_opt_out_and_opt_in_words_are_configurable():
    table = Keywords.from_file(opt_out_word_bm="Ban", opt_in_word_bm="Segin")
    assert table.route("BAN") == Command("stop", "bm", ())
    assert table.route("segin") == Command("start", "bm", ())
    assert table.route("Banni") is None and table.route("Dabila") is None


@pytest.mark.parametrize(
    ("word", "language"),
    [
        ("1", "bm"),
        ("2", "fr"),
        ("BM", "bm"),
        ("bambara", "bm"),
        ("Bamanankan", "bm"),
        ("fr", "fr"),
        ("Français", "fr"),
        ("tubabukan", "fr"),
        ("3", None),
        ("", None),
        ("en", None),
    ],
)
def test_the_words_after_langue_choose_a_language_as_the_voice_line_does(word, language):
    assert KEYWORDS.language_of(word) == language


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "expected a mapping"),
        ({"stop": {"fr": ["STOP"]}, "fly": {"fr": ["X"]}}, "unknown action 'fly'"),
        ({"stop": {"xx": ["STOP"]}}, "expected a list under any, fr or bm"),
        ({"stop": {"fr": ["STOP"]}, "help": {"fr": ["stop"]}}, "keyword of both stop and help"),
        ({"stop": {"fr": ["two words"]}}, "is not one word"),
        ({"stop": {"fr": ["STOP"]}}, "no keyword for start, quiz"),
        ({"stop": {"fr": ["STOP"]}, "languages": {"bm": ["1"], "fr": ["1"]}}, "'1' chooses both bm and fr"),
        ({"stop": {"fr": ["STOP"]}, "languages": {"en": ["EN"]}}, "expected a list under fr or bm"),
    ],
)
def test_a_bad_keyword_table_is_refused_with_the_reason(data, message):
    with pytest.raises(KeywordError, match=message):
        Keywords.from_mapping(data)


def test_a_bad_keywords_file_stops_the_start_naming_the_setting(tmp_path):
    from app import create_app
    from core.config import ConfigError
    from tests.conftest import BASE_CONFIG

    bad = tmp_path / "keywords.yaml"
    bad.write_text("stop: {fr: [STOP]}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="SMS_KEYWORDS_FILE"):
        create_app({**BASE_CONFIG, "DATABASE_URL": "sqlite://", "SMS_KEYWORDS_FILE": str(bad)})


@given(st.text(max_size=200))
def test_the_keyword_router_never_raises(text):
    command = KEYWORDS.route(text)
    assert command is None or command.action in {"stop", "start", "quiz", "help", "language", "progress", "suivi"}


OPTIONS = (
    Option("1", {"fr": "500 francs", "bm": "dɔrɔmɛ kɛmɛ"}, False),
    Option("2", {"fr": "5 000 francs", "bm": "dɔrɔmɛ waa kelen"}, True),
    Option("3", {"fr": "50 000 francs", "bm": "dɔrɔmɛ waa tan"}, False),
)


@given(st.text(max_size=200))
def test_the_answer_parser_never_raises(text):
    assert parse_choice(text, OPTIONS) in (None, *OPTIONS)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("2", "2"),
        (" 2. ", "2"),
        ("b", "2"),
        ("B!", "2"),
        ("5000 francs", "2"),
        ("5 000 FRANCS", "2"),
        ("dɔrɔmɛ waa kelen", "2"),
        ("doromè waa kelen", "2"),
        ("dorome waa tan", "3"),
        ("c", "3"),
        ("4", None),
        ("francs", None),
        ("", None),
    ],
)
def test_sms_answers_as_digit_letter_or_words(text, key):
    chosen = parse_choice(text, OPTIONS)
    assert (chosen.key if chosen else None) == key
