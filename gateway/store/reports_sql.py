"""Read SQL for the operator reports that a scrape runs often: the claims
still waiting for a payer's answer (``gateway_clinic_claims_without_response``).

Only the claims whose latest sent submission for its payer place is
``delivered``, ``accepted_999`` or ``acknowledged_277`` are read (not every
claim's balance), so a scrape costs what is waiting, not the store's
history. Same rows on SQLite and PostgreSQL; no patient data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.reports import AWAITING_ACK, AWAITING_REMIT

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
            "SELECT c.clinic_id, c.clm01, c.payer_id, c.status, o.delivered_at FROM claims c "
            "LEFT JOIN outbox o ON o.id = c.outbox_id "
            f"WHERE c.status IN ({marks}){clinic_sql} AND NOT EXISTS (SELECT 1 FROM claims n "
            "WHERE n.clinic_id = c.clinic_id AND n.clm01 = c.clm01 AND n.payer_seq = c.payer_seq "
            f"AND n.version > c.version AND n.status NOT IN ({unsent}))"
        )
        with self.store.read() as cur:
            cur.execute(sql, (*statuses, *args, *_UNSENT))
            rows = cur.fetchall()
        return [AwaitingRow(r[0], r[1], r[2], r[3], float(r[4]) if r[4] is not None else None) for r in rows]
