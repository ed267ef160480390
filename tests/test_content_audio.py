"""French audio generation (eSpeak NG), where recordings are found, coverage, and contact settings."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import pytest

from content.audio import coverage
from content.contacts import contacts_sentence, fill
from content.loader import COURSES_DIR, load_catalog, read_courses
from content.recordings import find_recording
from content.tts import SAMPLE_RATE, EspeakNG, generate, generated_dir, read_manifest, wav_bytes
from core.config import ConfigError, load_settings
from ivr.prompts import expected_prompt_recordings, is_template, load_prompts, prompt_stem
from tests.conftest import BASE_CONFIG, make_app

TINY = """
id: tiny
topic: money
title: {fr: "Petit cours", bm: "Kalan fitinin"}
lessons:
  - id: one
    title: {fr: "Une leçon", bm: "Kalan kelen"}
    items:
      - id: hello
        type: chunk
        text: {fr: "Bonjour. Mettez 500 francs de côté.", bm: "I ni sɔgɔma. Dɔrɔmɛ kɛmɛ mara."}
      - id: ask
        type: question
        text: {fr: "Est-ce facile ? Pour oui, tapez 1. Pour non, tapez 2.", bm: "A ka nɔgɔn wa? 1 walima 2."}
        options:
          - text: {fr: "Oui", bm: "Ɔwɔ"}
            correct: true
          - text: {fr: "Non", bm: "Ayi"}
        feedback:
          correct: {fr: "Oui.", bm: "Ɔwɔ."}
          wrong: {fr: "Si, c'est facile.", bm: "A ka nɔgɔn."}
