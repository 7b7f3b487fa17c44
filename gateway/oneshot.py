"""One-shot runs: ``gateway process`` and ``gateway demo`` (files in,
documents out), and ``gateway inspect`` (what the gateway understood).

``process`` and ``demo`` run the daemon's own components, in-process, on the
deployment's store, so a claim sent by one is known to the other and every
rule is the same (the duplicate rule, routing, control numbers)::

    files ─► journal (dedup by content) ─► worker (pipeline, duplicate rule, results)
          ─► batcher (documents into the outbox: the spool) ─► dispatcher (folder transport into --out)

Each run works in a *lane* of its own, ``oneshot:<absolute --out>``: its
messages, claims, statements and documents carry it, a running daemon's
workers, batcher and dispatcher never take them (nor this run the daemon's),
and each destination's documents go to the folder ``--out/<destination>``,
recorded in the outbox as the destination ``folder:<that folder>``. Nothing is
written to ``--out`` until every input is processed and the documents are in
the outbox; files are written under a temporary name and renamed, so a
crashed run leaves no partial file, and the next run into the same ``--out``
publishes what it left pending. Quarantine reports (findings only) go to
``--out/quarantine/<input path>.findings.json``.

``inspect`` runs the pure pipeline alone, without a store
(:class:`gateway.inspection.Run`, which imports no store or delivery module).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path, PurePosixPath
from typing import Any

from gateway.app import Gateway
from gateway.delivery.batcher import Batcher
from gateway.delivery.dispatcher import Dispatcher
from gateway.delivery.outbox import dead_local_holder, release_orphans
from gateway.inspection import Input as Input
from gateway.inspection import Run as Run
from gateway.inspection import expand_inputs as expand_inputs
from gateway.inspection import inspect_encounter as inspect_encounter
from gateway.inspection import inspect_result as inspect_result
from gateway.messages import MessageMeta
from gateway.sources import InputRefused, read_input
from gateway.store import MessageReport, NewMessage, Store
from gateway.store.submissions import NOT_SENT
from gateway.transport import Transport
from gateway.worker import Worker, WorkerSettings, tune_gc, worker_id

#: an input refused unread (not a regular file, over max_input_bytes)
REFUSED = "GW-INPUT-REFUSED"

#: messages journaled per transaction, and the bytes that end a chunk sooner
JOURNAL_CHUNK = 500
JOURNAL_BYTES = 32 * 1024 * 1024
#: the raw bytes one claim of the one-shot worker may hold: large inputs are
#: claimed a few at a time, so a run's memory does not grow with its inputs
CLAIM_BYTES = 32 * 1024 * 1024
#: a one-shot worker's batch (messages per claim; results are committed per
#: ``flush_encounters`` encounters), lease and claim size (one worker: no
#: one to share with, so large claims)
SETTINGS = WorkerSettings(batch=256, lease=600.0, claim_bytes=CLAIM_BYTES)
#: messages whose reports are read at once for the summary, at most
REPORT_CHUNK = 200
#: encounters (each with its findings) the summary reads at once, about: a
#: chunk of 200 files of 2,000 messages held 400,000 (54 MB at the end of a
#: 100,000-message run, 200+ MB at 1,000,000)
REPORT_ENCOUNTERS = 5_000
#: waiting claims/statements the batcher cuts per pass (a multiple of the
#: default 500 per 837), and documents the dispatcher holds at once: a large
#: run's publishing holds a slice of its documents, not all of them
WAITING_SCAN = 50_000
PUBLISH_BATCH = 8
FOLDER = "folder:"
_DUPLICATE_RULES = ("GW-RESENT-CLAIM", "GW-RESENT-STATEMENT")


def lane_for(out_dir: Path) -> str:
    """The lane of runs into ``out_dir``."""
    return f"oneshot:{out_dir.resolve()}"


@dataclass
class RunSummary:
    inputs: int = 0
    duplicates: int = 0
    #: of those, inputs processed before that still have quarantined parts
    earlier_quarantined: int = 0
    requeued: int = 0
    duplicate_claims: int = 0
    held_claims: int = 0
    held_statements: int = 0
    messages_quarantined: int = 0
    encounters: int = 0
    encounters_quarantined: int = 0
    claims: int = 0
    statements: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    warnings: Counter[str] = field(default_factory=Counter)
    #: (folder under --out, file name) of every document written
    outputs: list[tuple[str, str]] = field(default_factory=list)
    quarantine_reports: list[str] = field(default_factory=list)
    #: (destination, name, outbox status, reason) of documents this run could not write
    not_written: list[tuple[str, str, str, str]] = field(default_factory=list)
    #: (input, rule, location, message) of every warning, for --show-warnings
    warning_details: list[tuple[str, str, str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        d = self.__dict__.copy()
        d["reasons"] = dict(sorted(self.reasons.items()))
        d["warnings"] = dict(sorted(self.warnings.items()))
        return d


class OneShot:
    """One ``gateway process`` (or ``gateway demo``) run into ``out_dir``."""

    def __init__(
        self,
        gateway: Gateway,
        store: Store,
        out_dir: Path,
        *,
        clinic_id: str | None = None,
        today: date | None = None,
        progress: Callable[[int], None] | None = None,
        keep_warnings: bool = False,
    ) -> None:
        self.gateway = gateway
        #: keep every warning's details (``--show-warnings``), not only the counts
        self.keep_warnings = keep_warnings
        self.store = store
        self.out = out_dir.resolve()
        self.lane = lane_for(self.out)
        self.clinic_id = clinic_id
        self.today = today or date.today()
        self.progress = progress or (lambda n: None)
        self.summary = RunSummary()
        self._journaled: set[int] = set()
        self._processed: list[int] = []
        self._skipped: list[int] = []
        self._used_reports: set[Path] = set()
        self._largest = 0

    # -- the run ---------------------------------------------------------------
    def run(self, inputs: Sequence[Input]) -> RunSummary:
        """Journal ``inputs``, process them, publish the documents, report."""
        started = time.perf_counter()
        tune_gc()
        self._release_orphans()
        self._journal(inputs)
        self._process()
        delivered = self._publish()
        self._report(delivered)
        self.summary.seconds = round(time.perf_counter() - started, 2)
        return self.summary

    def _release_orphans(self) -> None:
        """Work of an earlier run into this folder that died (kill -9) goes back to the pool."""
        for holder in self.store.message_holders(self.lane):
            if dead_local_holder(holder):
                self.store.release(holder, None)
        release_orphans(self.store)

    def _journal(self, inputs: Sequence[Input]) -> None:
        from gateway.daemon.journal import prepare  # the daemon package: not for `gateway inspect`

        chunk: list[NewMessage] = []
        size = 0
        for inp in inputs:
            try:  # a regular file within max_input_bytes, else refused unread
                raw = read_input(inp.path, self.gateway.config.max_input_bytes, follow_symlinks=True)
            except InputRefused as exc:
                self._refuse(inp, exc)
                continue
            meta = MessageMeta(source=f"file:{inp.name}", name=inp.name, today=self.today, clinic_id=self.clinic_id)
            chunk.append(prepare(self.gateway, raw, meta)[0])
            size += len(raw)
            self._largest = max(self._largest, len(raw))
            if len(chunk) >= JOURNAL_CHUNK or size >= JOURNAL_BYTES:
                self._journal_chunk(chunk)
                chunk, size = [], 0
        self._journal_chunk(chunk)

    def _refuse(self, inp: Input, exc: InputRefused) -> None:
        """An input that was not read (not a regular file, too large): counted
        as quarantined, with a report naming why; nothing of it is stored."""
        s = self.summary
        s.inputs += 1
        s.messages_quarantined += 1
        s.reasons[REFUSED] += 1
        finding = {"severity": "error", "rule": REFUSED, "message": str(exc), "plugin": "core"}
        report = {"input": inp.name, "format": None, "clinic": None, "message_id": None, "status": "refused",
                  "message_findings": [finding], "encounters": []}  # fmt: skip
        path = self._report_path(inp.name, None, self._used_reports)
        _write_private(path, (json.dumps(report, indent=2) + "\n").encode())
        s.quarantine_reports.append(str(path))
        self.progress(1)

    def _journal_chunk(self, chunk: list[NewMessage]) -> None:
        if not chunk:
            return
        s = self.summary
        s.inputs += len(chunk)
        for j in self.store.journal(chunk, actor="process", lane=self.lane):
            if not j.duplicate:
                self._journaled.add(j.message_id)
                if j.status != "received":  # refused at intake (no plugin recognises it): reported as it is
                    self._processed.append(j.message_id)
                    self.progress(1)
            elif j.message_id in self._journaled:
                s.duplicates += 1  # the same bytes twice in this run
                self.progress(1)
            elif j.status in ("quarantined", "dead") and self.store.reprocess(
                j.message_id, "process", "gateway process re-run", lane=self.lane
            ):
                s.requeued += 1  # quarantined before, nothing of it sent: try again (the mappings may be fixed)
                self._journaled.add(j.message_id)
            else:
                s.duplicates += 1  # processed before: its results stand
                self._skipped.append(j.message_id)
                self.progress(1)

    def _process(self) -> None:
        worker = Worker(
            self.gateway.pipeline, self.store, worker_id("process"), SETTINGS, today=lambda: self.today, lane=self.lane
        )
        worker.largest = self._largest  # the first claim sized by the largest input journaled
        while worker.run_once():
            self._processed += [c.message_id for c in worker.last]
            self.progress(len(worker.last))

    def _publish(self) -> list[tuple[int, str, str, str]]:
        """Documents into the outbox, then into ``--out``; those written."""
        batcher = Batcher(self.gateway, self.store, lane=self.lane, publish=self.destination, scan=WAITING_SCAN)
        while batcher.tick(force=True):
            pass
        dispatcher = Dispatcher(self.gateway, self.store, name=worker_id("publish"), transport_factory=self.transport,
                                keep_open_s=0, lane=self.lane, batch=PUBLISH_BATCH)  # fmt: skip
        # one attempt per document and run: what fails stays pending (due at once) for the next run
        dispatcher.delivery = dispatcher.delivery.model_copy(update={"retry_base_s": 0.0, "retry_max_s": 0.0})
        return dispatcher.run_until_idle().documents

    def destination(self, name: str) -> str:
        """The outbox destination of configured destination ``name`` in this run."""
        return f"{FOLDER}{self.out / name}"

    def transport(self, destination: str) -> Transport:
        return self.gateway.folder_transport(Path(destination.removeprefix(FOLDER)))

    # -- the summary -------------------------------------------------------------
    def _report(self, delivered: list[tuple[int, str, str, str]]) -> None:
        s = self.summary
        for r in self._reports(self._skipped):
            s.earlier_quarantined += r.message.status == "quarantined" or any(
                e["status"] == "quarantined" for e in r.encounters
            )
        used = self._used_reports
        for r in self._reports(self._processed):
            self._count(r)
            if r.message.status == "quarantined" or any(e["status"] == "quarantined" for e in r.encounters):
                s.quarantine_reports.append(str(self._quarantine_report(r, used)))
        for _oid, _dest, name, location in delivered:
            loc = Path(location)
            s.outputs.append((str(loc.parent.relative_to(self.out)) if loc.is_relative_to(self.out) else "", name))
        for status in ("pending", "dead"):
            for row in self.store.outbox_list(status=status, limit=100_000):
                folder = Path(row.destination.removeprefix(FOLDER))
                if row.destination.startswith(FOLDER) and folder.is_relative_to(self.out):
                    s.not_written.append((folder.name, row.name, row.status, row.last_error or "not yet written"))

    def _reports(self, ids: list[int]) -> Iterator[MessageReport]:
        """The stored reports of ``ids``, read a chunk at a time (a run of a
        million messages never holds every report): one message first, then
        as many as :data:`REPORT_ENCOUNTERS` holds of the largest so far."""
        at, size, most = 0, 1, 1
        while at < len(ids):
            chunk = self.store.reports(ids[at : at + size])
            at += size
            most = max([most, *(len(r.encounters) for r in chunk)])
            yield from chunk
            del chunk
            size = max(1, min(REPORT_CHUNK, REPORT_ENCOUNTERS // most))

    def _count(self, r: MessageReport) -> None:
        s = self.summary
        m = r.message
        if m.status == "quarantined" and not r.encounters:
            s.messages_quarantined += 1
            s.reasons.update(f["rule"] for f in m.findings if f.get("severity") == "error")
        self._warnings(m.name or str(m.id), m.findings)
        for e in r.encounters:
            s.encounters += 1
            if e["status"] == "quarantined":
                s.encounters_quarantined += 1
                s.reasons.update(f["rule"] for f in e["findings"] if f.get("severity") == "error")
            s.duplicate_claims += sum(f["rule"] == "GW-RESENT-CLAIM" for f in e["findings"])
            self._warnings(m.name or str(m.id), e["findings"])
        for kind, status in r.items:
            if status == "held":
                s.held_claims += kind == "claims"
                s.held_statements += kind == "statements"
            elif status not in NOT_SENT:
                s.claims += kind == "claims"
                s.statements += kind == "statements"

    def _warnings(self, name: str, findings: list[dict[str, Any]]) -> None:
        for f in findings:
            if f.get("severity") == "warning":
                self.summary.warnings[f["rule"]] += 1
                if self.keep_warnings:
                    detail = (name, f["rule"], f.get("location") or "", f.get("message", ""))
                    self.summary.warning_details.append(detail)

    def _report_path(self, name: str, message_id: int | None, used: set[Path]) -> Path:
        """``--out/quarantine/<input name>.findings.json``; with the message id
        (or a counter) when two inputs of the run share a name."""
        parts = [p for p in PurePosixPath(name).parts if p not in ("", ".", "..", "/")] or ["input"]
        path = (self.out / "quarantine").joinpath(*parts).with_name(f"{parts[-1]}.findings.json")
        return _report_unused(path, message_id if message_id is not None else "refused", used)

    def _quarantine_report(self, r: MessageReport, used: set[Path]) -> Path:
        """``--out/quarantine/<input name>.findings.json`` (with the message id
        when two inputs of the run share a name), written atomically, 0600."""
        m = r.message
        path = self._report_path(m.name or f"message-{m.id}", m.id, used)
        report = {
            "input": m.name, "format": m.format, "clinic": m.clinic_id, "message_id": m.id, "status": m.status,
            "message_findings": m.findings,
            "encounters": [
                {"index": e["idx"], "visit": e["visit"],
                 "findings": [f for f in e["findings"] if f.get("severity") == "error"]}
                for e in r.encounters if e["status"] == "quarantined"
            ],
        }  # fmt: skip
        _write_private(path, (json.dumps(report, indent=2) + "\n").encode())
        return path


def _report_unused(path: Path, tag: object, used: set[Path]) -> Path:
    stem = path.name.removesuffix(".findings.json")
    while path in used:
        path = path.with_name(f"{stem}.{tag}.findings.json")
        tag = f"{tag}x"
    used.add(path)
    return path


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (0600, folders 0700) under a temporary name, then rename."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def process_files(
    gateway: Gateway,
    files: Sequence[Path | Input],
    out_dir: Path,
    *,
    store: Store | None = None,
    clinic_id: str | None = None,
    today: date | None = None,
    progress: Callable[[int], None] | None = None,
) -> RunSummary:
    """The ``gateway process`` job on the deployment's store (``store``, else
    ``<state_dir>/gateway.sqlite``)."""
    from gateway.store import FILE_NAME, codec_for, open_store

    inputs = [f if isinstance(f, Input) else Input(f, f.name) for f in files]
    state = gateway.loaded.state_dir
    own = store is None
    store = store or open_store(state / FILE_NAME, gateway.loaded.base_dir, state, codec_for(gateway.loaded))
    try:
        return OneShot(gateway, store, out_dir, clinic_id=clinic_id, today=today, progress=progress).run(inputs)
    finally:
        if own:
            store.close()
