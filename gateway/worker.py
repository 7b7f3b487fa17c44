"""Workers: claim received messages from the store, run the pure pipeline,
store the results.

The same loop runs in a thread (tests, embedding) or in each of the daemon's
worker processes, and in ``gateway process`` (on its own lane). Claiming goes
through :meth:`gateway.store.Store.claim`, the mechanism several machines
share on PostgreSQL. A batch of messages is claimed in one transaction and
completed in one (or one per ``flush_encounters`` encounters, for batches of
large files), so durable commits are paid per batch, not per message; the
store applies the duplicate rule as it completes. What a message teaches (ADT
registrations) is visible to the next message of the same batch before it is
committed.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import socket
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from gateway import logging as glog
from gateway.claims import guarantor_account
from gateway.messages import MessageMeta, RecordUpdate
from gateway.model import Claim, Finding, Statement
from gateway.pipeline import EncounterResult, MessageResult, Pipeline
from gateway.posting import ResponseItem
from gateway.rules import CORE
from gateway.store import ClaimedMessage, Completed, EncounterOutcome, Outcome, Status, Store
from gateway.store.sqlstore import to_json
from gateway.store.submissions import NewClaim, NewStatement, Packed, Packer, content_digest

log = glog.get("worker")


@dataclass
class WorkerSettings:
    batch: int = 64
    lease: float = 60.0
    max_attempts: int = 5
    poll_min: float = 0.01
    poll_max: float = 0.2
    #: complete (commit) the results so far once they hold this many encounters,
    #: so a batch of large files is never held in memory whole
    flush_encounters: int = 2000
    #: raw bytes a worker keeps of one claim: the messages past it (large files
    #: claimed together) are given back at once for another worker to take, and
    #: the next claim asks for as many messages as this fits of the last
    #: claim's largest. Messages of a few KB are claimed ``batch`` at a time as
    #: before; a backlog of 2,000-message files is shared one file at a time.
    claim_bytes: int = 2 * 1024 * 1024


#: young-generation threshold of the cyclic garbage collector while processing
#: (Python's default, 700, collects so often that gen-2 passes over the
#: results in hand cost a fifth of the run: benchmarks/README.md)
GC_THRESHOLD = (50_000, 20, 100)


def tune_gc() -> None:
    """Set up the garbage collector for a processing run: what start-up
    loaded (plugins, schemas, tables) is frozen out of every collection, and
    collections run less often. Almost all garbage here is freed by reference
    counting; the collector only finds cycles, which stay rare."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


def worker_id(n: int | str = 0) -> str:
    """``host:pid:n`` — unique per worker, readable in ``messages show``."""
    return f"{socket.gethostname()}:{os.getpid()}:{n}"


