"""The order form's number grammar: what each hurried spelling means, or why it is refused."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.trading.numbers import NumberError, parse_number, parse_whole

D = Decimal


@pytest.mark.parametrize("text, value", [
    ("0,001", D("0.001")),  # the comma is the decimal mark when it is the only separator
    ("0,5", D("0.5")),
    ("12,5", D("12.5")),
    (",5", D("0.5")),
    ("1234,567", D("1234.567")),  # four digits before it: not a thousands group
    ("1,2345", D("1.2345")),
    ("0.001", D("0.001")),
    (".5", D("0.5")),
    ("5.", D("5")),
    ("1,234.5", D("1234.5")),  # grouping commas with a decimal point
    ("91,000.00", D("91000.00")),
    ("12,345,678.9", D("12345678.9")),
    ("  42 ", D("42")),
])
def test_accepted_spellings(text, value):
    assert parse_number(text) == value


@pytest.mark.parametrize("text, words", [
    ("1,234", "ambiguous: write 1234 or 1.234"),
    ("10,000", "ambiguous: write 10000 or 10.000"),
    ("1,234.5,6", "ambiguous: a comma after the decimal point"),
    ("1.234,5", "ambiguous: a comma after the decimal point"),
    ("1,23.5", "groups of three digits"),
    ("1,234,567", "several commas and no decimal point"),
    ("1.2.3", "more than one decimal point"),
    ("-1", "no minus sign"),
    ("+1", "without a sign"),
    ("abc", "'a' 'b' 'c' not allowed"),
    ("1e5", "'e' not allowed"),
    ("1 000", "' ' not allowed"),
    ("٣", "not allowed"),  # a non-ASCII digit Decimal() would take
    (".", "is not a number"),
    (",", "is not a number"),
])
def test_refused_spellings_say_why(text, words):
    with pytest.raises(NumberError) as err:
        parse_number(text)
    assert words in str(err.value)
    assert text.strip()[:5] in str(err.value)  # the message quotes what was typed


def test_whole_numbers_for_leverage():
    assert parse_whole("5") == 5 and parse_whole("5,0") == 5
    with pytest.raises(NumberError, match="whole number"):
        parse_whole("2.5")
    with pytest.raises(NumberError, match="no minus sign"):
        parse_whole("-3")
