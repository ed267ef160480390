"""Phone numbers: real Mali formats normalise to one E.164 number; junk is refused clearly."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.logs import RedactingFormatter
from core.phones import InvalidPhone, mask_phone, normalize_phone


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("76 12 34 56", "+22376123456"),
        ("76123456", "+22376123456"),
        ("0022376123456", "+22376123456"),
        ("+22376123456", "+22376123456"),
        ("+223 76 12 34 56", "+22376123456"),
        ("00 223 76-12-34-56", "+22376123456"),
        ("(+223) 76.12.34.56", "+22376123456"),
        (" 66 00 11 22 ", "+22366001122"),  # Malitel
        ("50 11 22 33", "+22350112233"),  # Telecel
        ("20 22 33 44", "+22320223344"),  # Bamako landline
        ("+15005550006", "+15005550006"),  # a Twilio number abroad
        ("+221 77 123 45 67", "+221771234567"),  # Senegal
    ],
)
def test_mali_formats_give_the_same_person(raw, e164):
    assert normalize_phone(raw) == e164


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "empty phone number"),
        (None, "empty phone number"),
        ("   ", "empty phone number"),
        ("hello", "not a phone number"),
        ("76 12 34 5", "not a valid phone number"),  # 7 digits
        ("76 12 34 56 7", "not a valid phone number"),  # 9 digits
        ("+223 12 34 56 78", "not a valid phone number"),  # no such prefix
        ("0176123456", "not a valid phone number"),  # a trunk 0 that Mali does not use
        ("76123456; DROP TABLE", "not a phone number"),
        ("+", "not a phone number"),
    ],
)
def test_junk_is_rejected_with_a_clear_error(raw, message):
    with pytest.raises(InvalidPhone, match=message):
        normalize_phone(raw)


def test_error_messages_do_not_reveal_the_number():
    with pytest.raises(InvalidPhone) as caught:
        normalize_phone("+223 12 34 56 78")
    assert "12345678" not in str(caught.value).replace(" ", "")


@given(st.text(max_size=40))
def test_normalize_never_raises_anything_but_invalid_phone(text):
    try:
        result = normalize_phone(text)
    except InvalidPhone:
        return
    assert result.startswith("+") and result[1:].isdigit()


def test_mask():
    assert mask_phone("+22376123456") == "+2237612****"
    assert mask_phone("76 12 34 56") == "76 12 ** **"
    assert mask_phone("") == ""


def test_log_records_are_masked():
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "call from %s to %s", ("+22376123456", "76123456"), None)
    assert RedactingFormatter("%(message)s").format(record) == "call from +2237612**** to 7612****"
