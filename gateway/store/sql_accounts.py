"""Guarantor accounts: what patients owe once payers have answered, what
they paid, credits and write-offs.

:meth:`_bill_patient` is called by
:meth:`gateway.store.sql_remits.SQLRemits._after_adjudication` inside the
posting transaction when the last payer of a claim has answered.
"""

from __future__ import annotations

from typing import Any

from gateway.responsibility import Adjudication, Step
from gateway.store.sqlbase import SQLBase


class SQLAccounts(SQLBase):
    """The guarantor account ledger (see the module doc)."""

    def _bill_patient(self, cur: Any, adj: Adjudication, step: Step, source: str, actor: str, now: float) -> None:
        """Charge the guarantor account ``step.amount`` (the last payer's
        patient responsibility) for ``adj``'s claim and apply the visit copay."""
