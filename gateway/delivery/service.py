"""Delivery inside the daemon: a batcher thread and a dispatcher thread, each
with its own store connection, until stopped.

Batch cutting is owned by one node at a time: the batcher holds the store
lease ``delivery:batcher`` (renewed while it runs, released at stop); on
another node it waits until that lease expires, so a dead node's role is
taken over after at most the lease time. Dispatching needs no owner: each
outbox row is leased on its own.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from gateway import logging as glog
from gateway.app import Gateway
from gateway.store import Store, codec_for, open_store

from .batcher import Batcher
from .dispatcher import Dispatcher
from .outbox import node_id

BATCHER_LEASE = "delivery:batcher"

log = glog.get("delivery")


class DeliveryService:
    """Runs :class:`Batcher` and :class:`Dispatcher` loops in threads."""

    def __init__(self, gateway: Gateway, store_url: str, base_dir: Path | None = None, tick: float | None = None):
        self.gateway = gateway
        base = base_dir or gateway.loaded.base_dir
        codec = codec_for(gateway.loaded)
        self._stores: list[Store] = [open_store(store_url, base, codec=codec), open_store(store_url, base, codec=codec)]
        self.batcher = Batcher(gateway, self._stores[0])
        self.dispatcher = Dispatcher(gateway, self._stores[1])
        age = gateway.config.delivery.batch_max_age_s
        #: how often the batcher looks: a tenth of the batch age, between 50 ms and 1 s
        self.tick = tick if tick is not None else min(1.0, max(0.05, age / 10))
        #: how long the batcher role stays with this node without renewal
        self.lease_ttl = max(5.0, 10 * self.tick)
        self.owner = node_id("batcher")
        self._lease_until = 0.0
        self.stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def owns_batching(self) -> bool:
        """True while this node holds the batcher lease (renewed at half time)."""
        now = time.time()
        if now < self._lease_until - self.lease_ttl / 2:
            return True
        lease = self._stores[0].try_lease(BATCHER_LEASE, self.owner, self.lease_ttl)
        if lease is None:
            if self._lease_until:
                glog.event(log, "batcher.lease_lost", logging.WARNING)
            self._lease_until = 0.0
            return False
        if not self._lease_until:
            glog.event(log, "batcher.lease_taken", token=lease.token)
        self._lease_until = now + self.lease_ttl
        return True

    def _batch_loop(self) -> None:
        while not self.stop.wait(self.tick):
            try:
                if self.owns_batching() and self.batcher.tick():
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
        if self._lease_until:
            self._stores[0].release_lease(BATCHER_LEASE, self.owner)
            self._lease_until = 0.0
        for s in self._stores:
            s.close()
