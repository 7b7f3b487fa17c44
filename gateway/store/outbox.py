"""The delivery half of the store interface: items waiting for the batcher,
cutting a batch into outbox documents, and the outbox itself (claiming due
documents with a lease, recording deliveries and failures, dead letters).

:class:`DeliveryStore` is mixed into :class:`gateway.store.Store`; the SQL is
in :mod:`gateway.store.sql_delivery`. The delivery code
(:mod:`gateway.delivery`) reaches the tables only through these methods, so a
backend's retry (PostgreSQL) covers the outbox like everything else.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.documents import Document
from gateway.store.submissions import Kind

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"


@dataclass(frozen=True, slots=True)
class WaitingItem:
    """A claim or statement waiting for the batcher (status ``created``);
    slotted: a one-shot run of a million claims lists them all."""

    row: int
    clinic_id: str
    payer_id: str | None
    created_at: float


@dataclass(frozen=True)
class BatchItem:
    """A waiting item's JSON, loaded for rendering (a claim's ``rendered``:
    what a worker's renderer stored with it, or None)."""

    row: int
    message_id: int
    body: str
    rendered: str | None = None


@dataclass
class BatchCut:
    """What the batcher made of some waiting items of one kind and destination:
    the documents, which document carries each item (``links``: item row →
    index into ``documents``), and the items that could not be rendered."""

    kind: Kind
    destination: str
    documents: list[Document]
    links: list[tuple[int, int]]
    failed: list[int] = field(default_factory=list)
    lane: str | None = None
    actor: str = "batcher"
    #: claims: item row → (ISA13, GS06, ST02, ISA08) of the transaction set
    #: carrying it, so a TA1 or 999 finds the claims it answers
    controls: dict[int, tuple[str, str, str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class OutboxItem:
    """A claimed outbox row, ready to deliver."""

    id: int
    destination: str
    attempts: int
    document: Document


@dataclass(frozen=True)
class OutboxRow:
    """An outbox row as operators see it (no content)."""

    id: int
    destination: str
    kind: str
    clinic_id: str
    name: str
    sha256: str
    size: int
    status: str
    attempts: int
    next_attempt: float
    last_error: str | None
    location: str | None
    created_at: float
    delivered_at: float | None
    items: int


class DeliveryStore(ABC):
    """Batching and the outbox (see the module doc). Every method is one
    transaction. ``lane`` None is the daemon's work; a one-shot run passes its
    own lane and never sees the daemon's work, nor the daemon its."""

    # -- batching ------------------------------------------------------------
    @abstractmethod
    def waiting(self, kind: Kind, lane: str | None = None, limit: int | None = None) -> list[WaitingItem]:
        """Items of ``kind`` in ``lane`` waiting for the batcher, oldest first
        (the oldest ``limit`` only, when given)."""

    @abstractmethod
    def next_payer_waiting(self, lane: str | None = None) -> list[WaitingItem]:
        """Next payers' claims (secondary, tertiary) in ``lane`` still
        ``waiting`` for their payer's delay, oldest first: the batcher
        releases each one that is due (:meth:`release_next_payer`)."""

    @abstractmethod
    def release_next_payer(
        self, row: int, *, claim_numbers: bool, detail: dict[str, Any] | None = None, actor: str = "batcher"
    ) -> bool:
        """Move waiting claim ``row`` to ``created`` (event ``released`` with
        ``detail``), without the earlier payers' claim control numbers (2330B
        REF*F8) unless ``claim_numbers``. False when it is no longer waiting
        (its payer's own 835 posted on it meanwhile: nothing is sent)."""

    @abstractmethod
    def batch_items(self, kind: Kind, rows: Sequence[int]) -> list[BatchItem]:
        """The JSON of items ``rows``, by row."""

    @abstractmethod
    def cut(self, batch: BatchCut) -> list[tuple[int, str]] | None:
        """In one transaction: the documents go into the outbox for
        ``batch.destination`` (a document whose name that destination already
        holds with other bytes is stored under the next free name,
        ``<stem>-2<ext>``, ``-3``…), each linked item moves ``created`` →
        ``batched`` and each failed one → ``failed`` (with events), and their
        messages' statuses follow. Returns ``(outbox id, stored name)`` per
        document, or None — with nothing written — when an item is no longer
        ``created`` (an operator reprocessed its message meanwhile)."""

    # -- dispatching -----------------------------------------------------------
    @abstractmethod
    def outbox_claim(self, worker: str, limit: int, lease: float, lane: str | None = None) -> list[OutboxItem]:
        """Take up to ``limit`` due pending documents of ``lane`` nobody holds
        (oldest due first), leased to ``worker`` for ``lease`` seconds."""

    @abstractmethod
    def outbox_delivered(self, worker: str, item: OutboxItem, location: str, already_present: bool) -> bool:
        """Record a delivery (only while ``worker`` holds the row): the row,
        its claims/statements (events) and their messages. False when the
        lease was lost."""

    @abstractmethod
    def outbox_failed(self, worker: str, item: OutboxItem, error: str, *, dead: bool, retry_in: float) -> str:
        """Record a failed attempt: a dead letter, or due again in ``retry_in``
        seconds; the new status. ``error`` must not carry patient data."""

    @abstractmethod
    def outbox_release(self, worker: str, ids: Sequence[int] | None = None) -> int:
        """Give ``worker``'s rows (``ids``, or all it holds) back unattempted."""

    @abstractmethod
    def outbox_holders(self) -> list[str]:
        """Who holds pending rows (to release those of dead processes)."""

    # -- operators -------------------------------------------------------------
    @abstractmethod
    def outbox_list(
        self, status: str | None = None, destination: str | None = None, limit: int = 100
    ) -> list[OutboxRow]:
        """Documents, newest first."""

    @abstractmethod
    def outbox_row(self, outbox_id: int) -> OutboxRow | None: ...

    @abstractmethod
    def outbox_content(self, outbox_id: int) -> bytes | None: ...

    @abstractmethod
    def outbox_retry(self, ids: Sequence[int] | None, actor: str) -> list[int]:
        """Dead letters (``ids``, or all when None) back to pending, due now,
        attempts counted afresh; audited. The ids brought back."""

    @abstractmethod
    def outbox_counts(self) -> list[tuple[str, str, int]]:
        """``(destination, status, count)``."""

    @abstractmethod
    def outbox_oldest_pending(self) -> float | None:
        """``created_at`` of the oldest document not yet delivered (not dead)."""

    @abstractmethod
    def outbox_pending(self, lane: str | None = None) -> int:
        """How many documents of ``lane`` are still pending."""

    # -- clearinghouse responses ----------------------------------------------
    @abstractmethod
    def response_known(self, scope: str, name: str, size: int) -> bool:
        """Whether a response file (by name and size) was journaled in ``scope``."""
