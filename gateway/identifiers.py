"""Check digits and formats of identifiers used on claims."""

from __future__ import annotations

import re
from functools import lru_cache

_NPI = re.compile(r"[12]\d{9}")


def luhn_ok(digits: str) -> bool:
    """True when ``digits`` passes the Luhn (mod 10) check."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = ord(ch) - 48
        if i % 2:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


@lru_cache(maxsize=1024)  # a clinic's few providers are on most of its claims
def npi_is_valid(npi: str | None) -> bool:
    """An NPI is 10 digits starting with 1 or 2 whose last digit is the Luhn
    check digit computed over "80840" + the first nine digits (the answers
    for the NPIs seen lately are remembered)."""
    return bool(npi) and _NPI.fullmatch(npi) is not None and luhn_ok("80840" + npi)


def npi_check_digit(first_nine: str) -> str:
    """The check digit that completes a 9-digit NPI stem (for synthetic test data)."""
    for d in "0123456789":
        if luhn_ok("80840" + first_nine + d):
            return d
    raise ValueError("no check digit")  # pragma: no cover - Luhn always has one
