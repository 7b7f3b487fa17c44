"""Money: one rounding rule and one range for every amount in the gateway.

Amounts are :class:`~decimal.Decimal`, never float. An amount the gateway
computes (unit price × quantity × factor, a charge master price, copays
summed, a remainder, a payment spread over statement lines) is rounded
**once, at the end, half-up to cents** (``ROUND_HALF_UP``: 27.505 → 27.51,
−27.505 → −27.51, away from zero on a tie) with :func:`cents`. The HL7 v2,
FHIR and canonical JSON readers, the charge master and statements all use
it, so one visit bills the same cents whatever format it came in.

An amount a sender states (HL7 FT1-11, FHIR ``net``/``priceOverride``, a
canonical ``charge``) is never rounded: :func:`as_sent` writes whole cents
with two decimals (125 → 125.00) and leaves a fraction of a cent as sent,
for the scrubber (``SCRUB-TOTAL``) or the statement check to hold: the
clinic's system must fix it, the gateway does not guess.

Values outside a plausible range (1e308, a number of 5,000 digits, a
quantity of a billion) are refused where they are read, with a finding that
names the field, rather than overflowing later: see :func:`amount_problem`
and :func:`units_problem`. The canonical model checks the same ranges
(``gateway.model.Money`` and ``Units``).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
#: the largest amount accepted anywhere (a line, a claim total, a payment)
MAX_AMOUNT = Decimal("99999999.99")
#: the largest quantity (units of service) accepted on a line
MAX_UNITS = Decimal("99999")


class AmountError(ValueError):
    """A value that cannot be rounded to cents (the text never holds the value)."""


def cents(value: Decimal) -> Decimal:
    """``value`` rounded half-up to cents: the gateway's one rounding rule."""
    try:
        return value.quantize(CENT, rounding=ROUND_HALF_UP)
    except InvalidOperation:
        raise AmountError("the amount is too large to round to cents") from None


def as_sent(value: Decimal) -> Decimal:
    """A stated amount: with two decimals when it is whole cents, else unchanged."""
    try:
        exact = value.quantize(CENT)
    except InvalidOperation:
        return value
    return exact if exact == value else value


def whole_cents(value: Decimal) -> bool:
    """True when ``value`` has no fraction of a cent (12.50 and 12.500 do; 12.005 does not)."""
    try:
        return value == value.quantize(CENT)
    except InvalidOperation:
        return False


def amount_problem(value: Decimal) -> str | None:
    """Why ``value`` cannot be an amount (``"is not a number"``, ``"is out of
    range"``), or None when it can."""
    if not value.is_finite():
        return "is not a number"
    if abs(value) > MAX_AMOUNT:
        return f"is out of range (at most {MAX_AMOUNT:,})"
    return None


def units_problem(value: Decimal) -> str | None:
    """Why ``value`` cannot be a quantity of service, or None when it can."""
    if not value.is_finite():
        return "is not a number"
    if abs(value) > MAX_UNITS:
        return f"is out of range (at most {MAX_UNITS:,})"
    return None
