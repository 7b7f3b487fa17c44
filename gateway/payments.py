"""Patient payments in: reading a lockbox, portal or front-desk payment CSV
(pure, no I/O) for ``gateway payments import`` (docs/accounts.md).

Columns (a header line, any order, names case-insensitive): ``clinic,
account, date, amount, method, reference`` and an optional ``claim`` (the
CLM01 to pay; empty: the account's items, oldest first). Every problem of a
file is reported at once, each with its CSV line number, and nothing is
imported when there is one.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection
from datetime import date
from decimal import Decimal, InvalidOperation

from gateway.store.accounts import AccountError, PatientPayment

REQUIRED = ("clinic", "account", "date", "amount", "method", "reference")
OPTIONAL = ("claim",)


def _amount(text: str) -> Decimal | None:
    """A positive amount with at most two decimals, else None."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    if not value.is_finite() or value <= 0 or value != value.quantize(Decimal("0.01")):
        return None
    return value.quantize(Decimal("0.01"))


def read_payments(text: str, source: str, clinics: Collection[str]) -> list[PatientPayment]:
    """The payments of CSV ``text`` (named ``source`` in problems) for the
    configured ``clinics``; raises :class:`AccountError` naming every bad line."""
    rows = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    header = next(rows, None)
    if header is None:
        raise AccountError([f"{source}: line 1: an empty file (the header must name {', '.join(REQUIRED)})"])
    names = [h.strip().lower() for h in header]
    missing = [c for c in REQUIRED if c not in names]
    unknown = [h for h in names if h not in REQUIRED + OPTIONAL]
    problems = []
    if missing:
        problems.append(f"{source}: line 1: missing column(s) {', '.join(missing)}")
    if unknown:
        problems.append(f"{source}: line 1: unknown column(s) {', '.join(unknown)} "
                        f"(columns: {', '.join(REQUIRED + OPTIONAL)})")  # fmt: skip
    if problems:
        raise AccountError(problems)
    out = []
    for row in rows:
        line = rows.line_num
        if not any(cell.strip() for cell in row):
            continue
        where = f"{source}: line {line}"
        if len(row) != len(names):
            problems.append(f"{where}: {len(row)} fields, the header has {len(names)}")
            continue
        cell = {n: v.strip() for n, v in zip(names, row, strict=True)}
        bad = [f"empty {c}" for c in REQUIRED if not cell[c]]
        if cell["clinic"] and cell["clinic"] not in clinics:
            bad.append(f"unknown clinic {cell['clinic']}")
        amount = _amount(cell["amount"]) if cell["amount"] else None
        if cell["amount"] and amount is None:
            bad.append(f"amount '{cell['amount']}' is not a positive amount with at most two decimals")
        try:
            on = date.fromisoformat(cell["date"]) if cell["date"] else None
        except ValueError:
            on = None
            bad.append(f"date '{cell['date']}' is not a date (YYYY-MM-DD)")
        if bad:
            problems.append(f"{where}: {'; '.join(bad)}")
            continue
        assert amount is not None and on is not None
        out.append(PatientPayment(line, cell["clinic"], cell["account"], on, amount, cell["method"], cell["reference"],
                                  cell.get("claim") or None))  # fmt: skip
    if problems:
        raise AccountError(problems)
    if not out:
        raise AccountError([f"{source}: no payment rows after the header"])
    return out
