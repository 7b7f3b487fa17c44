"""Read SQL for the operator reports: the claims still waiting for a
payer's answer (``gateway_clinic_claims_without_response``, which a scrape
runs often) and what patients owe per claim (the AR report's patient column).

Only the claims whose latest sent submission for its payer place is
``delivered``, ``accepted_999`` or ``acknowledged_277`` are read (not every
claim's balance), so a scrape costs what is waiting, not the store's
history. Same rows on SQLite and PostgreSQL; no patient data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from gateway.reports import AWAITING_ACK, AWAITING_REMIT
from gateway.store.sql_remits import PAYER_HAS_IT_SINCE

#: submissions that never left the gateway: a later one of these does not replace a sent one
_UNSENT = ("created", "held", "superseded", "discarded", "failed")


@dataclass(frozen=True)
class AwaitingRow:
    """A sent claim with no 999/277CA or no 835 yet: its clinic, CLM01,
    payer id, status and when its file was delivered (Unix time; None when
    its outbox row is gone)."""

    clinic_id: str
    clm01: str
    payer_id: str | None
    status: str
    delivered_at: float | None


@dataclass(frozen=True)
class PatientOwed:
    """What the patient still owes on one claim (its guarantor account rows)
    and the payer that claim was last sent to."""

    clinic_id: str
    clm01: str
    payer_id: str | None
    balance: Decimal


#: the sign of each account ledger kind (gateway/store/accounts.py)
_SIGN = {"payment": -1, "write_off": -1}


class ReportQueries:
    """The reports' own reads over one SQL store (``store.read()``)."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def awaiting_answer(self, clinic_id: str | None = None) -> list[AwaitingRow]:
        """Claims whose latest sent submission (per clinic, CLM01 and payer place) waits for an answer."""
        statuses = sorted(AWAITING_ACK | AWAITING_REMIT)
        marks = ", ".join("?" * len(statuses))
        unsent = ", ".join("?" * len(_UNSENT))
        clinic_sql, args = (" AND c.clinic_id = ?", [clinic_id]) if clinic_id else ("", [])
        sql = (
            f"SELECT c.clinic_id, c.clm01, c.payer_id, c.status, {PAYER_HAS_IT_SINCE} FROM claims c "
            "LEFT JOIN outbox o ON o.id = c.outbox_id "
            f"WHERE c.status IN ({marks}){clinic_sql} AND NOT EXISTS (SELECT 1 FROM claims n "
            "WHERE n.clinic_id = c.clinic_id AND n.clm01 = c.clm01 AND n.payer_seq = c.payer_seq "
            f"AND n.version > c.version AND n.status NOT IN ({unsent}))"
        )
        with self.store.read() as cur:
            cur.execute(sql, (*statuses, *args, *_UNSENT))
            rows = cur.fetchall()
        return [AwaitingRow(r[0], r[1], r[2], r[3], float(r[4]) if r[4] is not None else None) for r in rows]

    def patient_owed(self, clinic_id: str | None = None, as_of: date | None = None) -> list[PatientOwed]:
        """Every claim whose patient balance (Σ of its account ledger rows
        dated on or before ``as_of``) is not zero, with the payer id of its
        latest sent submission (the last payer place)."""
        clinic_sql, args = (" AND a.clinic_id = ?", [clinic_id]) if clinic_id else ("", [])
        day_sql = " AND a.on_date <= ?" if as_of else ""
        unsent = ", ".join("?" * len(_UNSENT))
        with self.store.read() as cur:
            cur.execute(
                "SELECT a.clinic_id, a.clm01, a.kind, a.amount FROM account_ledger a "
                f"WHERE a.clm01 IS NOT NULL{clinic_sql}{day_sql}",
                (*args, *([as_of.isoformat()] if as_of else [])),
            )
            owed: dict[tuple[str, str], Decimal] = {}
            for clinic, clm01, kind, amount in cur.fetchall():
                owed[(clinic, clm01)] = owed.get((clinic, clm01), Decimal("0.00")) + Decimal(amount) * _SIGN.get(
                    kind, 1
                )
            cur.execute(
                "SELECT c.clinic_id, c.clm01, c.payer_seq, c.version, c.payer_id FROM claims c "
                f"WHERE c.account IS NOT NULL AND c.status NOT IN ({unsent}){clinic_sql.replace('a.', 'c.')}",
                (*_UNSENT, *args),
            )
            payer: dict[tuple[str, str], tuple[int, int, str | None]] = {}
            for clinic, clm01, seq, version, payer_id in cur.fetchall():
                key = (clinic, clm01)
                if key in owed and (key not in payer or (int(seq), int(version)) > payer[key][:2]):
                    payer[key] = (int(seq), int(version), payer_id)
        return [PatientOwed(c, k, payer.get((c, k), (0, 0, None))[2], b) for (c, k), b in sorted(owed.items()) if b]