"""

TINY_STEMS = [
    "tiny/title",
    "tiny/one/title",
    "tiny/one/hello",
    "tiny/one/ask",
    "tiny/one/ask-correct",
    "tiny/one/ask-wrong",
]


class FakeSynth:
    """Counts what it is asked to say; returns a real (silent) WAV."""

    voice_id = "fake:1"

    def __init__(self):
        self.said: list[str] = []

    def synthesize(self, text: str, lang: str) -> bytes:
        import array

        self.said.append(text)
        return wav_bytes(array.array("h", [0] * 160), SAMPLE_RATE)


@pytest.fixture
def tiny(tmp_path) -> Path:
    folder = tmp_path / "courses"
    folder.mkdir()
    (folder / "tiny.yaml").write_text(TINY, encoding="utf-8")
    return folder


def test_espeak_speaks_french_as_mono_16khz_pcm():
    data = EspeakNG().synthesize("Bonjour. Avant quinze ans, l'enfant va à l'école.", "fr")
    with wave.open(io.BytesIO(data)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 16_000)
        frames = wav.readframes(wav.getnframes())
        seconds = wav.getnframes() / wav.getframerate()
    assert 1.5 < seconds < 10, seconds  # a short sentence, spoken
    loudest = max(abs(int.from_bytes(frames[i : i + 2], "little", signed=True)) for i in range(0, len(frames), 2))
    assert loudest > 2000, "the audio is silent"


def test_espeak_has_no_bambara_voice():
    with pytest.raises(ValueError, match="no synthetic voice"):
        EspeakNG().synthesize("I ni ce", "bm")


def test_generate_makes_every_french_file_once_and_only_what_changed(tiny, tmp_path):
    audio = tmp_path / "audio"
    catalog = load_catalog(tiny)
    synth = FakeSynth()
    report = generate(catalog, audio, "fr", synth)
    assert report.made == TINY_STEMS and not report.unchanged
    for stem in TINY_STEMS:
        assert find_recording(audio, "fr", stem) == generated_dir(audio, "fr") / f"{stem}.wav"
    assert synth.said[2] == "Bonjour. Mettez 500 francs de côté."

    again = generate(catalog, audio, "fr", synth)  # nothing changed: nothing synthesised
    assert again.made == [] and again.unchanged == TINY_STEMS and len(synth.said) == 6

    (tiny / "tiny.yaml").write_text(TINY.replace("Mettez 500 francs", "Mettez 1 000 francs"), encoding="utf-8")
    changed = generate(load_catalog(tiny), audio, "fr", synth)
    assert changed.made == ["tiny/one/hello"] and synth.said[-1] == "Bonjour. Mettez 1 000 francs de côté."


def test_a_persons_recording_wins_and_is_not_generated(tiny, tmp_path):
    audio = tmp_path / "audio"
    recorded = audio / "fr" / "tiny" / "one" / "hello.mp3"
    recorded.parent.mkdir(parents=True)
    recorded.write_bytes(b"ID3")
    generate(load_catalog(tiny), audio, "fr", FakeSynth())
    assert find_recording(audio, "fr", "tiny/one/hello") == recorded
    assert not (generated_dir(audio, "fr") / "tiny" / "one" / "hello.wav").exists()
    fr = next(c for c in coverage(load_catalog(tiny), audio) if c.language == "fr")
    assert fr.recorded == {"tiny/one/hello"} and fr.generated == set(TINY_STEMS) - {"tiny/one/hello"}
    assert fr.percent == 100.0 and fr.missing == ()


def test_files_no_text_uses_any_more_are_removed(tiny, tmp_path):
    audio = tmp_path / "audio"
    generate(load_catalog(tiny), audio, "fr", FakeSynth())
    (tiny / "tiny.yaml").write_text(TINY.replace("id: hello", "id: welcome"), encoding="utf-8")
    report = generate(load_catalog(tiny), audio, "fr", FakeSynth())
    assert report.removed == ["tiny/one/hello"] and report.made == ["tiny/one/welcome"]
    assert find_recording(audio, "fr", "tiny/one/hello") is None
    assert "tiny/one/hello" not in read_manifest(generated_dir(audio, "fr"))


def test_outdated_generated_files_are_reported(tiny, tmp_path):
    audio = tmp_path / "audio"
    generate(load_catalog(tiny), audio, "fr", EspeakNG())
    (tiny / "tiny.yaml").write_text(TINY.replace("Oui.", "Oui, bravo."), encoding="utf-8")
    fr = next(c for c in coverage(load_catalog(tiny), audio) if c.language == "fr")
    assert fr.outdated == {"tiny/one/ask-correct"} and fr.percent == 100.0


def test_shipped_courses_reach_full_french_coverage_and_list_every_missing_bambara_recording(runner, tmp_path):
    audio = tmp_path / "audio"
    catalog = load_catalog(COURSES_DIR)
    prompts = {prompt_stem(k): v.text("fr") for k, v in load_prompts().items() if not is_template(k)}
    generate(catalog, audio, "fr", FakeSynth(), extra=prompts)
    by_lang = {c.language: c for c in coverage(catalog, audio)}
    assert by_lang["fr"].percent == 100.0 and not by_lang["fr"].recorded
    assert by_lang["bm"].present == frozenset() and by_lang["bm"].missing == by_lang["bm"].expected
    assert len(by_lang["fr"].expected) > 150

    result = runner.invoke(args=["content", "check", "--audio", str(audio)])
    assert result.exit_code == 0, result.output
    fr_line = next(line for line in result.output.splitlines() if line.strip().startswith("fr "))
    n = len(by_lang["fr"].expected)
    assert fr_line.split() == ["fr", str(n), "0", str(n), str(n), "100%"]
    listed = [line.split()[1] for line in result.output.splitlines() if line.strip().startswith("missing ")]
    assert listed == [f"bm/{stem}.wav" for stem in by_lang["bm"].expected] + [
        f"bm/{stem}.wav" for stem in expected_prompt_recordings("bm")
    ]  # every Bambara recording, lessons then voice prompts; no French one


def test_the_audio_command_generates_for_real_and_then_skips(runner, tiny, tmp_path):
    audio = tmp_path / "audio"
    result = runner.invoke(args=["content", "audio", "--courses", str(tiny), "--audio", str(audio)])
    assert result.exit_code == 0, result.output
    n = 6 + len(expected_prompt_recordings("fr"))  # the tiny course's texts and the voice prompts
    assert f"fr: {n} generated, 0 unchanged" in result.output
    path = find_recording(audio, "fr", "tiny/one/ask")
    with wave.open(str(path)) as wav:
        assert wav.getnchannels() == 1 and wav.getnframes() > 8000
    result = runner.invoke(args=["content", "audio", "--courses", str(tiny), "--audio", str(audio)])
    assert f"fr: 0 generated, {n} unchanged" in result.output


def test_the_audio_command_refuses_broken_content(runner, tiny, tmp_path):
    (tiny / "tiny.yaml").write_text(TINY.replace("correct: true", "correct: maybe"), encoding="utf-8")
    result = runner.invoke(args=["content", "audio", "--courses", str(tiny), "--audio", str(tmp_path / "a")])
    assert result.exit_code == 1 and "correct must be true or false" in result.output


# --- contacts -------------------------------------------------------------------------------------


CONTACT_CASES = [
    ({}, "fr", "Pour leurs numéros, demandez à l'agent de terrain, au maître ou à la mairie."),
    ({}, "bm", "U nimɔrɔw ɲininka porogaramu baarakɛla, karamɔgɔ walima meri fɛ."),
    (
        {"social_service": "20 22 33 44"},
        "fr",
        "Les numéros : service local du développement social, 20 22 33 44.",
    ),
    (
        {"field_agent": "76 00 00 01", "social_service": "20 22 33 44"},
        "bm",
        "Nimɔrɔw: sosiyali ɲɛtaa baarada, 20 22 33 44; porogaramu baarakɛla, 76 00 00 01.",
    ),
]


@pytest.mark.parametrize(("numbers", "lang", "sentence"), CONTACT_CASES)
def test_contacts_sentence(numbers, lang, sentence):
    assert contacts_sentence(lang, numbers) == sentence


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Appelez {numbers}.", "unknown placeholder '{numbers}' (known: {contacts})"),
        ("Appelez {contacts.", "unbalanced '{' or '}'"),
        ("Appelez } ici.", "unbalanced '{' or '}'"),
    ],
)
def test_bad_placeholders_are_content_errors(text, problem, tiny):
    assert problem in fill(text, "fr", {})[1][0]
    (tiny / "tiny.yaml").write_text(TINY.replace("Bonjour.", text), encoding="utf-8")
    _, errors = read_courses(tiny)
    assert any("item 'hello' › text: 'fr': " + problem in e for e in errors), errors


def test_contact_numbers_come_from_the_settings(tmp_path):
    app = make_app(
        f"sqlite:///{tmp_path / 'x.sqlite3'}",
        KALANSO_CONTACT_SOCIAL_SERVICE=" 20 22  33 44 ",
        KALANSO_CONTACT_POLICE_CHILDREN="+223 20 00 00 00",
    )
    assert app.config["KALANSO"].contacts == {"social_service": "20 22 33 44", "police_children": "+223 20 00 00 00"}
    app.config["KALANSO_COURSES_DIR"] = COURSES_DIR  # the shipped curriculum, not the test fixture
    with app.app_context():
        from content.catalog import get_catalog

        lesson = get_catalog().lesson("child-labour", "who-to-tell")
        text = lesson.items[lesson.item_index("useful-numbers")].body.text("fr")
    assert text.endswith(
        "Les numéros : service local du développement social, 20 22 33 44 ; "
        "police ou gendarmerie, service des mineurs, +223 20 00 00 00."
    )
    result = app.test_cli_runner().invoke(args=["content", "check", "--audio", str(tmp_path / "none")])
    assert "Contact numbers configured (2/6): KALANSO_CONTACT_SOCIAL_SERVICE, KALANSO_CONTACT_POLICE_CHILDREN" in (
        result.output
    )


@pytest.mark.parametrize("bad", ["call me", "12", "+", "20-22-33-44"])
def test_a_bad_contact_number_stops_the_start(bad):
    with pytest.raises(ConfigError, match="KALANSO_CONTACT_HELPLINE must be a phone number"):
        load_settings({**BASE_CONFIG, "KALANSO_CONTACT_HELPLINE": bad})
