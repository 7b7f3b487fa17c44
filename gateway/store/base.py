"""The store interface: what the daemon, workers, one-shot runs and operator
commands need.

Backends (SQLite, PostgreSQL) implement :class:`Store`; its parts live in
their own modules — :class:`~gateway.store.submissions.SubmissionStore`
(claims and statements as submissions, their events, operators'
resolutions) and :class:`~gateway.store.outbox.DeliveryStore` (batching and
the outbox) — so a new concern adds a module, not a longer base class.
Every method is one transaction. Everything a backend must guarantee is
said here and in those modules:

* :meth:`Store.journal` stores raw messages durably (committed and synced
  before it returns) and deduplicates: the same bytes in the same scope
  (clinic of the channel, else sender) are one message, and the resend gets
  the stored reply back;
* :meth:`Store.claim` hands each received message to one worker at a time,
  atomically across threads, processes and (PostgreSQL) machines, with a
  lease: a message held by a dead worker returns to the pool when its lease
  expires;
* :meth:`Store.complete` writes a worker's results in one transaction, and
  only while the worker still holds the message, so results are never
  written twice;
* a claims row is one submission, unique per ``(clinic, CLM01, payer place,
  version)``; :meth:`Store.complete` applies the one duplicate rule
  (:func:`gateway.store.submissions.decide`): an identical resend is not
  billed again, changed content for a CLM01 already sent is held for an
  operator (:meth:`Store.resolve`) unless the payer rejected it;
* every status change of a claim or statement is an event
  (:meth:`Store.events`, :meth:`Store.record_transition`);
* work carries a *lane*: None for the daemon, ``oneshot:<folder>`` for a
  ``gateway process`` run; claiming, batching and dispatching take one lane's
  work only;
* :meth:`Store.complete` posts a response message's documents (TA1, 999,
  277CA, 835) in the same transaction (:class:`gateway.store.remits.RemitStore`):
  a remit posts whole or not at all, once (by content hash and by TRN02 +
  payer id), and every claim it moves gets an event and ledger entries;
* control numbers are allocated from the store and never handed out twice.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from gateway.messages import RecordUpdate
from gateway.store.accounts import AccountStore
from gateway.store.cycles import CycleStore
from gateway.store.outbox import DeliveryStore
from gateway.store.remits import RemitStore
from gateway.store.submissions import NewClaim, NewStatement, Packed, SubmissionStore

if TYPE_CHECKING:
    from gateway.documents import ControlNumbers


class StoreUnavailable(RuntimeError):
    """The database cannot be reached (the message names where, never a password)."""


class Status(StrEnum):
    """Per-message stage. ``received`` is the work queue; ``claimed`` and
    ``batched`` are on their way (claims or statements waiting for the
    batcher, or in a document not yet delivered); ``parsed``, ``coded``,
    ``delivered`` and ``duplicate`` (everything in it was already billed) are
    final; ``quarantined`` and ``dead`` need a person."""

    RECEIVED = "received"
    PARSED = "parsed"
    CODED = "coded"
    CLAIMED = "claimed"
    BATCHED = "batched"
    DELIVERED = "delivered"
    DUPLICATE = "duplicate"
    QUARANTINED = "quarantined"
    DEAD = "dead"


#: statuses a message can end in after a worker processed it
PROCESSED = frozenset({Status.PARSED, Status.CODED, Status.CLAIMED, Status.BATCHED, Status.DELIVERED, Status.DUPLICATE})
NEEDS_PERSON = frozenset({Status.QUARANTINED, Status.DEAD})
#: a message here still has work ahead of it in the gateway
IN_PROGRESS = frozenset({Status.RECEIVED, Status.CLAIMED, Status.BATCHED})


@dataclass(frozen=True)
class NewMessage:
    """A message for the journal, with what sniffing told about it."""

    raw: bytes
    sha256: str
    scope: str
    source: str
    received_at: float
    name: str | None = None
    channel_clinic: str | None = None
    clinic_id: str | None = None
    format: str | None = None
    sender: str | None = None
    control_id: str | None = None
    message_type: str | None = None
    ack: bytes | None = None
    status: Status = Status.RECEIVED
    findings: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Journaled:
    """What the journal did with one message."""

    message_id: int
    duplicate: bool
    ack: bytes | None
    status: str
    control_id_reused: bool = False


@dataclass(frozen=True)
class ClaimedMessage:
    """A message a worker holds (until ``lease_expires``)."""

    id: int
    raw: bytes
    source: str
    name: str | None
    channel_clinic: str | None
    received_at: float
    attempts: int


@dataclass
class EncounterOutcome:
    idx: int
    clinic_id: str
    visit: str | None
    status: Status
    #: the encounter JSON (text or packed)
    encounter: str | Packed
    findings: list[dict[str, Any]]
    claims: list[NewClaim] = field(default_factory=list)
    statements: list[NewStatement] = field(default_factory=list)


@dataclass
class Outcome:
    """A worker's result for one message, written by :meth:`Store.complete`."""

    message_id: int
    status: Status
    findings: list[dict[str, Any]] = field(default_factory=list)
    clinic_id: str | None = None
    format: str | None = None
    sender: str | None = None
    control_id: str | None = None
    message_type: str | None = None
    encounters: list[EncounterOutcome] = field(default_factory=list)
    updates: list[RecordUpdate] = field(default_factory=list)
    latency: float | None = None
    #: response documents to post (:class:`gateway.posting.ResponseItem`)
    responses: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class Completed:
    """What :meth:`Store.complete` stored for one message: its status, claims
    created, claims that were identical resends, claims held for an operator."""

    message_id: int
    status: str
    claims: int
    duplicate_claims: int
    held_claims: int = 0


