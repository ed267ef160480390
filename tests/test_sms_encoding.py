"""SMS encoding and cost, checked against the real GSM 03.38 table (the ``gsm0338`` codec)."""

from __future__ import annotations

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec)
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.config import load_settings
from sms.encoding import (
    BAMBARA_TO_GSM,
    BASIC,
    EXTENSION,
    FRENCH_TO_GSM,
    GSM7,
    UCS2,
    MessageTooLong,
    check_length,
    cost,
    for_sms,
    is_gsm,
    split_to_fit,
    to_gsm,
)
from tests.conftest import BASE_CONFIG


def codec_septets(text: str) -> list[int] | None:
    """Septet sizes per character from the codec, or None if the codec cannot encode the text."""
    try:
        return [len(c.encode("gsm03.38")) for c in text]
    except UnicodeEncodeError:
        return None


def reference_segments(text: str) -> int:
    """GSM 03.38 / TS 23.040 segment count, computed independently from the codec's bytes."""
    sizes = codec_septets(text)
    if sizes is None:
        sizes, single, per = [2 if ord(c) > 0xFFFF else 1 for c in text], 70, 67
    else:
        single, per = 160, 153
    total = sum(sizes)
    if total == 0:
        return 0
    if total <= single:
        return 1
    segments, used = 1, 0
    for size in sizes:  # an escape pair / surrogate pair never straddles two segments
        if used + size > per:
            segments, used = segments + 1, 0
        used += size
    return segments


def test_our_tables_are_exactly_the_gsm_03_38_basic_and_extension_tables():
    for code in range(0x110000):
        char = chr(code)
        if 0xD800 <= code <= 0xDFFF or char == "\x1b":  # surrogates; ESC is the escape, not a character
            continue
        sizes = codec_septets(char)
        ours = 1 if char in BASIC else 2 if char in EXTENSION else None
        assert ours == (sizes[0] if sizes else None), f"U+{code:04X} {char!r}"


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("", GSM7, 0, 0),
        ("a" * 160, GSM7, 160, 1),
        ("a" * 161, GSM7, 161, 2),
        ("a" * 306, GSM7, 306, 2),
        ("a" * 307, GSM7, 307, 3),
        ("€" * 80, GSM7, 160, 1),  # extension characters count 2
        ("€" * 81, GSM7, 162, 2),
        ("a" * 152 + "€" + "a" * 10, GSM7, 164, 2),  # the escape pair moves whole to segment 2
        ("a" * 152 + "€" + "a" * 152, GSM7, 306, 3),  # ...so 306 septets need 3 segments here
        ("Le travail des enfants: {oui} [non] ~ | ^ \\", GSM7, 51, 1),
        ("ɛ" * 70, UCS2, 70, 1),  # one Bambara letter turns the whole text into UCS-2
        ("ɛ" * 71, UCS2, 71, 2),
        ("ɛ" * 134, UCS2, 134, 2),
        ("ɛ" * 135, UCS2, 135, 3),
        ("I ni sɔgɔma", UCS2, 11, 1),
        ("I ni sògòma", GSM7, 11, 1),
        ("ça", UCS2, 2, 1),  # lower-case ç is not GSM-7 (capital Ç is)
        ("Ça", GSM7, 2, 1),
        ("😀" * 35, UCS2, 70, 1),  # surrogate pairs: 2 code units each
        ("a" * 68 + "😀", UCS2, 70, 1),
        ("a" * 69 + "😀", UCS2, 71, 2),
    ],
)
def test_cost_table(text, encoding, units, segments):
    found = cost(text)
    assert (found.encoding, found.units, found.segments) == (encoding, units, segments)
    assert found.segments == reference_segments(text)


GSM_CHARS = sorted(BASIC | EXTENSION)
OTHER_CHARS = ["ɛ", "ɔ", "ɲ", "ŋ", "Ɛ", "ç", "ê", "’", "«", "😀", "È"]


@given(st.lists(st.sampled_from(GSM_CHARS), max_size=700).map("".join))
def test_segment_counter_agrees_with_gsm_03_38_on_gsm_text(text):
    found = cost(text)
    assert found.encoding == GSM7
    assert found.units == len(text.encode("gsm03.38"))
    assert found.segments == reference_segments(text)


@given(st.lists(st.sampled_from(GSM_CHARS + OTHER_CHARS), max_size=400).map("".join))
def test_segment_counter_agrees_with_gsm_03_38_on_mixed_text(text):
    found = cost(text)
    assert (found.encoding == GSM7) == (codec_septets(text) is not None)
    assert found.segments == reference_segments(text)


@given(st.text(max_size=300))
def test_cost_and_transliteration_never_raise_on_any_text(text):
    assert cost(text).segments == reference_segments(text)
    assert cost(to_gsm(text)).segments >= 0


@pytest.mark.parametrize(("bambara", "gsm"), sorted(BAMBARA_TO_GSM.items()))
def test_bambara_letters_become_their_older_gsm_spellings(bambara, gsm):
    assert not is_gsm(bambara)
    assert to_gsm(bambara) == gsm
    assert is_gsm(gsm)


@pytest.mark.parametrize("char", sorted(FRENCH_TO_GSM))
def test_french_characters_outside_gsm_get_a_gsm_look_alike(char):
    assert is_gsm(to_gsm(char)), char


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I ni sɔgɔma", "I ni sògòma"),
        ("Ɲɛnajɛ ŋaniya", "Nyènajè nganiya"),
        ("Ɔwɔ, Ɛɛ!", "Owò, Eè!"),
        ("À bientôt, ça va être très « bien » – merci…", 'A bientot, ca va etre très " bien " - merci...'),
        ("L’épargne", "L'épargne"),
        ("ɛ́ tone marks go", "è tone marks go"),
        ("emoji 😀 stays", "emoji 😀 stays"),
    ],
)
def test_to_gsm(text, expected):
    assert to_gsm(text) == expected


def test_the_setting_decides_whether_texts_are_transliterated():
    assert for_sms("sɔgɔma", transliterate=True) == "sògòma"
    assert for_sms("sɔgɔma", transliterate=False) == "sɔgɔma"


def test_check_length_refuses_over_the_limit_with_a_clear_error():
    settings = load_settings({**BASE_CONFIG, "SMS_MAX_SEGMENTS": "2"})
    assert check_length("a" * 306, settings).segments == 2
    with pytest.raises(MessageTooLong, match=r"3 segments \(GSM-7, 307 septets\), the limit is 2 \(SMS_MAX_SEGMENTS\)"):
        check_length("a" * 307, settings)
    off = load_settings({**BASE_CONFIG, "SMS_MAX_SEGMENTS": "1", "SMS_TRANSLITERATE": "off"})
    with pytest.raises(MessageTooLong, match=r"UCS-2, 71 characters"):
        check_length("ɛ" * 71, off)
    on = load_settings({**BASE_CONFIG, "SMS_MAX_SEGMENTS": "1"})
    assert check_length("ɛ" * 71, on).encoding == GSM7  # transliterated first: è is GSM-7


@given(st.text(alphabet=st.sampled_from("abc ɛ€ "), max_size=900), st.integers(min_value=1, max_value=3))
def test_split_to_fit_keeps_every_character_and_respects_the_limit(text, limit):
    pieces = split_to_fit(text, limit)
    assert all(cost(p).segments <= limit for p in pieces)
    assert "".join(pieces).replace(" ", "") == text.replace(" ", "")
