"""The differential view of an 835: what edi-835-parser (PyPI) and our
reader both say about each claim, in the same shape.

edi-835-parser reads every transaction set of a file into one list of
claims, only the first reason/amount of each CAS segment and no claim-level
CAS, and does not expose CLP05; so the view compares, per claim, the claim
id, status, charge and paid amount, and per service line the procedure,
charge, paid amount and (first) adjustment of each CAS, plus the patient
responsibility: CLP05 on our side against the PR adjustments it reports.
"""

from __future__ import annotations

import warnings
from decimal import Decimal
from pathlib import Path
from typing import Any

from gateway.model import Remit835, ResponseBatch


def _dec(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def edi_view(path: Path) -> list[dict[str, Any]]:
    """What edi-835-parser reads from ``path`` (raises what it raises)."""
    import edi_835_parser

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # it warns for every segment it skips
        sets = edi_835_parser.parse(str(path)).transaction_sets
    out = []
    for t in sets:
        for c in t.claims:
            lines = [
                {
                    "procedure": s.service.code,
                    "charge": _dec(s.service.charge_amount),
                    "paid": _dec(s.service.paid_amount),
                    "adjustments": [(a.group_code.code, a.reason_code.code, _dec(a.amount)) for a in s.adjustments],
                }
                for s in c.services
            ]
            pr = sum((a[2] for ln in lines for a in ln["adjustments"] if a[0] == "PR"), Decimal(0))
            out.append(
                {
                    "claim_id": c.claim.marker,
                    "status": c.claim.status.code,
                    "charge": _dec(c.claim.charge_amount),
                    "paid": _dec(c.claim.paid_amount),
                    "patient_responsibility": pr,
                    "lines": lines,
                }
            )
    return out


def our_view(batch: ResponseBatch) -> list[dict[str, Any]]:
    """The same view of what our reader read."""
    out = []
    for doc in batch.documents:
        if not isinstance(doc, Remit835):
            continue
        for c in doc.claims:
            lines = []
            for ln in c.lines:
                first: dict[int, tuple[str, str, Decimal]] = {}
                for a in ln.adjustments:  # the first triple of each CAS segment
                    first.setdefault(a.segment, (a.group, a.reason, a.amount))
                lines.append(
                    {
                        "procedure": ln.procedure,
                        "charge": ln.charge,
                        "paid": ln.paid,
                        "adjustments": list(first.values()),
                    }
                )
            pr = c.patient_responsibility
            if pr is None:
                pr = sum((a[2] for ln in lines for a in ln["adjustments"] if a[0] == "PR"), Decimal(0))
            out.append(
                {
                    "claim_id": c.claim_id,
                    "status": c.status,
                    "charge": c.charge,
                    "paid": c.paid,
                    "patient_responsibility": pr,
                    "lines": lines,
                }
            )
    return out