@dataclass(frozen=True)
class MessageRow:
    """A message as operators see it (no raw bytes unless asked for)."""

    id: int
    status: str
    clinic_id: str | None
    source: str
    name: str | None
    format: str | None
    sender: str | None
    control_id: str | None
    message_type: str | None
    sha256: str
    size: int
    attempts: int
    received_at: float
    updated_at: float
    processed_at: float | None
    claimed_by: str | None
    findings: list[dict[str, Any]]


@dataclass(frozen=True)
class MessageReport:
    """A message, its encounters and the ``(kind, status)`` of its items."""

    message: MessageRow
    encounters: list[dict[str, Any]]
    items: list[tuple[str, str]]


@dataclass(frozen=True)
class MessageFilter:
    id: int | None = None
    status: str | None = None
    clinic_id: str | None = None
    since: float | None = None
    until: float | None = None
    limit: int = 100


@dataclass(frozen=True)
class Lease:
    """A named lease (e.g. ``delivery:<destination>``) held by ``owner`` until
    ``expires``. ``token`` goes up each time the lease changes hands: a fencing
    token to store next to work done under the lease."""

    name: str
    owner: str
    token: int
    acquired_at: float
    expires: float


@dataclass(frozen=True)
class Pruned:
    """What :meth:`Store.prune` did: messages whose raw bytes were removed."""

    ids: list[int]
    bytes: int


@dataclass(frozen=True)
class AuditEntry:
    message_id: int | None
    at: float
    actor: str
    action: str
    detail: dict[str, Any]


