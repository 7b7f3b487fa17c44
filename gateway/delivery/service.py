"""Delivery inside the daemon: a batcher thread and a dispatcher thread, each
with its own store connection, until stopped."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from gateway import logging as glog
from gateway.app import Gateway
from gateway.control_numbers import SQLiteControlNumbers
from gateway.store import open_store
from gateway.store.sqlstore import SQLStore

from .batcher import Batcher
from .dispatcher import Dispatcher

log = glog.get("delivery")


class DeliveryService:
    """Runs :class:`Batcher` and :class:`Dispatcher` loops in threads."""

    def __init__(self, gateway: Gateway, store_url: str, base_dir: Path | None = None, tick: float | None = None):
        self.gateway = gateway
        base = base_dir or gateway.loaded.base_dir
        self._stores: list[SQLStore] = [open_store(store_url, base), open_store(store_url, base)]  # type: ignore[list-item]
        self.batcher = Batcher(gateway, self._stores[0])
        self.dispatcher = Dispatcher(gateway, self._stores[1])
        age = gateway.config.delivery.batch_max_age_s
        #: how often the batcher looks: a tenth of the batch age, between 50 ms and 1 s
        self.tick = tick if tick is not None else min(1.0, max(0.05, age / 10))
        self.stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _batch_loop(self) -> None:
        while not self.stop.wait(self.tick):
            try:
                if self.batcher.tick():
                    self.dispatcher.wake.set()
            except Exception as exc:
                glog.event(log, "batcher.error", logging.ERROR, error=type(exc).__name__)

    def start(self) -> None:
        self._threads = [
            threading.Thread(target=self._batch_loop, name="batcher", daemon=True),
            threading.Thread(target=self.dispatcher.run, name="dispatcher", daemon=True),
        ]
        for t in self._threads:
            t.start()
        glog.event(log, "delivery.started", batch_tick=self.tick)

    def alive(self) -> bool:
        return all(t.is_alive() for t in self._threads)

    def close(self, timeout: float = 30.0) -> None:
        """Stop both loops (the dispatcher finishes the document in hand)."""
        self.stop.set()
        self.dispatcher.stop.set()
        self.dispatcher.wake.set()
        for t in self._threads:
            t.join(timeout)
        if isinstance(self.batcher.numbers, SQLiteControlNumbers):
            self.batcher.numbers.close()
        for s in self._stores:
            s.close()
