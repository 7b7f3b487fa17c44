"""The long-running service (``gateway run``): sources, journal, workers.

One daemon process runs the sources (folder watchers, MLLP listeners, HTTP
intake) and the journal on an asyncio loop, plus the HTTP listener
(``--http``: console, API, intake, ``/healthz`` and ``/metrics``); N worker
processes claim work from the store (``--workers 0`` runs one worker thread
in the daemon process instead). A thread runs each clinic's statement cycle
once a day (:class:`gateway.statement_runs.StatementScheduler`).
SIGTERM/SIGINT: sources stop accepting, the journal commits what it holds, workers finish or release their batch, then
the process exits. SIGHUP re-reads and validates the configuration and swaps
it in (:mod:`gateway.daemon.reload`). Readiness and stopping are reported to
systemd. Workers stop when the daemon dies; as PID 1 (or with ``--init``) a
minimal init reaps orphans (:mod:`gateway.daemon.reaper`).
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
from gateway.config import ConfigError
from gateway.daemon import reload as reloading
from gateway.daemon.heap import trim_heap
from gateway.daemon.journal import Journal
from gateway.daemon.notify import notify
from gateway.daemon.reaper import worker_main
from gateway.delivery.service import DeliveryService
from gateway.sources import DetailedSource, HttpSource, Source
from gateway.statement_runs import StatementScheduler
from gateway.store import FILE_NAME, codec_for, open_store
from gateway.worker import Worker, WorkerSettings, worker_id

log = glog.get("daemon")


@dataclass
class DaemonOptions:
    workers: int = 1
    store: str | None = None
    http: str | None = None  # "host:port"
    #: serve the console on a non-loopback address without TLS (docs/console.md)
    insecure_http: bool = False
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    log_level: str = "info"
    shutdown_timeout: float = 30.0
    #: batch claims/statements into the outbox and deliver it (docs/delivery.md)
    delivery: bool = True
    #: seconds between looks for each clinic's daily statement run (0: no runs; docs/statements.md)
    statements_every: float = 3600.0
    #: seconds between two returns of the C heap's free pages to the system (0: never; gateway.daemon.heap)
    trim_every: float = 30.0


def store_url(gw: Gateway, url: str | None) -> str:
    """The configured store, else ``<state_dir>/gateway.sqlite``."""
    return url or str(gw.loaded.state_dir / FILE_NAME)


def build_sources(gw: Gateway) -> list[Source]:
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
        self.codec = codec_for(self.gateway.loaded)  # a key that does not match the store: refused here
        self.store = open_store(self.url, base, self.gateway.loaded.state_dir, codec=self.codec)
        self.journal = Journal(
            self.gateway, open_store(self.url, base, codec=self.codec), open_store(self.url, base, codec=self.codec)
        )
        self.sources = build_sources(self.gateway)
        self.stopping = asyncio.Event()
        self.started = time.time()
        self._procs: dict[int, multiprocessing.process.BaseProcess] = {}
        self._thread_stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.web: Any = None
        self.delivery: DeliveryService | None = None
        self.statements: StatementScheduler | None = None
        self.watch = reloading.Watch(self.store, config)  # type: ignore[arg-type]
        self._reload_lock = asyncio.Lock()
        intake = [s for s in self.sources if isinstance(s, HttpSource)]
        if intake and not options.http:
            raise ConfigError([f"source {intake[0].name} (type: http) needs the HTTP listener: pass --http HOST:PORT"])

    # -- workers -------------------------------------------------------------
    def _spawn(self, n: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        p = ctx.Process(
            target=worker_main,  # worker_process, stopped by SIGTERM when this process dies
            args=(os.getpid(), self.config, self.url, n, self.options.worker, self.options.log_level),
            name=f"gateway-worker-{n}",
        )
        p.start()
        self._procs[n] = p
        glog.event(log, "worker.spawned", n=n, pid=p.pid)

    def _start_workers(self) -> None:
        if self.options.workers <= 0:
            store = open_store(self.url, self.gateway.loaded.base_dir, codec=self.codec)
            watch = reloading.Watch(store, self.config)  # type: ignore[arg-type]
            w = Worker(self.gateway.pipeline, store, worker_id("t"), self.options.worker, self._thread_stop,
                       refresh=lambda: (g.pipeline if (g := watch.check()) else None))  # fmt: skip
            t = threading.Thread(target=w.run, name="worker", daemon=True)
            t.start()
            self._threads.append(t)
            return
        for n in range(self.options.workers):
            self._spawn(n)

    async def _supervise(self) -> None:
        """Restart a worker process that died (its batch returns after the lease);
        now and then, give the C heap's free pages back (:mod:`gateway.daemon.heap`)."""
        loop = asyncio.get_running_loop()
        trimmed = time.monotonic()
        while not self.stopping.is_set():
            if 0 < self.options.trim_every <= time.monotonic() - trimmed:
                await loop.run_in_executor(None, trim_heap)
                trimmed = time.monotonic()
            for n, p in list(self._procs.items()):
                if not p.is_alive() and not self.stopping.is_set():
                    glog.event(log, "worker.died", 30, n=n, exitcode=p.exitcode)
                    self._spawn(n)
            try:
                await asyncio.wait_for(self.stopping.wait(), 1.0)
            except TimeoutError:
                pass
            await self._follow_generation()

    # -- reloading -------------------------------------------------------------
    async def reload(self, actor: str, ip: str | None = None) -> Any:
        """Re-read and validate the config; swap it in and announce it to every
        worker, or refuse it with the problems (the running one stays)."""
        from gateway.console.server import ReloadResult

        loop = asyncio.get_running_loop()
        async with self._reload_lock:
            loaded = await loop.run_in_executor(None, reloading.load, self.config)
            if loaded.gateway is None:
                await loop.run_in_executor(None, reloading.refused, self.store, actor, loaded.problems, ip)
                return ReloadResult(False, loaded.problems)
            warnings = reloading.restart_needed(self.gateway, loaded.gateway)
            self._swap(loaded.gateway)
            gen = await loop.run_in_executor(None, reloading.announce, self.store, loaded.gateway, actor, ip)
            self.watch.generation = gen
            return ReloadResult(True, [], warnings, gen)

    def _swap(self, gw: Gateway) -> None:
        """The new config for routing in the journal (workers follow the generation)."""
        self.gateway = gw
        self.journal.gateway = gw

    async def _follow_generation(self) -> None:
        """A reload announced by another process (``gateway reload``, another node)."""
        if self._reload_lock.locked():
            return
        async with self._reload_lock:
            gw = await asyncio.get_running_loop().run_in_executor(None, self.watch.check)
            if gw is not None:
                self._swap(gw)

    def _on_sighup(self) -> None:
        async def go() -> None:
            result = await self.reload("signal:SIGHUP")
            glog.event(log, "daemon.sighup", 20 if result.ok else 40, ok=result.ok, problems=len(result.problems))

        asyncio.get_running_loop().create_task(go())

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
            "sources": [s.name for s in self.sources],
            "uptime": round(time.time() - self.started, 1),
        }

    # -- running -------------------------------------------------------------
    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
        if os.environ.get("GATEWAY_MEMORY_DEBUG"):  # a hidden probe for benchmarks (gateway.daemon.memdebug)
            from gateway.daemon.memdebug import MemoryProbe

            loop.add_signal_handler(signal.SIGUSR2, MemoryProbe.from_environment().report)  # type: ignore[union-attr]
        self._start_workers()
        supervisor = asyncio.create_task(self._supervise())
        try:  # whatever fails (a port in use), nothing is left running: workers are not daemonic
            if self.options.delivery:
                self.delivery = DeliveryService(self.gateway, self.url)
                self.delivery.start()
            if self.options.statements_every > 0:
                from gateway.delivery.outbox import node_id

                store = open_store(self.url, self.gateway.loaded.base_dir, codec=self.codec)
                self.statements = StatementScheduler(
                    lambda: self.gateway, store, node_id("statements"), self.options.statements_every
                )
                self.statements.start()
            for source in self.sources:
                await self._start_source(source)
            if self.options.http:
                await self._start_web()
            notify(f"READY=1\nSTATUS=running, {len(self.sources)} source(s), {max(self.options.workers, 1)} worker(s)")
            glog.event(
                log, "daemon.ready", sources=len(self.sources), workers=self.options.workers, pid=os.getpid(),
                http_port=self.web.port if self.web else None,
            )  # fmt: skip
            await self.stopping.wait()
        finally:
            self.stopping.set()
            notify("STOPPING=1")
            glog.event(log, "daemon.stopping")
            await self._stop(loop, supervisor)
        glog.event(log, "daemon.stopped")

    async def _stop(self, loop: asyncio.AbstractEventLoop, supervisor: asyncio.Task) -> None:
        if self.web:
            await self.web.stop()
        for source in self.sources:
            try:
                await asyncio.wait_for(source.stop(), self.options.shutdown_timeout)
            except Exception as exc:
                glog.event(log, "source.stop_failed", 40, source=source.name, error=type(exc).__name__)
        await loop.run_in_executor(None, self.journal.close)
        await supervisor
        await loop.run_in_executor(None, self._stop_workers)
        if self.delivery is not None:
            await loop.run_in_executor(None, self.delivery.close, self.options.shutdown_timeout)
        if self.statements is not None:
            await loop.run_in_executor(None, self.statements.close, self.options.shutdown_timeout)
        self.store.close()

    async def _start_web(self) -> None:
        from gateway.console.server import ConsoleContext, WebServer, build_app

        tls = self.gateway.config.console.tls
        base = self.gateway.loaded.base_dir
        ctx = ConsoleContext(
            gateway=lambda: self.gateway, store=self.store, reload=self.reload, health=self.health,  # type: ignore[arg-type]
            intake={s.clinic_id: s for s in self.sources if isinstance(s, HttpSource)}, tls=tls is not None,
        )  # fmt: skip
        app = build_app(ctx)
        self.web = WebServer(app, self.options.http or "", (base / tls.cert, base / tls.key) if tls else None,
                             self.options.insecure_http)  # fmt: skip
        await self.web.start()

    async def _start_source(self, source: Source) -> None:
        if isinstance(source, DetailedSource) and source.detailed_submit:
            await source.start(self.journal.submit_detailed)
        else:
            await source.start(self.journal.submit)
        glog.event(log, "source.started", source=source.name)


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
