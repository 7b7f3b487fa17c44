"""Claims and statements in the store: one row per *submission*.

Claim identity (docs/architecture.md, "Claim identity"): CLM01 (``Claim.id``,
deterministic from clinic, visit and part) names a claim's whole story. A
stored claim row is one submission, keyed by ``(clinic_id, clm01, payer_seq,
version)``: ``payer_seq`` 1/2/3 is the payer's place P/S/T (``coverage.order``),
``version`` 1 the first original and +1 for each later submission (an original
sent again after a 999/277CA rejection, a replacement with frequency 7, a void
with frequency 8). Statements are keyed by ``(clinic_id, statement_id,
version)`` (``payer_seq`` is always 1). Each row keeps its frequency code, the
digest of its content and a :class:`ClaimStatus`; every change of status is an
event in ``claim_events`` / ``statement_events``.

This module holds the types and the pure parts (the content digest, the
duplicate rule); the SQL is in :mod:`gateway.store.sql_submissions`.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

#: ``claims`` or ``statements`` (the same words as ``Document.kind``)
Kind = Literal["claims", "statements"]
KINDS: tuple[Kind, ...] = ("claims", "statements")


class ClaimStatus(StrEnum):
    """Where one submission of a claim (or statement) stands.

    Used now (claims and statements):

    * ``created`` — built by a worker (or an operator's resolution), waiting
      for the batcher;
    * ``batched`` — in an outbox document (``outbox_id``);
    * ``delivered`` — that document arrived at its destination;
    * ``held`` — changed content for a CLM01 (statement id) already sent:
      waiting for an operator (``gateway claims resolve``); never batched;
    * ``superseded`` — replaced before it was ever batched (by newer held
      content, or by an operator's ``--replace`` of a never-batched original);
    * ``discarded`` — a held submission the operator dropped;
    * ``voided`` — a void (frequency 8, its own row) was created for it, or it
      was cancelled before it was ever sent;
    * ``failed`` — the renderer could not write it (see ``batch.render_failed``
      in the log); reprocess its message once fixed.

    A next payer's submission (secondary, tertiary; issue 14), created when
    the earlier payer's 835 posts (:mod:`gateway.store.sql_secondary`):

    * ``waiting`` — built, waiting for the payer's ``delay_days`` (or a
      crossover) before the batcher releases it to ``created``; an 835 of
      its payer may post on it (it then never goes out);
    * ``crossover`` — the earlier payer forwarded the claim to this payer
      (CLP02 19/20/21, NM1*TT): never sent, waits for this payer's 835.

    Reserved for the closed loop (issue 13; claims only), after ``delivered``:
    ``accepted_999`` / ``rejected_999``, ``acknowledged_277`` /
    ``rejected_277``, ``paid`` / ``partially_paid`` / ``denied`` /
    ``reversed`` (835), ``patient_due`` (the last payer answered and left the
    patient a balance: billed to the guarantor account, :mod:`gateway.store.accounts`),
    ``closed`` (balance 0, the patient's too). A submission rejected by a 999
    or 277CA was never accepted by the payer: changed content for its CLM01
    goes out again as a new original version without an operator.
    """

    CREATED = "created"
    BATCHED = "batched"
    DELIVERED = "delivered"
    HELD = "held"
    SUPERSEDED = "superseded"
    DISCARDED = "discarded"
    VOIDED = "voided"
    FAILED = "failed"
    ACCEPTED_999 = "accepted_999"
    REJECTED_999 = "rejected_999"
    ACKNOWLEDGED_277 = "acknowledged_277"
    REJECTED_277 = "rejected_277"
    PAID = "paid"
    PARTIALLY_PAID = "partially_paid"
    DENIED = "denied"
    REVERSED = "reversed"
    PATIENT_DUE = "patient_due"
    CLOSED = "closed"
    WAITING = "waiting"
    CROSSOVER = "crossover"


#: rejected by a 999 or 277CA: the payer never accepted it
REJECTED = frozenset({ClaimStatus.REJECTED_999, ClaimStatus.REJECTED_277})
#: not submissions (nothing of theirs left, or will leave, the gateway)
NOT_SENT = frozenset({ClaimStatus.HELD, ClaimStatus.SUPERSEDED, ClaimStatus.DISCARDED})
#: a message whose items are all in these needs nothing more from the gateway
SETTLED_ITEM = frozenset(set(ClaimStatus) - {ClaimStatus.CREATED, ClaimStatus.BATCHED, ClaimStatus.WAITING})


#: text bytes a :class:`Packer` gathers into one zlib block
PACK_BLOCK = 64 * 1024


class _Block:
    """Texts packed together: ``parts`` (their UTF-8) while the block fills,
    then ``data`` (zlib level 1 of them all) and ``ends`` (where each ends)."""

    __slots__ = ("data", "ends", "packer", "parts", "size")

    def __init__(self, packer: Packer | None) -> None:
        self.packer = packer
        self.parts: list[bytes] | None = []
        self.size = 0
        self.data = b""
        self.ends: list[int] = []

    def seal(self) -> None:
        parts = self.parts or []
        self.data = zlib.compress(b"".join(parts), 1)
        end = 0
        for p in parts:
            end += len(p)
            self.ends.append(end)
        self.parts = None

    def text(self, i: int) -> str:
        if self.parts is not None:  # still filling: the text as it is
            return self.parts[i].decode()
        raw = self.packer.opened(self) if self.packer is not None else zlib.decompress(self.data)
        return raw[self.ends[i - 1] if i else 0 : self.ends[i]].decode()


class Packer:
    """Packs JSON texts a block of about :data:`PACK_BLOCK` bytes at a time:
    one ``zlib.compress`` per block, not per text (for a claim's 3 KB its
    set-up was most of the cost), and a block read back in order is
    decompressed once (the last block opened is kept). One packer per
    worker and kind of text (texts read back in the order they were packed)."""

    __slots__ = ("_filling", "_opened", "block")

    def __init__(self, block: int = PACK_BLOCK) -> None:
        self.block = block
        self._filling: _Block | None = None
        self._opened: tuple[_Block | None, bytes] = (None, b"")

    def __call__(self, text: str) -> Packed:
        b = self._filling
        if b is None:
            b = self._filling = _Block(self)
        data = text.encode()
        b.parts.append(data)  # type: ignore[union-attr]
        b.size += len(data)
        packed = Packed.__new__(Packed)
        packed.block, packed.i = b, len(b.parts) - 1  # type: ignore[arg-type]
        if b.size >= self.block:
            b.seal()
            self._filling = None
        return packed

    def opened(self, block: _Block) -> bytes:
        """``block``'s texts, decompressed (kept until another block is read)."""
        last, raw = self._opened
        if last is not block:
            raw = zlib.decompress(block.data)
            self._opened = (block, raw)
        return raw


class Packed:
    """JSON text kept zlib-compressed from when a worker builds it until the
    store writes it, one row at a time: a batch file's encounters and claims
    are about 4x its size as text, a fraction of that packed. Made by a
    :class:`Packer` (texts share blocks) or alone (``Packed(text)``: a block
    of its own). ``str()`` is the text."""

    __slots__ = ("block", "i")

    def __init__(self, text: str) -> None:
        self.block = _Block(None)
        self.block.parts = [text.encode()]
        self.block.seal()
        self.i = 0

    def __str__(self) -> str:
        return self.block.text(self.i)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Packed) and str(other) == str(self)

    def __hash__(self) -> int:
        return hash(str(self))


@dataclass(frozen=True)
class NewClaim:
    """A claim a worker built, for :meth:`Store.complete`: CLM01, payer id and
    place (``payer_seq``), total charge, the Claim JSON (text or packed) and its
    digest, the guarantor account it is owed on (:func:`gateway.claims.guarantor_account`)
    and what the worker's renderer worked out for it (``rendered``:
    :class:`gateway.delivery.batcher.ClaimPlacer`), if anything."""

    clm01: str
    payer_id: str | None
    total_charge: str
    body: str | Packed
    payer_seq: int = 1
    digest: str = ""
    account: str | None = None
    rendered: str | Packed | None = None


@dataclass(frozen=True)
class NewStatement:
    """A statement a worker built: its id, the Statement JSON (text or packed) and its digest."""

    statement_id: str
    body: str | Packed
    digest: str = ""


#: statement fields that follow from the day it is built, not from what is owed
_STATEMENT_DATED = ("statement_date", "due_date", "aging")


def content_digest(kind: Kind, body: str) -> str:
    """The digest that tells an identical resend from changed content.

    Claims: SHA-256 of the Claim JSON as the pipeline wrote it (an original,
    frequency 1). Statements: SHA-256 of the Statement JSON without its dates
    and aging, so the same visit processed on another day is the same
    statement."""
    if kind == "claims":
        return hashlib.sha256(body.encode()).hexdigest()
    data = json.loads(body)
    for k in _STATEMENT_DATED:
        data.pop(k, None)
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class Submission:
    """One stored submission (a claims or statements row) as readers see it."""

    row: int
    kind: Kind
    clinic_id: str
    key: str
    payer_seq: int
    version: int
    frequency_code: str
    status: str
    digest: str | None
    message_id: int
    outbox_id: int | None
    original_reference: str | None
    payer_claim_id: str | None
    payer_id: str | None
    total_charge: str | None
    lane: str | None
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class ItemEvent:
    """One event in a claim's (statement's) story: ``kind`` says what happened
    (``created``, ``held``, ``batched``, ``delivered``, ``replaced``…),
    ``status`` the status the submission moved to (None: no change),
    ``source`` the document that caused it (``message:42``, ``outbox:7``)."""

    row: int
    version: int
    payer_seq: int
    at: float
    kind: str
    status: str | None
    source: str | None
    actor: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class SubmissionFilter:
    clinic_id: str | None = None
    status: str | None = None
    payer_id: str | None = None
    since: float | None = None
    limit: int = 100


def message_status(items: set[str], encounters: list[str]) -> str:
    """A processed message's status from its claims' and statements' statuses
    (``items``) and its encounters' statuses: ``claimed`` while an item waits
    for the batcher, ``batched`` while one is in a document on its way,
    ``delivered`` once something of it was sent, ``quarantined`` when what is
    left needs a person (a held or unrenderable item, every encounter
    quarantined), else ``duplicate`` (everything was already billed by other
    messages, or an operator discarded it)."""
    if ClaimStatus.CREATED in items:
        return "claimed"
    if ClaimStatus.BATCHED in items:
        return "batched"
    if items - NOT_SENT - {ClaimStatus.FAILED}:
        return "delivered"
    if items & {ClaimStatus.HELD, ClaimStatus.FAILED}:
        return "quarantined"
    if encounters and all(e == "quarantined" for e in encounters):
        return "quarantined"
    return "duplicate"


# -- the duplicate rule (pure) ---------------------------------------------------
@dataclass
class Known:
    """One stored (or, within a batch, just decided) submission of a key, as
    the duplicate rule sees it. ``row`` is None until the row is inserted."""

    row: int | None
    version: int
    status: str
    digest: str | None


@dataclass(frozen=True)
class Decision:
    """What to do with a new claim (statement) for a key with ``known``
    submissions:

    * ``create`` — a new original (``version``): nothing known for the key, or
      the payer rejected the latest submission (999/277CA) — ``after`` is it;
    * ``duplicate`` — an identical resend of ``after``: not billed again;
    * ``hold`` — changed content for a key already sent: stored as ``version``
      with status ``held`` for an operator; older held rows (``supersedes``)
      become ``superseded``.
    """

    action: Literal["create", "duplicate", "hold"]
    version: int
    after: Known | None = None
    supersedes: tuple[Known, ...] = ()


def decide(known: list[Known], digest: str) -> Decision:
    """The one duplicate rule, for ``gateway run`` and ``gateway process``
    alike (see :class:`Decision`)."""
    if not known:
        return Decision("create", 1)
    last = max(known, key=lambda k: k.version)
    sent = [k for k in known if k.status not in NOT_SENT]
    current = max(sent, key=lambda k: k.version) if sent else None
    for k in (last, current):
        if k is not None and k.digest == digest:
            return Decision("duplicate", k.version, k)
    if current is None or current.status in REJECTED:
        return Decision("create", last.version + 1, current)
    held = tuple(k for k in known if k.status == ClaimStatus.HELD)
    return Decision("hold", last.version + 1, current, held)


# -- operators' resolutions -------------------------------------------------------
#: what an operator can do with held content, per kind
ACTIONS: dict[str, tuple[str, ...]] = {"claims": ("replace", "void", "discard"), "statements": ("replace", "discard")}


class ResolveError(ValueError):
    """An operator's resolution cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class Resolution:
    """What :meth:`SubmissionStore.resolve` did: the held submission after the
    action, the earlier submission it concerned, and a new submission (a void)
    when one was created."""

    kind: Kind
    action: str
    held: Submission
    earlier: Submission | None
    created: Submission | None = None


class SubmissionStore(ABC):
    """The claims' and statements' part of the store interface. Every method
    is one transaction; ``kind`` is ``claims`` or ``statements`` and ``key``
    the CLM01 or statement id."""

    @abstractmethod
    def submissions(self, kind: Kind, clinic_id: str, key: str, payer_seq: int | None = None) -> list[Submission]:
        """Every submission of ``key`` in ``clinic_id`` (for one payer place, or
        all), by payer place and version: the claim's whole story; the last
        one of a place is its latest submission."""

    @abstractmethod
    def list_submissions(self, kind: Kind, flt: SubmissionFilter) -> list[Submission]:
        """Submissions matching ``flt``, newest first."""

    @abstractmethod
    def submission_counts(self) -> list[tuple[str, str, str, int]]:
        """``(kind, clinic, status, count)`` for every combination present."""

    @abstractmethod
    def events(self, kind: Kind, clinic_id: str, key: str) -> list[ItemEvent]:
        """What happened to ``key``: every event of every submission, oldest
        first, in one query."""

    @abstractmethod
    def record_transition(
        self,
        kind: Kind,
        row: int,
        event: str,
        *,
        status: str | None = None,
        expect: frozenset[str] | None = None,
        source: str | None = None,
        actor: str = "gateway",
        detail: dict[str, Any] | None = None,
        payer_claim_id: str | None = None,
    ) -> bool:
        """Record ``event`` on submission ``row`` and, when ``status`` is given,
        move it there — only if its status is in ``expect`` (when given);
        otherwise nothing is written and False comes back. ``source`` names
        the document that caused it (``999:<message id>``, ``835:<message
        id>``…); ``payer_claim_id`` (the payer's claim control number, from a
        277CA REF*1K or 835 CLP07) is kept on the row. The message's status
        follows its items. The one way to record a transition outside the
        batch paths (complete, cut, delivery), which write their events in
        their own transactions."""

    @abstractmethod
    def resolve(
        self,
        kind: Kind,
        clinic_id: str,
        key: str,
        action: str,
        actor: str,
        *,
        reason: str = "",
        icn: str | None = None,
        payer_seq: int | None = None,
    ) -> Resolution:
        """An operator's decision on held content for ``key`` (audited):

        * ``replace`` — the held content goes out: as the original when the
          earlier submission was never batched (that one is superseded) or
          was rejected by a 999/277CA since (it stays as it is), else as a
          replacement (claims: frequency 7 quoting the payer's claim control
          number, ``icn`` or the one on record; statements: a corrected
          statement under a new file name);
        * ``void`` (claims) — a void (frequency 8) of the earlier submission,
          quoting the ICN (an earlier one never sent, or rejected, is simply
          marked voided); the held content is discarded;
        * ``discard`` — the held content is dropped.

        Raises :class:`ResolveError` with what to do when it cannot be done
        (nothing held, no ICN known for a replacement or void, several payer
        places held without ``payer_seq``)."""