class BatchRecords:
    """RecordLookup over the store plus this batch's uncommitted updates.

    What the store answered is kept for the rest of the batch (one query per
    key and batch, not per message: a batch sees the records as they were
    when it first asked, plus its own updates)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.pending: dict[tuple[str, str, str], Any] = {}
        self._read: dict[tuple[str, str, str], Any] = {}

    def get(self, clinic_id: str, kind: str, key: str) -> Any | None:
        k = (clinic_id, kind, key)
        if k in self.pending:
            return self.pending[k]
        if k not in self._read:
            self._read[k] = self.store.get(clinic_id, kind, key)
        return self._read[k]

    def apply(self, clinic_id: str, updates: list[RecordUpdate]) -> None:
        for u in updates:
            # stored values are JSON: keep the overlay in the same shape
            self.pending[(clinic_id, u.kind, u.key)] = json.loads(to_json(u.value))


#: what a worker's renderer works out for a claim alone, stored with it for the
#: batcher (:class:`gateway.delivery.batcher.ClaimPlacer`): (claim, the
#: encounter's clinic, the digest of its stored JSON) → text, or None
Place = Callable[[Claim, str | None, str], str | None]


#: claims a worker places in one go (:class:`Placing`)
PLACE_GROUP = 64


class Placing:
    """Claims waiting to be placed (:data:`Place`), placed a group at a time
    once :data:`PLACE_GROUP` wait and when the message is done: one claim at a
    time between the pipeline's stages, the renderer's code and data are cold
    (~170 µs per claim in a run against ~80 in a loop)."""

    __slots__ = ("place", "waiting")

    def __init__(self, place: Place) -> None:
        self.place = place
        self.waiting: list[tuple[list[NewClaim], int, Claim, str | None]] = []

    def add(self, stored: list[NewClaim], claims: list[Claim], clinic_id: str | None) -> None:
        """``stored[i]`` is what the store gets for ``claims[i]``."""
        self.waiting += [(stored, i, c, clinic_id) for i, c in enumerate(claims)]
        if len(self.waiting) >= PLACE_GROUP:
            self.flush()

    def flush(self) -> None:
        place = self.place
        for stored, i, claim, clinic_id in self.waiting:
            text = place(claim, clinic_id, stored[i].digest)
            if text is not None:
                stored[i] = replace(stored[i], rendered=text)
        self.waiting = []


#: packs one text (:class:`gateway.store.submissions.Packer`, or ``Packed`` alone)
Pack = Callable[[str], Packed]


@dataclass
class Packers:
    """A worker's packers, one per kind of text: the store reads each kind
    back in the order it was packed, a block at a time."""

    encounters: Pack = field(default_factory=Packer)
    claims: Pack = field(default_factory=Packer)
    statements: Pack = field(default_factory=Packer)


#: each text packed alone (callers without a worker's packers)
ALONE = Packers(Packed, Packed, Packed)


def new_claim(claim: Claim, account: str | None = None, rendered: str | None = None, pack: Pack = Packed) -> NewClaim:
    """What the store needs of a built claim (JSON, packed until stored; digest,
    payer place, the guarantor ``account`` it is owed on; what the renderer
    worked out for it, ``rendered``)."""
    body = claim.model_dump_json(exclude_none=True)
    digest = content_digest("claims", body)
    return NewClaim(claim.id, claim.payer.id, str(claim.total_charge), pack(body), claim.coverage.order, digest,
                    account, rendered)  # fmt: skip


def new_statement(statement: Statement, pack: Pack = Packed) -> NewStatement:
    body = statement.model_dump_json(exclude_none=True)
    return NewStatement(statement.id, pack(body), content_digest("statements", body))


def _dump(findings: list[Finding]) -> list[dict[str, Any]]:
    return [f.model_dump(mode="json", exclude_none=True) for f in findings]


def encounter_outcome(
    idx: int, e: EncounterResult, clinic_id: str | None, placing: Placing | None = None, packers: Packers = ALONE
) -> EncounterOutcome:
    """What to store for one encounter: its JSON, its claims' and statements'
    (each claim handed to ``placing``, which adds what it works out for it),
    packed by ``packers``."""
    billable = bool(e.claims or e.statements)
    status = Status.QUARANTINED if e.quarantined else (Status.CLAIMED if billable else Status.CODED)
    clinic = e.encounter.clinic_id or clinic_id or ""
    out = EncounterOutcome(
        idx=idx,
        clinic_id=clinic,
        visit=e.encounter.id,
        status=status,
        encounter=packers.encounters(e.encounter.model_dump_json(exclude_none=True)),
        findings=_dump(e.findings),
        claims=[new_claim(c, guarantor_account(e.encounter, c.clinic_id), pack=packers.claims) for c in e.claims],
        statements=[new_statement(s, packers.statements) for s in e.statements],
    )
    if placing is not None and e.claims and not e.quarantined:
        placing.add(out.claims, e.claims, clinic)
    return out


def outcome_of(
    message_id: int,
    result: MessageResult,
    encounters: list[EncounterOutcome] | None = None,
    placing: Placing | None = None,
    packers: Packers = ALONE,
) -> Outcome:
    """What to store for one pipeline result (``encounters``: its
    encounters' outcomes, when the pipeline handed them over one by one)."""
    env = result.envelope
    out = Outcome(
        message_id=message_id,
        status=Status.QUARANTINED,
        findings=_dump(result.findings),
        clinic_id=result.clinic_id,
        format=env.format if env else None,
        sender=env.sender if env else None,
        control_id=env.control_id if env else None,
        message_type=env.message_type if env else None,
        updates=list(result.updates),
    )
    out.responses = [
        ResponseItem(i, r.document, r.clinic_id, _dump(r.findings), r.quarantined or result.quarantined)
        for i, r in enumerate(result.responses)
    ]
    if result.quarantined:
        return out
    out.encounters = [
        encounter_outcome(i, e, result.clinic_id, placing, packers) for i, e in enumerate(result.encounters)
    ]
    out.encounters += encounters or []
    statuses = {e.status for e in out.encounters}
    if not out.encounters:
        out.status = Status.PARSED
    elif statuses == {Status.QUARANTINED}:
        out.status = Status.QUARANTINED
    elif Status.CLAIMED in statuses:
        out.status = Status.CLAIMED
    else:
        out.status = Status.CODED
    return out


def _dead(message_id: int, attempts: int) -> Outcome:
    finding = CORE["GW-DEAD"].finding(
        f"processing failed {attempts - 1} times; left for an operator (gateway messages reprocess)"
    )
    return Outcome(message_id=message_id, status=Status.DEAD, findings=_dump([finding]))


@dataclass
class Worker:
    """Claims and processes messages until ``stop`` is set."""

    pipeline: Pipeline
    store: Store
    name: str
    settings: WorkerSettings = field(default_factory=WorkerSettings)
    stop: threading.Event = field(default_factory=threading.Event)
    today: Callable[[], date] = date.today
    processed: int = 0
    #: asked before every claim: a new pipeline after a config reload, else None
    refresh: Callable[[], Pipeline | None] | None = None
    #: whose messages this worker takes (None: the daemon's; ``gateway process`` has its own)
    lane: str | None = None
    #: what the last :meth:`run_once` stored
    last: list[Completed] = field(default_factory=list)
    #: the largest raw message of the last claim (sizes the next one)
    largest: int = 0
    #: what the claims' renderer works out for each claim before its batch
    #: (None: the batcher renders every claim from its JSON)
    place: Place | None = None
    #: asked with :attr:`refresh`: the placer of a reloaded config
    refresh_place: Callable[[], Place | None] | None = None
    #: the results' texts, packed until stored
    packers: Packers = field(default_factory=Packers, repr=False)

    def run_once(self) -> int:
        """Claim one batch and process it; how many messages were handled."""
        if self.refresh is not None and (pipeline := self.refresh()) is not None:
            self.pipeline = pipeline  # every message claimed from here on runs on the reloaded config
            if self.refresh_place is not None:
                self.place = self.refresh_place()
        limit = max(1, min(self.settings.batch, self.settings.claim_bytes // max(self.largest, 1)))
        batch = self._keep(self.store.claim(self.name, limit, self.settings.lease, self.lane))
        self.last = []
        if not batch:
            return 0
        records = BatchRecords(self.store)
        outcomes: list[Outcome] = []
        failed: list[int] = []
        held = [m.id for m in batch]
        encounters = 0
        queue = deque(batch)  # each message (its raw bytes) is let go of once processed: batches of large files
        del batch
        for i in range(len(held)):
            msg = queue.popleft()
            if self.stop.is_set():
                self.store.release(self.name, held[i:])  # shutting down: give the rest back
                break
            if msg.attempts > self.settings.max_attempts:
                outcomes.append(_dead(msg.id, msg.attempts))
                continue
            try:
                outcome = self.process(msg, records)
            except Exception:
                glog.event(log, "message.failed", logging.ERROR, message_id=msg.id, attempts=msg.attempts)
                failed.append(msg.id)
                continue
            outcomes.append(outcome)
            encounters += len(outcome.encounters)
            if encounters >= self.settings.flush_encounters:
                self._complete(outcomes)
                outcomes, encounters = [], 0
        self._complete(outcomes)
        if failed:
            self.store.release(self.name, failed, failed=True)
        return len(held)

    def _keep(self, batch: list[ClaimedMessage]) -> list[ClaimedMessage]:
        """The claimed messages that fit :attr:`WorkerSettings.claim_bytes`
        (the first always); the rest released at once, their attempt undone."""
        self.largest = max((len(m.raw) for m in batch), default=0)
        size = 0
        for i, m in enumerate(batch):
            size += len(m.raw)
            if i and size > self.settings.claim_bytes:
                self.store.release(self.name, [r.id for r in batch[i:]])
                return batch[:i]
        return batch

    def _complete(self, outcomes: list[Outcome]) -> None:
        done = self.store.complete(self.name, outcomes)
        for c in done:
            glog.event(
                log, "message.processed", message_id=c.message_id, status=c.status, claims=c.claims,
                duplicate_claims=c.duplicate_claims, held_claims=c.held_claims, worker=self.name,
            )  # fmt: skip
        self.processed += len(done)
        self.last += done

    def process(self, msg: ClaimedMessage, records: BatchRecords) -> Outcome:
        meta = MessageMeta(
            source=msg.source,
            today=self.today(),
            clinic_id=msg.channel_clinic,
            name=msg.name,
            received_at=datetime.fromtimestamp(msg.received_at, UTC),
        )
        done: list[EncounterOutcome] = []  # each encounter stored as JSON once built, its models let go of
        placing = Placing(self.place) if self.place is not None else None
        packers = self.packers
        result = self.pipeline.process(
            msg.raw, meta, records,
            each=lambda e: done.append(encounter_outcome(len(done), e, e.encounter.clinic_id, placing, packers)),
        )  # fmt: skip
        if result.clinic_id:
            records.apply(result.clinic_id, result.updates)
        out = outcome_of(msg.id, result, done, placing, packers)
        if placing is not None:
            placing.flush()
        return out

    def run(self) -> None:
        """Loop until ``stop``: claim, process, back off when idle."""
        delay = self.settings.poll_min
        glog.event(log, "worker.started", worker=self.name)
        while not self.stop.is_set():
            if self.run_once():
                delay = self.settings.poll_min
            else:
                self.stop.wait(delay)
                delay = min(delay * 2, self.settings.poll_max)
        glog.event(log, "worker.stopped", worker=self.name, processed=self.processed)


def worker_process(config: Path, store_url: str, n: int, settings: WorkerSettings, log_level: str) -> None:
    """Entry point of a worker process (spawned by the daemon)."""
    import signal

    from gateway.store import codec_for, open_store

    glog.setup(log_level)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    parent = os.getppid()

    def orphan_watch() -> None:  # the daemon died (kill -9): stop too, leases return the work
        while not stop.wait(0.5):
            if os.getppid() != parent:
                stop.set()

    threading.Thread(target=orphan_watch, daemon=True).start()
    from gateway.daemon.reload import Watch, load_until_valid

    # a config broken on disk (mid-edit) when this process starts: wait for a good one instead of
    # crashing in a respawn loop; the daemon and the other workers keep the config in force
    gw = load_until_valid(config, stop)
    if gw is None:
        return
    store = open_store(store_url, gw.loaded.base_dir, codec=codec_for(gw.loaded))
    watch = Watch(store, config)  # type: ignore[arg-type]
    from gateway.delivery.batcher import ClaimPlacer

    current = [gw]

    def refresh() -> Any:
        g = watch.check()
        if g is not None:
            current[0] = g
        return g.pipeline if g is not None else None

    tune_gc()
    try:
        Worker(gw.pipeline, store, worker_id(n), settings, stop, refresh=refresh, place=ClaimPlacer(gw),
               refresh_place=lambda: ClaimPlacer(current[0])).run()  # fmt: skip
    finally:
        store.close()
