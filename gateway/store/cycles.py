"""The statement-cycle part of the store interface: what each guarantor
account was sent (statements, final notices, the collections export) and
when, and the statement runs per clinic and date.

:class:`CycleStore` is mixed into :class:`gateway.store.Store` (so
:class:`gateway.store.retry.RetryingStore` retries it); the SQL is in
:mod:`gateway.store.sql_cycles`. The rules are :mod:`gateway.cycles`, the runs
:mod:`gateway.statement_runs`. The tables hold ids, dates, amounts and
digests only: the statements' content (names, addresses) is in the outbox
documents, sealed like every document when encryption at rest is on.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from gateway.cycles import LastCycle, Notice
from gateway.documents import Document


@dataclass(frozen=True)
class CycleEntry:
    """One account's outcome of a run, to record: ``notice`` (a statement, a
    final notice, the collections export), the statement id, the dunning
    level, the total due and the content digest; ``document``: the index of
    the document carrying it (None: none)."""

    account: str
    statement_id: str
    notice: Notice
    total_due: Decimal
    content_hash: str
    reason: str
    dunning_level: int = 0
    document: int | None = None


@dataclass(frozen=True)
class CycleRow:
    """A recorded cycle entry, as operators see it."""

    id: int
    clinic_id: str
    account: str
    statement_id: str
    run_date: date
    notice: str
    dunning_level: int
    total_due: Decimal
    reason: str
    outbox_id: int | None
    document: str | None
    created_at: float


@dataclass(frozen=True)
class StatementRun:
    """One statement run of a clinic for a date: ``running`` (by ``owner``)
    or ``done`` with its counts (``summary``)."""

    clinic_id: str
    run_date: date
    status: str
    owner: str
    started_at: float
    finished_at: float | None
    summary: dict[str, Any]


class CycleStore(ABC):
    """Statement cycles in the store (see the module doc). Every method is one transaction."""

    @abstractmethod
    def last_cycle(self, clinic_id: str, account: str) -> LastCycle | None:
        """The account's last statement (or final notice), with when its final
        notice and collections export went out; None when never sent."""

    @abstractmethod
    def record_cycle(
        self,
        clinic_id: str,
        run_date: date,
        entries: Sequence[CycleEntry],
        documents: Sequence[Document] = (),
        destination: str | None = None,
        actor: str = "statements",
    ) -> list[tuple[int, str]]:
        """In one transaction: ``documents`` go into the outbox for
        ``destination`` (as the batcher's do) and each entry is recorded with
        the document carrying it. An account already recorded for
        ``run_date`` is left as it is, and a document only its entries need is
        not stored (a run done again after a crash adds nothing). Returns
        ``(outbox id, stored name)`` per document stored."""

    @abstractmethod
    def cycle_history(self, clinic_id: str, account: str | None = None, limit: int = 200) -> list[CycleRow]:
        """Recorded entries of a clinic (of one account), newest first."""

    @abstractmethod
    def begin_statement_run(self, clinic_id: str, run_date: date, owner: str, stale_after: float) -> bool:
        """Take the run of ``clinic_id`` for ``run_date``: True when this
        owner may run it (never run, or a ``running`` row older than
        ``stale_after`` seconds: its owner died); False when it is done or
        another owner is running it."""

    @abstractmethod
    def finish_statement_run(self, clinic_id: str, run_date: date, owner: str, summary: dict[str, Any]) -> None:
        """Mark the run done with its counts."""

    @abstractmethod
    def statement_runs(self, clinic_id: str | None = None, limit: int = 50) -> list[StatementRun]:
        """Runs, newest first."""

    @abstractmethod
    def payers_paid(self, clinic_id: str, claims: Sequence[str]) -> dict[str, list[tuple[int, str, Decimal]]]:
        """What each insurer paid on each claim (CLM01): ``(payer place, payer
        name, amount)`` per place that paid, from the claim ledger's payments
        and the remits' payer names (the payer id when no remit names it)."""

    @abstractmethod
    def account_parties(self, clinic_id: str, claims: Sequence[str], statements: Sequence[str]) -> dict[str, Any]:
        """The newest patient and guarantor (JSON of
        :class:`~gateway.model.Patient`, :class:`~gateway.model.Guarantor`,
        keys ``patient``/``guarantor``; empty when none is found) of an
        account, from the stored encounters of its claims (CLM01s) or its
        self-pay statements (statement ids): who a cycle statement is for."""