class Store(SubmissionStore, DeliveryStore, RemitStore, AccountStore, CycleStore, ABC):
    """One durable store; a backend per database. Also a RecordLookup.

    Every abstract method here and in the mixed-in interfaces
    (:class:`gateway.store.submissions.SubmissionStore`,
    :class:`gateway.store.outbox.DeliveryStore`,
    :class:`gateway.store.remits.RemitStore`,
    :class:`gateway.store.cycles.CycleStore`) is one transaction, safe to
    run again after a lost connection: :class:`gateway.store.retry.RetryingStore`
    wraps each of them on PostgreSQL. Add a method as an abstract method of the
    interface and it is covered."""

    dialect: str

    # -- journal and work queue --------------------------------------------
    @abstractmethod
    def journal(self, items: Sequence[NewMessage], actor: str = "source", lane: str | None = None) -> list[Journaled]:
        """Durably store ``items`` in one transaction; duplicates come back
        with ``duplicate=True``, the first message's reply and its status.
        New messages go into ``lane`` (None: the daemon's); a duplicate still
        waiting for a worker, and held by nobody, moves into ``lane``."""

    @abstractmethod
    def claim(self, worker: str, limit: int, lease: float, lane: str | None = None) -> list[ClaimedMessage]:
        """Atomically take up to ``limit`` received messages of ``lane`` nobody holds."""

    @abstractmethod
    def renew(self, worker: str, ids: Iterable[int], lease: float) -> int:
        """Extend the lease on messages ``worker`` still holds; how many."""

    @abstractmethod
    def release(self, worker: str, ids: Iterable[int] | None, failed: bool = False) -> int:
        """Give messages (``ids``, or all ``worker`` holds) back to the pool
        unprocessed: at shutdown or after the worker died (the attempt does not
        count), or ``failed`` after an unexpected error (it does)."""

    @abstractmethod
    def message_holders(self, lane: str | None = None) -> list[str]:
        """Workers holding received messages of ``lane``."""

    @abstractmethod
    def complete(self, worker: str, outcomes: Sequence[Outcome]) -> list[Completed]:
        """Store results in one transaction; outcomes for messages the worker
        no longer holds are dropped (another worker owns them now)."""

    # -- records (RecordLookup) ----------------------------------------------
    @abstractmethod
    def get(self, clinic_id: str, kind: str, key: str) -> Any | None:
        """What earlier messages taught (see :class:`gateway.messages.RecordLookup`)."""

    # -- operations ----------------------------------------------------------
    @abstractmethod
    def counts(self) -> list[tuple[str | None, str, int]]:
        """``(clinic, status, count)`` for every pair present."""

    @abstractmethod
    def oldest_pending(self) -> float | None:
        """``received_at`` of the oldest message still in the work queue."""

    @abstractmethod
    def oldest_in_progress(self) -> float | None:
        """``received_at`` of the oldest message not yet final (:data:`IN_PROGRESS`:
        in the queue, or with claims or statements not yet delivered)."""

    @abstractmethod
    def list_messages(self, flt: MessageFilter) -> list[MessageRow]: ...

    @abstractmethod
    def message(self, message_id: int) -> MessageRow | None: ...

    @abstractmethod
    def raw(self, message_id: int) -> bytes | None: ...

    @abstractmethod
    def encounters(self, message_id: int) -> list[dict[str, Any]]:
        """Stored encounters of a message: idx, visit, status, findings, claim ids."""

    @abstractmethod
    def encounter_json(self, message_id: int, idx: int) -> dict[str, Any] | None:
        """The stored canonical encounter (patient data: for operators who ask)."""

    @abstractmethod
    def audit_trail(self, message_id: int) -> list[AuditEntry]: ...

    @abstractmethod
    def reports(self, message_ids: Sequence[int]) -> list[MessageReport]:
        """For a run's summary: each message with its encounters (idx, visit,
        status, findings) and the statuses of its claims and statements."""

    @abstractmethod
    def reprocess(self, message_id: int, actor: str, reason: str = "", lane: str | None = None) -> bool:
        """Put a message back in the work queue (in ``lane`` when given, else
        its own); audited. Its claims and statements that never left the
        gateway (created, held, failed, discarded, superseded) and their events
        are dropped and rebuilt. False when it does not exist, its raw bytes
        were pruned, or something of it was already batched or sent."""

    @abstractmethod
    def add_audit(self, message_id: int | None, actor: str, action: str, detail: dict[str, Any] | None = None) -> None:
        """Record that ``actor`` did ``action`` (e.g. viewed raw bytes)."""

    @abstractmethod
    def claim_count(self) -> int: ...

    @abstractmethod
    def latency_histogram(self, bounds: Sequence[float]) -> tuple[list[int], float, int]:
        """Received-to-processed seconds: cumulative counts per upper bound,
        sum and count (a Prometheus histogram)."""

    # -- leases (one owner at a time across nodes) -----------------------------
    @abstractmethod
    def try_lease(self, name: str, owner: str, ttl: float) -> Lease | None:
        """Take or renew lease ``name`` for ``ttl`` seconds; None while another
        owner holds it unexpired. Atomic across processes and nodes."""

    @abstractmethod
    def release_lease(self, name: str, owner: str) -> bool:
        """Let go of ``name`` if ``owner`` holds it (others may take it at once)."""

    @abstractmethod
    def leases(self) -> list[Lease]:
        """Every lease ever taken (expired ones included), by name."""

    # -- control numbers ---------------------------------------------------------
    @abstractmethod
    def next_number(self, scope: str, counter: str) -> int:
        """Allocate the next control number (first is 1), committed before it
        is returned: never handed out twice, across processes and nodes."""

    @abstractmethod
    def current_number(self, scope: str, counter: str) -> int:
        """The last number allocated (0 when none was)."""

    @abstractmethod
    def adopt_numbers(self, values: Mapping[tuple[str, str], int]) -> None:
        """Raise each ``(scope, counter)`` to at least the given value (never
        lowers one): carrying counters over from a backup or an older file."""

    @abstractmethod
    def number_values(self) -> dict[tuple[str, str], int]:
        """Every counter's last value."""

    def control_numbers(self) -> ControlNumbers:
        """ISA13/GS06/ST02 allocation from this store's ``control_numbers``
        table: one sequence per scope, shared by ``gateway run``, ``gateway
        process`` and every node of a PostgreSQL deployment."""
        from gateway.control_numbers import StoreControlNumbers

        return StoreControlNumbers(self)

    # -- retention -------------------------------------------------------------
    @abstractmethod
    def prune_count(self, older_than: float, statuses: Iterable[str]) -> tuple[int, int]:
        """How many messages (and bytes) :meth:`prune` would remove."""

    @abstractmethod
    def prune(
        self, older_than: float, statuses: Iterable[str], actor: str, limit: int | None = None, archive: Any = None
    ) -> Pruned:
        """Remove the raw bytes of messages in ``statuses`` processed before
        ``older_than`` (epoch seconds); metadata, hashes (deduplication),
        encounters, claims and the audit trail stay, and each prune is audited.
        ``archive(rows)`` is called with ``(id, clinic, sha256, received_at, raw)``
        tuples before they are removed, inside the transaction."""

    @abstractmethod
    def schema_version(self) -> int:
        """The latest migration applied."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
