"""The one grammar for numbers typed into the order form (amount, price, trigger, leverage).

A trading form must never read a number other than the one the user sees, so the rules
are few and anything outside them is refused with a reason, never guessed at:

- digits with at most one decimal mark; ``.`` is the decimal mark, and so is ``,`` when it
  is the only separator: ``0,5`` = 0.5, ``0,001`` = 0.001, ``12,5`` = 12.5;
- grouping commas only together with a decimal point, in groups of exactly three digits:
  ``1,234.5`` = 1234.5, ``91,000.00`` = 91000;
- ``1,234`` alone could be either (1234 or 1.234): refused, asking for ``1234`` or ``1.234``;
- no sign, no exponent, no letters, no spaces inside the number.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from app.errors import CryptotermError

_GROUPED = re.compile(r"[1-9][0-9]{0,2}(,[0-9]{3})+")  # 1,234 / 12,345,678


class NumberError(CryptotermError, ValueError):
    """Why a text is not a number the form accepts, in words fit for the field's message line."""

    default_title = "Not a number"


def parse_number(text: str) -> Decimal:
    """The Decimal ``text`` means under the form's grammar, or NumberError saying why not."""
    raw = text.strip()
    if not raw:
        raise NumberError("empty")
    shown = raw if len(raw) <= 20 else raw[:19] + "…"
    if raw[0] in "+-":
        if raw[0] == "-":
            raise NumberError(f"'{shown}': no minus sign (to sell, use the Sell side)")
        raise NumberError(f"'{shown}': write the number without a sign")
    bad = sorted({c for c in raw if not (c.isascii() and c.isdigit()) and c not in ".,"})
    if bad:
        chars = " ".join(repr(c) for c in bad[:4])
        raise NumberError(f"'{shown}': {chars} not allowed (digits and one . or , only)")
    dots, commas = raw.count("."), raw.count(",")
    if dots > 1:
        raise NumberError(f"'{shown}': more than one decimal point")
    if dots == 1:
        whole, frac = raw.split(".")
        if "," in frac:
            raise NumberError(f"'{shown}' is ambiguous: a comma after the decimal point")
        if commas:
            if not _GROUPED.fullmatch(whole):
                raise NumberError(f"'{shown}' is ambiguous: grouping commas need groups of "
                                  f"three digits (1,234.5); or write it without commas")
            whole = whole.replace(",", "")
        number = f"{whole}.{frac}"
    elif commas > 1:
        raise NumberError(f"'{shown}' is ambiguous: several commas and no decimal point; write "
                          f"{raw.replace(',', '')} (or {raw}.0)")
    elif commas == 1:
        whole, frac = raw.split(",")
        if len(frac) == 3 and whole and whole[0] != "0" and len(whole) <= 3:
            # a thousands group or a decimal comma: both readings are plausible
            raise NumberError(f"'{shown}' is ambiguous: write {whole}{frac} or {whole}.{frac}")
        number = f"{whole}.{frac}"
    else:
        number = raw
    if number in (".", ""):
        raise NumberError(f"'{shown}' is not a number")
    try:
        value = Decimal(number)
    except InvalidOperation:
        raise NumberError(f"'{shown}' is not a number") from None
    return value


def parse_whole(text: str) -> int:
    """A whole number under the same grammar (leverage): ``5`` or ``5,0``; not ``2.5``."""
    value = parse_number(text)
    if value != value.to_integral_value():
        raise NumberError(f"'{text.strip()}': a whole number is needed")
    return int(value)
