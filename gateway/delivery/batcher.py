"""The batcher: claims and statements the workers stored become documents in
the outbox.

Claims wait per destination — the clinic's ``claims_to``, or the payer
directory's ``destination`` for the claim's payer — and statements per the
clinic's ``statements_to``. A batch is cut when ``batch_max_items`` wait for
one destination or the oldest has waited ``batch_max_age_s``. The
destination's renderer turns the batch into documents (one 837 interchange
per clinic, with ISA13/GS06/ST02 from the control-number allocator; PDFs per
account or one print batch) and, in one transaction, the documents go into
the outbox and their claims and statements move to ``batched`` — only if
they are still waiting (an operator's reprocess in between aborts the cut,
which is retried on the next tick).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, overload

from pydantic import BaseModel, ConfigDict

from gateway import logging as glog
from gateway.app import Gateway
from gateway.claims import merge_statements
from gateway.documents import ControlNumbers, Document, MemoryControlNumbers, RenderContext
from gateway.model import Claim, SecondaryBilling, Statement
from gateway.secondary import DEFAULT_BILLING
from gateway.store import Store
from gateway.store.outbox import BatchCut
from gateway.store.submissions import Kind, content_digest
from gateway.x12 import SegmentStream, X12SyntaxError

log = glog.get("batcher")


class _ClaimKey(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str
    clinic_id: str


class StoredClaim:
    """What cutting needs of a waiting claim besides rendering it (its
    CLM01 and clinic: which document carries it), its stored JSON and what
    a worker's renderer already worked out for it (:class:`ClaimPlacer`:
    the renderer's name and data), if anything.

    A claim rendered from its JSON is read once: its CLM01 and clinic are
    taken from that read (:meth:`StoredItems.__getitem__`), and read from
    the JSON on their own only when asked for before it (a claim the
    renderer never read)."""

    __slots__ = ("_clinic_id", "_id", "body", "placed")

    def __init__(self, id: str | None, clinic_id: str | None, body: str, placed: tuple[str, Any] | None = None) -> None:
        self._id, self._clinic_id = id, clinic_id
        self.body = body
        self.placed = placed

    @property
    def id(self) -> str:
        if self._id is None:
            self._read_key()
        return self._id  # type: ignore[return-value]

    @property
    def clinic_id(self) -> str:
        if self._clinic_id is None:
            self._read_key()
        return self._clinic_id  # type: ignore[return-value]

    def _read_key(self) -> None:
        key = _ClaimKey.model_validate_json(self.body)
        self._id, self._clinic_id = key.id, key.clinic_id

    def read(self, claim: Claim) -> None:
        """``claim`` was validated from :attr:`body`: its CLM01 and clinic are these."""
        if self._id is None:
            self._id, self._clinic_id = claim.id, claim.clinic_id

    @classmethod
    def of(cls, body: str, rendered: str | None = None) -> StoredClaim:
        """``rendered`` counts only when it was placed from this very ``body``
        (its digest): blocks left beside a claim whose JSON changed since are
        never billed, whichever writer changed it."""
        if rendered:
            try:
                claim_id, clinic_id, renderer, data, digest = json.loads(rendered)
                if digest == content_digest("claims", body):
                    return cls(str(claim_id), str(clinic_id), body, (str(renderer), data))
            except (ValueError, TypeError):
                pass  # not ours: read the claim
        return cls(None, None, body)


class StoredItems(Sequence[Any]):
    """Items as the store keeps them (JSON), each validated when it is read:
    a renderer that reads a batch item by item (the 837's) holds one model
    at a time, not a batch of 500 claims (about 22 KB each as models).
    ``placed(i)``: (CLM01, clinic id, data) a worker stored for item ``i``
    with the renderer ``renderer`` (see :class:`ClaimPlacer`), else None; a
    renderer that knows the data need not read the item."""

    def __init__(
        self, model: type[BaseModel], bodies: list[str], claims: Sequence[StoredClaim] = (), renderer: str = ""
    ) -> None:
        self.model, self.bodies = model, bodies
        self._claims, self._renderer = claims, renderer

    def placed(self, i: int) -> tuple[str, str, Any] | None:
        if not self._claims:
            return None
        c = self._claims[i]
        if c.placed is None or c.placed[0] != self._renderer:
            return None
        return c.id, c.clinic_id, c.placed[1]

    def __len__(self) -> int:
        return len(self.bodies)

    @overload
    def __getitem__(self, i: int) -> Any: ...
    @overload
    def __getitem__(self, i: slice) -> list[Any]: ...
    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            return [self._read(j) for j in range(len(self.bodies))[i]]
        return self._read(i)

    def _read(self, i: int) -> Any:
        item = self.model.model_validate_json(self.bodies[i])
        if self._claims:
            self._claims[i].read(item)
        return item


_JSON = json.JSONEncoder(separators=(",", ":"))
#: a claim route of :class:`ClaimPlacer`: renderer name, its ``place``, the context, its memo
_Route = tuple[str, Callable[..., Any], RenderContext, dict[str, Any]]


def claim_destination(gateway: Gateway, clinic_id: str, payer_id: str | None) -> tuple[str | None, list[Any]]:
    """Where a claim of ``clinic_id`` for ``payer_id`` goes: the payer
    directory's destination (``gateway_claim_destination``), else the
    clinic's ``claims_to``; None for an unknown clinic. With the plugins
    that failed."""
    clinic = gateway.clinics.get(clinic_id)
    if clinic is None:
        return None, []
    failed: list[Any] = []
    if payer_id:
        dest, failed = gateway.host.first_result("gateway_claim_destination", payer_id=payer_id, clinic=clinic)
        if isinstance(dest, str) and dest in gateway.config.destinations:
            return dest, failed
    return clinic.config.claims_to, failed


class ClaimPlacer:
    """A worker's side of rendering: what the renderer of a claim's
    destination can work out for the claim alone (its ``place``: the 837's
    2000A/2000B/2000C blocks and 2300 loop), stored with the claim so the
    batcher does not read and render it again. The stored text is
    ``[CLM01, clinic id, renderer name, data, digest of the claim's JSON]``;
    at the cut the batcher uses it only for that same JSON, and the renderer
    only when its data is still good for the destination (settings, code),
    else the claim is rendered from its JSON as before."""

    def __init__(self, gateway: Gateway, clock: Callable[[], datetime] = lambda: datetime.now().astimezone()) -> None:
        self.gateway = gateway
        self.clock = clock
        #: per destination: what its renderer keeps between claims (``place``'s memo)
        self._memos: dict[str, dict[str, Any]] = {}
        #: (clinic, payer) → (renderer name, its place method, context, the renderer's memo), or None
        self._routes: dict[tuple[str, str | None], _Route | None] = {}

    def _route(self, clinic_id: str, payer_id: str | None) -> _Route | None:
        key = (clinic_id, payer_id)
        if key not in self._routes:
            route = None
            try:
                dest, failed = claim_destination(self.gateway, clinic_id, payer_id)
                renderer = self.gateway.renderer(dest) if dest is not None and not failed else None
                place = getattr(renderer, "place", None)
                if renderer is not None and callable(place) and getattr(renderer, "kind", "") == "claims":
                    ctx = RenderContext(created=self.clock(), config=self.gateway.config,
                                        control_numbers=MemoryControlNumbers(),
                                        settings=self.gateway.format_settings.get(dest),  # type: ignore[arg-type]
                                        clinics=self.gateway.clinics)  # fmt: skip
                    route = (str(renderer.name), place, ctx, self._memos.setdefault(dest, {}))
            except Exception:  # routing is the batcher's to report; nothing is placed
                route = None
            self._routes[key] = route
        return self._routes[key]

    def __call__(self, claim: Claim, clinic_id: str | None, digest: str) -> str | None:
        """The text to store with ``claim`` (of the encounter's ``clinic_id``,
        which routes it as the batcher will; ``digest``: of the JSON stored
        for it, :func:`gateway.store.submissions.content_digest`), or None."""
        route = self._route(clinic_id or claim.clinic_id, claim.payer.id)
        if route is None:
            return None
        name, place, ctx, memo = route
        try:
            data = place(claim, ctx, memo)
        except Exception:
            return None
        return None if data is None else _JSON.encode([claim.id, claim.clinic_id, name, data, digest])


#: seconds between two looks for next payers' claims due for release (a forced tick always looks)
RELEASE_EVERY_S = 5.0

#: (row id, message id, StoredClaim or Statement)
Row = tuple[int, int, Any]


@dataclass
class Waiting:
    """Items waiting for one destination."""

    ids: list[int] = field(default_factory=list)
    oldest: float = float("inf")


@dataclass(frozen=True)
class Cut:
    destination: str
    kind: str
    items: int
    documents: list[tuple[int, str]]


class Batcher:
    """Cuts batches for every destination that is due (see the module doc)."""

    def __init__(
        self,
        gateway: Gateway,
        store: Store,
        numbers: ControlNumbers | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now().astimezone(),
        lane: str | None = None,
        publish: Callable[[str], str] | None = None,
        scan: int | None = None,
    ) -> None:
        self.gateway = gateway
        self.store = store
        #: the store's shared allocator: ISA13 never repeats between nodes, runs and modes
        self.numbers = numbers or store.control_numbers()
        self.clock = clock
        #: whose items this batcher takes (None: the daemon's)
        self.lane = lane
        #: the outbox destination for a configured one (a one-shot run's own folder)
        self.publish = publish or (lambda dest: dest)
        #: waiting items looked at per tick (None: all); a one-shot run of a
        #: million claims cuts them a slice at a time
        self.scan = scan
        self.delivery = gateway.config.delivery
        self._unrouted_logged: set[tuple[str, str]] = set()
        self._released_at = float("-inf")

    # -- where items go --------------------------------------------------
    def destination(self, kind: str, clinic_id: str, payer_id: str | None) -> str | None:
        clinic = self.gateway.clinics.get(clinic_id)
        if clinic is None:
            return None
        if kind != "claims":
            return clinic.config.statements_to
        dest, failed = claim_destination(self.gateway, clinic_id, payer_id)
        for f in failed:  # a plugin raised: the clinic's claims_to, and say so
            glog.event(log, "batcher.route_failed", logging.WARNING, clinic=clinic_id, plugin=f.plugin)
        return dest

    def billing(self, clinic_id: str, payer_id: str | None) -> SecondaryBilling | None:
        """The payer directory's ``secondary:`` settings for a next payer
        (``gateway_secondary_billing``); None when a plugin failed (the claim waits)."""
        clinic = self.gateway.clinics.get(clinic_id)
        if clinic is None or not payer_id:
            return DEFAULT_BILLING
        found, failed = self.gateway.host.first_result("gateway_secondary_billing", payer_id=payer_id, clinic=clinic)
        for f in failed:
            glog.event(log, "batcher.secondary_billing_failed", logging.WARNING, clinic=clinic_id, plugin=f.plugin)
        if failed:
            return None
        return found if isinstance(found, SecondaryBilling) else DEFAULT_BILLING

    def release_next_payers(self) -> int:
        """Release every next payer's claim (secondary, tertiary) whose payer's
        ``delay_days`` since the earlier payer's 835 posted are over; how many."""
        now = self.clock().timestamp()
        released = 0
        for item in self.store.next_payer_waiting(self.lane):
            policy = self.billing(item.clinic_id, item.payer_id)
            if policy is None or now < item.created_at + policy.delay_days * 86400:
                continue
            detail = {"delay_days": policy.delay_days, "wait_for_crossover": policy.wait_for_crossover}
            if self.store.release_next_payer(item.row, claim_numbers=policy.prior_claim_number, detail=detail):
                released += 1
                glog.event(log, "batch.next_payer_released", clinic=item.clinic_id, row=item.row,
                           delay_days=policy.delay_days)  # fmt: skip
        return released

    def limits(self, destination: str) -> tuple[int, float]:
        d = self.delivery
        tuning = d.destinations.get(destination)
        items = tuning.batch_max_items if tuning and tuning.batch_max_items else d.batch_max_items
        age = tuning.batch_max_age_s if tuning and tuning.batch_max_age_s is not None else d.batch_max_age_s
        return items, age

    def waiting(self, kind: Kind) -> dict[str, Waiting]:
        out: dict[str, Waiting] = {}
        for item in self.store.waiting(kind, self.lane, self.scan):
            dest = self.destination(kind, item.clinic_id, item.payer_id)
            if dest is None:
                if (kind, item.clinic_id) not in self._unrouted_logged:
                    self._unrouted_logged.add((kind, item.clinic_id))
                    glog.event(log, "batch.no_destination", logging.WARNING, kind=kind, clinic=item.clinic_id)
                continue
            w = out.setdefault(dest, Waiting())
            w.ids.append(item.row)
            w.oldest = min(w.oldest, item.created_at)
        return out

    # -- cutting ---------------------------------------------------------
    def tick(self, force: bool = False) -> list[Cut]:
        """Cut every batch that is due (all waiting items when ``force``)."""
        cuts = []
        now = time.time()
        if force or now - self._released_at >= RELEASE_EVERY_S:
            self._released_at = now
            self.release_next_payers()
        kinds: tuple[Kind, ...] = ("claims", "statements")
        for kind in kinds:
            for dest, w in sorted(self.waiting(kind).items()):
                max_items, max_age = self.limits(dest)
                ids = w.ids
                while ids and (force or len(ids) >= max_items or now - w.oldest >= max_age):
                    chunk, ids = ids[:max_items], ids[max_items:]
                    cut = self.cut(kind, dest, chunk)
                    if cut is None:
                        break
                    cuts.append(cut)
        return cuts

    def _load(self, kind: Kind, ids: list[int]) -> list[Row]:
        """Statements as models; claims as their JSON (see :class:`StoredItems`)."""
        items = self.store.batch_items(kind, ids)
        if kind == "statements":
            return [(b.row, b.message_id, Statement.model_validate_json(b.body)) for b in items]
        return [(b.row, b.message_id, StoredClaim.of(b.body, b.rendered)) for b in items]

    def _items(self, kind: str, dest: str, rows: list[Row]) -> Sequence[Any]:
        """What the renderer is given for ``rows``."""
        if kind == "statements":
            return [r[2] for r in rows]
        claims = [r[2] for r in rows]
        renderer = str(getattr(self.gateway.renderer(dest), "name", ""))
        return StoredItems(Claim, [c.body for c in claims], claims, renderer)

    def render(
        self, kind: str, dest: str, items: Sequence[Any], numbers: ControlNumbers | None = None
    ) -> list[Document]:
        renderer = self.gateway.renderer(dest)
        ctx = RenderContext(
            created=self.clock(),
            config=self.gateway.config,
            control_numbers=numbers or self.numbers,
            settings=self.gateway.format_settings.get(dest),
            clinics=self.gateway.clinics,
        )
        return renderer.render(items, ctx)

    def cut(self, kind: Kind, dest: str, ids: list[int]) -> Cut | None:
        """Render the items ``ids`` waiting for ``dest`` and store the documents
        (:meth:`gateway.store.Store.cut`); None when the items changed meanwhile."""
        rows = self._load(kind, ids)
        rows, docs, failed = self._render_isolating(kind, dest, rows)
        links = link_items(kind, rows, docs)
        links_by_row = [(r[0], i) for r, i in zip(rows, links, strict=True)]
        controls: dict[int, tuple[str, str, str, str]] = {}
        if kind == "claims":
            found = [x12_controls(d) for d in docs]
            for r, i in zip(rows, links, strict=True):
                if (c := found[i].get(r[2].id)) is not None:
                    controls[r[0]] = c
        stored = self.store.cut(
            BatchCut(
                kind, self.publish(dest), docs, links_by_row, [r[0] for r in failed], lane=self.lane, controls=controls
            )
        )
        if stored is None:
            glog.event(log, "batch.aborted", logging.WARNING, destination=dest, kind=kind, reason="items changed")
            return None
        cut = Cut(self.publish(dest), kind, len(rows), stored)
        glog.event(log, "batch.cut", destination=dest, kind=kind, items=len(rows), documents=len(docs),
                   outbox=[i for i, _ in cut.documents], failed=len(failed))  # fmt: skip
        return cut

    def _render_isolating(self, kind: str, dest: str, rows: list[Row]) -> tuple[list[Row], list[Document], list[Row]]:
        """Render the batch; when that fails, find the rows that cannot be
        rendered (one by one, with throw-away control numbers) so one bad
        claim does not hold up the others. (rows, documents, failed rows)"""
        try:
            return rows, self.render(kind, dest, self._items(kind, dest, rows)), []
        except Exception:
            pass
        good, bad = [], []
        for r in rows:
            try:
                self.render(kind, dest, self._items(kind, dest, [r]), MemoryControlNumbers())
                good.append(r)
            except Exception as exc:
                bad.append(r)
                glog.event(log, "batch.render_failed", logging.ERROR, destination=dest, kind=kind, row=r[0],
                           message_id=r[1], error=type(exc).__name__)  # fmt: skip
        return good, self.render(kind, dest, self._items(kind, dest, good)) if good else [], bad


def x12_controls(doc: Document) -> dict[str, tuple[str, str, str, str]]:
    """CLM01 → (ISA13, GS06, ST02, ISA08) of the transaction set carrying it,
    read from an X12 claims document (empty for any other document)."""
    if doc.media_type != "application/edi-x12":
        return {}
    out: dict[str, tuple[str, str, str, str]] = {}
    isa13 = gs06 = st02 = partner = ""
    try:
        for seg in SegmentStream(doc.content):
            sid = seg.elements[0]
            if sid == "ISA":
                isa13, partner = seg.get(13).strip(), seg.get(8).strip()
            elif sid == "GS":
                gs06 = seg.get(6).strip()
            elif sid == "ST":
                st02 = seg.get(2).strip()
            elif sid == "CLM":
                out.setdefault(seg.get(1), (isa13, gs06, st02, partner))
    except X12SyntaxError:
        return {}
    return out


def link_items(kind: str, rows: list[Row], docs: list[Document]) -> list[int]:
    """For each row, the index of the document that carries it: by the
    document's ``refs`` (CLM01s per clinic; statement ids, or the merged
    account statement's id), else the first document of its clinic."""
    if not docs:
        return []
    by_ref: dict[tuple[str, str], int] = {}
    for i, d in enumerate(docs):
        for ref in d.refs:
            by_ref.setdefault((d.clinic_id, ref), i)
    merged: dict[str, str] = {}
    if kind == "statements":
        groups: dict[tuple[str, str], list[Statement]] = {}
        for _, _, st in rows:
            groups.setdefault((st.clinic_id, st.account_number), []).append(st)
        for group in groups.values():
            (m,) = merge_statements(group)
            merged.update({st.id: m.id for st in group})
    out = []
    for _, _, item in rows:
        keys: Iterable[str] = (item.id, merged.get(item.id, item.id))
        idx = next((by_ref[(item.clinic_id, k)] for k in keys if (item.clinic_id, k) in by_ref), None)
        if idx is None:
            idx = next((i for i, d in enumerate(docs) if d.clinic_id == item.clinic_id), 0)
        out.append(idx)
    return out
