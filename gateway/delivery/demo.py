"""``gateway demo`` on the daemon path: journal → worker → batcher → outbox →
dispatcher, in-process, until every input is delivered, then stop.

The example deployment is written to ``OUT/deployment``; a ``demo.yaml``
next to its ``gateway.yaml`` points each folder destination at ``OUT/<name>``
(a local folder stands in for the clearinghouse and the print vendor) and
cuts batches after a fraction of a second. Destinations with another
transport (an SFTP clearinghouse you configured) are left as they are. The
journal starts empty each run; control numbers continue in the deployment's
state folder, so ISA13 never repeats across runs.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from gateway.app import Gateway
from gateway.daemon.journal import Journal
from gateway.messages import MessageMeta
from gateway.oneshot import RunSummary
from gateway.store import FILE_NAME, SQLiteStore
from gateway.worker import Worker, WorkerSettings

from .service import DeliveryService

DEMO_CONFIG = "demo.yaml"


def demo_config(config: Path, out_dir: Path) -> Path:
    """``demo.yaml`` beside ``config``: folder destinations under ``out_dir``, quick batches."""
    data = yaml.safe_load(config.read_text())
    for name, dest in data.get("destinations", {}).items():
        if dest.get("transport") == "folder":
            dest["path"] = str((out_dir / name).resolve())
    delivery = data.setdefault("delivery", {})
    delivery.setdefault("batch_max_age_s", 0.2)
    delivery.setdefault("retry_base_s", 0.5)
    delivery.setdefault("retry_max_s", 2.0)
    delivery.setdefault("max_attempts", 3)
    target = config.parent / DEMO_CONFIG
    target.write_text(yaml.safe_dump(data, sort_keys=False))
    return target


def _fresh_store(state_dir: Path) -> SQLiteStore:
    """An empty store for the demo's deployment, its control numbers carried on."""
    numbers: dict[tuple[str, str], int] = {}
    if (state_dir / FILE_NAME).exists():
        with SQLiteStore(state_dir / FILE_NAME) as old:
            numbers = old.number_values()
    for suffix in ("", "-wal", "-shm"):
        (state_dir / (FILE_NAME + suffix)).unlink(missing_ok=True)
    store = SQLiteStore(state_dir / FILE_NAME)
    store.adopt_numbers(numbers)
    return store


def _settled(store: SQLiteStore, service: DeliveryService) -> bool:
    if store.oldest_pending() is not None:
        return False
    if service.batcher.waiting("claims") or service.batcher.waiting("statements"):
        return False
    return store.outbox_pending() == 0


def run_demo(config: Path, inputs: list[Path], out_dir: Path, timeout: float = 120.0) -> tuple[RunSummary, dict]:
    """Run ``inputs`` through the daemon's components; the summary from the store."""
    cfg = demo_config(config, out_dir)
    gw = Gateway.from_config(cfg)
    state = gw.loaded.state_dir
    store = _fresh_store(state)
    summary = RunSummary(inputs=len(inputs))
    journal = Journal(gw, store, store)
    try:
        msgs = []
        for path in inputs:
            meta = MessageMeta(source="demo", name=path.name, today=date.today())
            msgs.append(journal.prepare(path.read_bytes(), meta, None)[0])
        summary.duplicates = sum(j.duplicate for j in store.journal(msgs, actor="demo"))
    finally:
        journal.close()
    started = time.perf_counter()
    stop = threading.Event()
    worker = Worker(gw.pipeline, SQLiteStore(state / FILE_NAME), "demo-worker", WorkerSettings(), stop)
    thread = threading.Thread(target=worker.run, name="demo-worker", daemon=True)
    service = DeliveryService(gw, str(state / FILE_NAME), tick=0.05)
    thread.start()
    service.start()
    try:
        deadline = time.monotonic() + timeout
        while not _settled(store, service) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(30)
        service.close()
        worker.store.close()
    extra = {"seconds": round(time.perf_counter() - started, 2)}
    _summarise(store, summary, out_dir, extra)
    store.close()
    return summary, extra


def _errors(findings: list[dict[str, Any]]) -> list[str]:
    return [f["rule"] for f in findings if f.get("severity") == "error"]


def _error_findings(text: str) -> list[dict[str, Any]]:
    return [f for f in json.loads(text) if f.get("severity") == "error"]


def _summarise(store: SQLiteStore, s: RunSummary, out_dir: Path, extra: dict) -> None:
    reasons: Counter[str] = Counter()
    qdir = out_dir / "quarantine"
    with store.read() as cur:
        cur.execute("SELECT id, name, status, clinic_id, format, findings FROM messages ORDER BY id")
        messages = cur.fetchall()
        cur.execute("SELECT message_id, idx, visit, status, findings FROM encounters ORDER BY message_id, idx")
        encounters = cur.fetchall()
        cur.execute("SELECT COUNT(*) FROM claims")
        s.claims = int(cur.fetchone()[0])
        cur.execute("SELECT COUNT(*) FROM statements")
        s.statements = int(cur.fetchone()[0])
        cur.execute("SELECT destination, name, status, location FROM outbox ORDER BY id")
        docs = cur.fetchall()
    by_message: dict[int, list[tuple]] = {}
    for e in encounters:
        by_message.setdefault(e[0], []).append(e)
    for mid, name, status, clinic, fmt, findings in messages:
        findings = json.loads(findings)
        quarantined = [e for e in by_message.get(mid, []) if e[3] == "quarantined"]
        s.encounters += len(by_message.get(mid, []))
        s.encounters_quarantined += len(quarantined)
        s.duplicate_claims += sum(1 for e in by_message.get(mid, []) if e[3] == "duplicate")  # billed by another
        if status == "quarantined" and not by_message.get(mid):
            s.messages_quarantined += 1
            reasons.update(_errors(findings))
        for e in quarantined:
            reasons.update(_errors(json.loads(e[4])))
        if status == "quarantined" or quarantined:
            qdir.mkdir(mode=0o700, parents=True, exist_ok=True)
            report = {
                "input": name, "format": fmt, "clinic": clinic, "message_id": mid,
                "message_findings": findings,
                "encounters": [
                    {"index": idx, "visit": visit, "findings": _error_findings(fs)}
                    for _, idx, visit, _, fs in quarantined
                ],
            }  # fmt: skip
            path = qdir / f"{name}.findings.json"
            path.write_text(json.dumps(report, indent=2) + "\n")
            path.chmod(0o600)
            s.quarantine_reports.append(str(path))
    s.reasons = reasons
    root = out_dir.resolve()
    for dest, name, status, location in docs:
        if status != "delivered":
            continue
        loc = Path(location) if location and location.startswith("/") else None
        if loc is not None and loc.is_relative_to(root):
            s.outputs.append((str(loc.parent.relative_to(root)), name))
        else:
            s.outputs.append((dest, name))
    extra["dead_letters"] = sum(1 for d in docs if d[2] == "dead")
    extra["pending"] = sum(1 for d in docs if d[2] == "pending")
    extra["documents"] = len(docs)
