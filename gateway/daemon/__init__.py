"""The long-running service (``gateway run``): sources, journal, workers.

One daemon process runs the sources (folder watchers, MLLP listeners) and
the journal on an asyncio loop, plus ``/healthz`` and ``/metrics``; N worker
processes claim work from the store (``--workers 0`` runs one worker thread
in the daemon process instead). SIGTERM/SIGINT: sources stop accepting, the
journal commits what it holds, workers finish or release their batch, then
the process exits. Readiness and stopping are reported to systemd.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway import logging as glog
from gateway.app import Gateway
from gateway.daemon.journal import Journal
from gateway.daemon.notify import notify
from gateway.daemon.ops_http import OpsServer
from gateway.delivery.service import DeliveryService
from gateway.store import FILE_NAME, open_store
from gateway.worker import Worker, WorkerSettings, worker_id, worker_process

log = glog.get("daemon")


@dataclass
class DaemonOptions:
    workers: int = 1
    store: str | None = None
    http: str | None = None  # "host:port"
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    log_level: str = "info"
    shutdown_timeout: float = 30.0
    #: batch claims/statements into the outbox and deliver it (docs/delivery.md)
    delivery: bool = True


def store_url(gw: Gateway, url: str | None) -> str:
    """The configured store, else ``<state_dir>/gateway.sqlite``."""
    return url or str(gw.loaded.state_dir / FILE_NAME)


def build_sources(gw: Gateway) -> list[Any]:
    """One source object per ``sources:`` entry of every clinic."""
    out = []
    for clinic in gw.config.clinics:
        for src in clinic.sources:
            spec = gw.registries.sources[src.type]
            settings = spec.settings_model.model_validate(dict(src.model_extra or {}))
            out.append(spec.factory(settings, clinic.id, gw.loaded.base_dir))
    return out


class Daemon:
    def __init__(self, config: Path, options: DaemonOptions) -> None:
        self.config = config
        self.options = options
        self.gateway = Gateway.from_config(config)
        self.url = store_url(self.gateway, options.store)
        base = self.gateway.loaded.base_dir
        # migrates and carries over legacy control numbers; the others open a migrated store
        self.store = open_store(self.url, base, self.gateway.loaded.state_dir)
        self.journal = Journal(self.gateway, open_store(self.url, base), open_store(self.url, base))
        self.sources = build_sources(self.gateway)
        self.stopping = asyncio.Event()
        self.started = time.time()
        self._procs: dict[int, multiprocessing.process.BaseProcess] = {}
        self._thread_stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.ops: OpsServer | None = None
        self.delivery: DeliveryService | None = None

    # -- workers -------------------------------------------------------------
    def _spawn(self, n: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        p = ctx.Process(
            target=worker_process,
            args=(self.config, self.url, n, self.options.worker, self.options.log_level),
            name=f"gateway-worker-{n}",
        )
        p.start()
        self._procs[n] = p
        glog.event(log, "worker.spawned", n=n, pid=p.pid)

    def _start_workers(self) -> None:
        if self.options.workers <= 0:
            store = open_store(self.url, self.gateway.loaded.base_dir)
            w = Worker(self.gateway.pipeline, store, worker_id("t"), self.options.worker, self._thread_stop)
            t = threading.Thread(target=w.run, name="worker", daemon=True)
            t.start()
            self._threads.append(t)
            return
        for n in range(self.options.workers):
            self._spawn(n)

    async def _supervise(self) -> None:
        """Restart a worker process that died (its batch returns after the lease)."""
        while not self.stopping.is_set():
            for n, p in list(self._procs.items()):
                if not p.is_alive() and not self.stopping.is_set():
                    glog.event(log, "worker.died", 30, n=n, exitcode=p.exitcode)
                    self._spawn(n)
            try:
                await asyncio.wait_for(self.stopping.wait(), 1.0)
            except TimeoutError:
                pass

    def _stop_workers(self) -> None:
        self._thread_stop.set()
        for p in self._procs.values():
            if p.is_alive():
                p.terminate()  # SIGTERM: the worker finishes or releases its batch
        deadline = time.time() + self.options.shutdown_timeout
        for p in self._procs.values():
            p.join(max(0.1, deadline - time.time()))
            if p.is_alive():
                p.kill()
        for t in self._threads:
            t.join(max(0.1, deadline - time.time()))

    # -- health --------------------------------------------------------------
    def health(self) -> dict:
        alive = sum(p.is_alive() for p in self._procs.values()) + sum(t.is_alive() for t in self._threads)
        wanted = max(self.options.workers, 1)
        delivering = self.delivery is None or self.delivery.alive()
        return {
            "ok": alive >= wanted and delivering and not self.stopping.is_set(),
            "workers": alive,
            "delivery": self.delivery is not None and delivering,
            "sources": [getattr(s, "name", type(s).__name__) for s in self.sources],
            "uptime": round(time.time() - self.started, 1),
        }

    # -- running -------------------------------------------------------------
    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        self._start_workers()
        if self.options.delivery:
            self.delivery = DeliveryService(self.gateway, self.url)
            self.delivery.start()
        if self.options.http:
            host, _, port = self.options.http.rpartition(":")
            self.ops = OpsServer(self.store, host or "127.0.0.1", int(port), self.health)
            await self.ops.start()
        for source in self.sources:
            await self._start_source(source)
        supervisor = asyncio.create_task(self._supervise())
        notify(f"READY=1\nSTATUS=running, {len(self.sources)} source(s), {max(self.options.workers, 1)} worker(s)")
        glog.event(
            log, "daemon.ready", sources=len(self.sources), workers=self.options.workers, pid=os.getpid(),
            http_port=self.ops.port if self.ops else None,
        )  # fmt: skip
        await self.stopping.wait()
        notify("STOPPING=1")
        glog.event(log, "daemon.stopping")
        for source in self.sources:
            try:
                await asyncio.wait_for(source.stop(), self.options.shutdown_timeout)
            except Exception as exc:
                glog.event(log, "source.stop_failed", 40, source=getattr(source, "name", "?"), error=type(exc).__name__)
        await loop.run_in_executor(None, self.journal.close)
        await supervisor
        await loop.run_in_executor(None, self._stop_workers)
        if self.delivery is not None:
            await loop.run_in_executor(None, self.delivery.close, self.options.shutdown_timeout)
        if self.ops:
            await self.ops.stop()
        self.store.close()
        glog.event(log, "daemon.stopped")

    async def _start_source(self, source: Any) -> None:
        if getattr(source, "detailed_submit", False):
            await source.start(self.journal.submit_detailed)
        else:
            await source.start(self.journal.submit)
        glog.event(log, "source.started", source=getattr(source, "name", type(source).__name__))


def run(config: Path, options: DaemonOptions) -> None:
    """Run the daemon until SIGTERM/SIGINT."""
    glog.setup(options.log_level)

    def during_startup(signum: int, _frame: object) -> None:  # nothing accepted yet: just leave
        glog.event(log, "daemon.stopped_during_startup", signal=signum)
        raise SystemExit(0)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, during_startup)
    daemon = Daemon(config, options)
    asyncio.run(daemon.run())
