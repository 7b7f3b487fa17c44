"""A claim's lifecycle timeline and ledger by line, for the console's claim
page: built from the store's :class:`~gateway.store.remits.ClaimStory` (one
read), with reason codes in plain words. No SQL here; no patient data in
what it builds (ids, codes, amounts, dates).
"""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal
from typing import Any

from gateway.adjustment_codes import AdjustmentCodes
from gateway.codes import ADJUSTMENT_GROUPS
from gateway.store.remits import ClaimStory, LedgerEntry, money_of

#: ledger kinds as an operator says them
KIND_TEXT = {
    "charge": "charge billed",
    "payment": "payer payment",
    "adjustment": "adjustment",
    "denial": "denied (kept for the record; the balance stays open)",
    "manual": "manual adjustment",
    "prior_payer": "earlier payers' part (a secondary or tertiary claim)",
}


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def timeline(story: ClaimStory) -> list[dict[str, Any]]:
    """Every event of the claim, oldest first: when, what, the status it moved to, from which document."""
    out = []
    for e in story.events:
        detail = ", ".join(f"{k}: {v if isinstance(v, str | int | float) else json.dumps(v)}"
                           for k, v in (e.detail or {}).items())  # fmt: skip
        out.append({"at": e.at, "event": e.kind, "status": e.status or "", "version": e.version,
                    "source": e.source or "", "actor": e.actor, "detail": detail})  # fmt: skip
    return out


def _entry(e: LedgerEntry, codes: AdjustmentCodes) -> dict[str, Any]:
    code = f"{e.group or ''}-{e.reason}" if e.reason else (e.group or "")
    words = ""
    if e.reason and e.kind in ("adjustment", "denial"):
        words = codes.adjustment(e.group or "", e.reason)
    elif e.kind == "manual":
        words = f"{ADJUSTMENT_GROUPS.get(e.group or '', e.group or '')}: {e.reason or ''}".strip(": ")
    return {"at": e.at, "kind": e.kind, "kind_text": KIND_TEXT.get(e.kind, e.kind), "code": code, "words": words,
            "amount": _money(e.amount), "source": e.source or "", "actor": e.actor, "note": e.note or ""}  # fmt: skip


def ledger_by_line(story: ClaimStory, codes: AdjustmentCodes) -> list[dict[str, Any]]:
    """The ledger grouped by service line (LX; the claim level first), each
    with its entries and its money: charge, paid, patient responsibility,
    other adjustments, balance; then the claim's total (every line)."""
    by_line: dict[int | None, list[LedgerEntry]] = defaultdict(list)
    for e in story.ledger:
        by_line[e.line].append(e)
    out = []
    for line in sorted(by_line, key=lambda n: -1 if n is None else n):
        entries = by_line[line]
        out.append({"line": "claim level" if line is None else f"line {line}",
                    "entries": [_entry(e, codes) for e in entries], **_totals(entries)})  # fmt: skip
    if out:
        out.append({"line": "claim total", "entries": [], **_totals(story.ledger)})
    return out


def _totals(entries: list[LedgerEntry]) -> dict[str, str]:
    """charge − paid − patient − adjusted = balance; ``denied`` is shown apart (it does not reduce the balance)."""
    m = money_of([(e.kind, e.group, e.reason, e.amount) for e in entries])
    zero = Decimal("0.00")
    adjusted = sum((a for g, _, a in m.adjustments if g != "PR"), zero)
    denied = sum((a for _, _, a in m.denials), zero)
    return {"charge": _money(m.charge), "paid": _money(m.paid), "patient": _money(m.patient_responsibility),
            "adjusted": _money(adjusted), "denied": _money(denied), "balance": _money(m.balance)}  # fmt: skip
