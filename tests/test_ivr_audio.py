"""Recordings under a stable URL with cache headers; the fallback chain (never silence); the fallback counts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from content.model import LANGUAGES
from core.db import db
from ivr import menu
from ivr.audio import fallback_counts, transliterate_for_tts
from ivr.prompts import expected_prompt_recordings, load_prompts, prompt, prompts_to_review
from tests import voice_support as w
from tests.conftest import NOW

WAV = b"RIFF\x24\x00\x00\x00WAVEfmt "


@pytest.fixture
def audio_dir(app, tmp_path):
    (tmp_path / "fr" / "prompts").mkdir(parents=True)
    (tmp_path / "bm" / "prompts").mkdir(parents=True)
    (tmp_path / "fr" / "prompts" / "language-menu.wav").write_bytes(WAV)
    (tmp_path / "fr" / "prompts" / "menu-main.mp3").write_bytes(b"ID3fake")
    (tmp_path / "bm" / "prompts" / "language-menu.wav").write_bytes(WAV)
    (tmp_path / "secret.txt").write_text("not audio")
    app.config["KALANSO_AUDIO_DIR"] = tmp_path
    return tmp_path


def test_a_recording_is_served_with_cache_headers(client, audio_dir):
    with client.get("/audio/fr/prompts/language-menu.wav") as response:
        assert response.status_code == 200
        assert response.mimetype == "audio/wav"
        assert response.data == WAV
        assert "max-age=604800" in response.headers["Cache-Control"]
        assert response.headers.get("ETag") or response.headers.get("Last-Modified")
    with client.get("/audio/fr/prompts/menu-main.mp3") as response:
        assert response.mimetype == "audio/mpeg"


@pytest.mark.parametrize(
    "path",
    [
        "/audio/fr/prompts/language-menu.mp3",  # exists only as .wav
        "/audio/fr/prompts/missing.wav",
        "/audio/xx/prompts/language-menu.wav",
        "/audio/fr/../secret.txt",
        "/audio/fr/..%2Fsecret.txt",
        "/audio/fr/prompts/../../secret.txt",
        "/audio/fr/%2E%2E/%2E%2E/secret.txt",
        "/audio/fr/secret.txt",
    ],
)
def test_no_path_traversal_and_no_guessing(path, client, audio_dir):
    with client.get(path) as response:
        assert response.status_code == 404


def test_recordings_are_played_from_absolute_urls_and_the_rest_falls_back(client, audio_dir, clock):
    body = w.post_twilio(client, "/ivr/twilio/voice", w.twilio_call()).get_data(as_text=True)
    assert (
        f"<Play>{w.BASE}/audio/bm/prompts/language-menu.wav</Play><Play>{w.BASE}/audio/fr/prompts/language-menu.wav</Play>"
        in body
    )
    body = w.post_twilio(client, "/ivr/twilio/voice?ev=gather", w.twilio_gather("2")).get_data(as_text=True)
    set_fr = prompt("language-set").text("fr")
    assert (
        f'<Say language="fr-FR" voice="Polly.Lea">{set_fr}</Say><Play>{w.BASE}/audio/fr/prompts/menu-main.mp3</Play>'
        in body
    )
    assert fallback_counts() == [("fr", "prompts/language-set", 1, NOW)]


def test_bambara_without_recording_on_at_plays_the_french_recording_else_says_it(client, audio_dir, clock):
    client.post(w.AT_URL, data=w.at_call())
    body = client.post(w.AT_URL + "?ev=digits", data=w.at_call(dtmfDigits="1")).get_data(as_text=True)
    set_bm = transliterate_for_tts(prompt("language-set").text("bm"))
    # language-set: no recording in either language -> <Say>; menu-main: the French recording of the same prompt
    assert f'<Say voice="woman">{set_bm}</Say><Play url="{w.BASE}/audio/fr/prompts/menu-main.mp3" />' in body
    assert fallback_counts("bm") == [("bm", "prompts/language-set", 1, NOW), ("bm", "prompts/menu-main", 1, NOW)]


def test_fallbacks_are_counted_most_needed_first(client, clock):
    w.post_twilio(client, "/ivr/twilio/voice", w.twilio_call())
    w.post_twilio(client, "/ivr/twilio/voice?ev=gather", w.twilio_gather("7"))  # invalid: the menu again
    counts = fallback_counts()
    assert counts[:2] == [("bm", "prompts/language-menu", 2, NOW), ("fr", "prompts/language-menu", 2, NOW)]
    assert ("fr", "prompts/invalid-key", 1, NOW) in counts
    db.session.commit()


def test_transliteration_for_a_french_voice():
    assert transliterate_for_tts("Ɲɛ ɔ ŋ ɲɔgɔn Ɛ Ɔ Ŋ") == "Gnè ò ng gnògòn È Ò Ng"


def test_expected_prompt_recordings_excludes_templates():
    stems = expected_prompt_recordings("bm")
    assert "prompts/language-menu" in stems and "prompts/goodbye" in stems
    assert "prompts/progress" not in stems and "prompts/lesson-score" not in stems


NEW_PROMPTS = ("opt-out-confirm", "chunk-cue", "lesson-end-next", "lesson-end-next-course", "lesson-end-keys",
               "lesson-done-mark")  # fmt: skip


def test_the_new_prompts_are_recorded_in_french_and_reported_missing_in_bambara():
    """``flask content audio`` generates French for every non-template prompt; the check lists Bambara gaps."""
    for lang in LANGUAGES:
        stems = expected_prompt_recordings(lang)
        assert {f"prompts/{key}" for key in NEW_PROMPTS} <= set(stems)


def test_unreviewed_bambara_prompts_are_listed_for_a_native_reader():
    to_review = prompts_to_review("bm")
    assert set(NEW_PROMPTS) <= set(to_review)
    assert set(to_review) == set(load_prompts())  # no Bambara prompt has been checked by a native reader yet


def test_every_prompt_the_menus_say_exists():
    source = Path(menu.__file__).read_text(encoding="utf-8")
    keys = set(re.findall(r'Prompt\("([a-z0-9-]+)"', source)) | {f"press-{n}" for n in range(1, menu.MAX_CHOICES + 1)}
    assert keys - set(load_prompts()) == set()


@pytest.mark.parametrize(
    ("yaml_text", "error"),
    [
        ("a: {fr: 'Oui', bm: 'Ɔwɔ', review: {bm: done}}", "prompt 'a': review {'bm': 'done'}"),
        ("a: {fr: 'Oui', bm: 'Ɔwɔ', review: {en: reviewed}}", "prompt 'a': review {'en': 'reviewed'}"),
        ("a: {fr: 'Oui', bm: 'Ɔwɔ', note: 'x'}", "prompt 'a': unknown key(s) note"),
        ("a: {fr: 'Oui'}", "prompt 'a' has no text in bm"),
    ],
)
def test_a_bad_prompts_file_is_refused_with_its_reason(tmp_path, yaml_text, error):
    path = tmp_path / "prompts.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(error)):
        load_prompts(path)


def test_a_reviewed_mark_takes_a_prompt_off_the_list(tmp_path):
    path = tmp_path / "prompts.yaml"
    path.write_text("a: {fr: 'Oui', bm: 'Ɔwɔ', review: {bm: reviewed}}\nb: {fr: 'Non', bm: 'Ayi'}\n", "utf-8")
    assert (prompts_to_review("bm", path), prompts_to_review("fr", path)) == (("b",), ("a", "b"))
