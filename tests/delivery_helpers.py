"""Shared pieces of the delivery tests: a deployment with chosen destinations
and delivery settings, synthetic HL7 visits with distinct visit numbers, and
driving journal → worker → batcher → dispatcher in-process."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from gateway.app import Gateway
from gateway.delivery.batcher import Batcher
from gateway.delivery.dispatcher import Dispatcher
from gateway.examples import FIXTURES, write_example_deployment
from gateway.store import NewMessage, SQLiteStore
from gateway.worker import Worker

DFT = (FIXTURES / "hl7v2" / "dft_p03_v251_vendor_repeats.hl7").read_bytes()


def hl7_visit(i: int) -> bytes:
    """A billable DFT^P03 (Riverside, fictitious patient) with visit number BH<i>."""
    return DFT.replace(b"RV-DFT-0010", f"BH-{i}".encode()).replace(b"V10010", f"BH{i:07d}".encode())


def deployment(
    root: Path,
    destinations: dict[str, dict[str, Any]] | None = None,
    delivery: dict[str, Any] | None = None,
    sources: dict[str, list[dict[str, Any]]] | None = None,
) -> Path:
    """The example deployment under ``root``; ``destinations`` replace or add
    destination entries, ``delivery`` is the delivery section."""
    config = write_example_deployment(root)
    data = yaml.safe_load(config.read_text())
    data["destinations"].update(destinations or {})
    data["delivery"] = {"batch_max_age_s": 0, "retry_base_s": 0.05, "retry_max_s": 0.2, **(delivery or {})}
    for clinic in data["clinics"]:
        clinic["sources"] = (sources or {}).get(clinic["id"], [])
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    return config


class Line:
    """Journal → worker → batcher → dispatcher, driven step by step in-process."""

    def __init__(self, config: Path, **dispatcher: Any) -> None:
        self.gateway = Gateway.from_config(config)
        self.db = self.gateway.loaded.state_dir / "gateway.sqlite"
        self.store = SQLiteStore(self.db)
        self.worker = Worker(self.gateway.pipeline, SQLiteStore(self.db), "test-worker")
        self.batcher = Batcher(self.gateway, SQLiteStore(self.db))
        self.dispatcher = Dispatcher(self.gateway, SQLiteStore(self.db), **dispatcher)

    def ingest(self, raws: Iterable[bytes]) -> None:
        from gateway.daemon.journal import Journal
        from gateway.messages import MessageMeta

        journal = Journal(self.gateway, self.store, self.store)
        try:
            msgs = []
            for n, raw in enumerate(raws):
                meta = MessageMeta(source="test", name=f"in-{n}", today=date.today())
                msg, _ = journal.prepare(raw, meta, None)
                msgs.append(msg)
            self.store.journal(msgs)
        finally:
            journal.close()
        while self.worker.run_once():
            pass

    def cut(self) -> list:
        return self.batcher.tick(force=True)

    def deliver_until_idle(self, timeout: float = 20.0) -> None:
        """Dispatch passes until nothing is pending (retries waited for)."""
        deadline = time.time() + timeout
        while self.store.outbox_pending():
            assert time.time() < deadline, "outbox did not drain"
            if not self.dispatcher.run_once().handled:
                time.sleep(0.02)

    def close(self) -> None:
        self.dispatcher.close_idle(everything=True)
        for s in (self.store, self.worker.store, self.batcher.store, self.dispatcher.store):
            s.close()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


__all__ = ["DFT", "Line", "NewMessage", "deployment", "hl7_visit", "sha"]
