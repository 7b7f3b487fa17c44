"""Billing the next payer after an 835: secondary and tertiary submissions
(and crossovers, which wait for the next payer's own 835).

Called by :meth:`gateway.store.sql_remits.SQLRemits._after_adjudication`
inside the posting transaction; the claim itself is built by the pure
:mod:`gateway.secondary`.
"""

from __future__ import annotations

from typing import Any

from gateway.responsibility import Adjudication, Step
from gateway.store.sqlbase import SQLBase


class SQLSecondary(SQLBase):
    """The next payer's submission (see the module doc)."""

    def _bill_next_payer(self, cur: Any, adj: Adjudication, step: Step, source: str, actor: str, now: float) -> None:
        """Create the submission of payer place ``step.next_seq`` for ``adj``'s
        claim (``secondary``), or record that the payer forwarded it (``crossover``)."""
