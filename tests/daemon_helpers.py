"""Shared pieces of the daemon, folder-source and MLLP tests: an example
deployment with sources, an asyncio loop in a thread, and an in-process
harness (journal + sources + a worker thread) around a real SQLite store."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import yaml

from gateway.app import Gateway
from gateway.daemon import build_sources
from gateway.daemon.journal import Journal
from gateway.examples import write_example_deployment
from gateway.sources import DetailedSource
from gateway.store import SQLiteStore
from gateway.worker import Worker, WorkerSettings

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"


def deployment(root: Path, sources: dict[str, list[dict[str, Any]]]) -> Path:
    """The example deployment under ``root`` with ``sources`` per clinic id."""
    config = write_example_deployment(root)
    data = yaml.safe_load(config.read_text())
    for clinic in data["clinics"]:
        clinic["sources"] = sources.get(clinic["id"], [])
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    return config


class LoopThread:
    """An asyncio loop running in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


class Harness:
    """Gateway + store + journal + configured sources (+ optional worker thread)."""

    def __init__(self, config: Path, worker: bool = True, **worker_settings: Any) -> None:
        self.gateway = Gateway.from_config(config)
        db = self.gateway.loaded.state_dir / "gateway.sqlite"
        self.store = SQLiteStore(db)
        self.journal = Journal(self.gateway, SQLiteStore(db), SQLiteStore(db))
        self.sources = build_sources(self.gateway)
        self.loop = LoopThread()
        for s in self.sources:
            submit = self.journal.submit_detailed if isinstance(s, DetailedSource) else self.journal.submit
            self.loop.run(s.start(submit))
        self.worker: Worker | None = None
        self._thread: threading.Thread | None = None
        if worker:
            settings = WorkerSettings(**worker_settings)
            self.worker = Worker(self.gateway.pipeline, SQLiteStore(db), "test-worker", settings)
            self._thread = threading.Thread(target=self.worker.run, daemon=True)
            self._thread.start()

    def source(self, kind: type) -> Any:
        return next(s for s in self.sources if isinstance(s, kind))

    def close(self) -> None:
        for s in self.sources:
            self.loop.run(s.stop())
        self.journal.close()
        if self.worker is not None and self._thread is not None:
            self.worker.stop.set()
            self._thread.join(10)
        self.loop.close()
        self.store.close()
