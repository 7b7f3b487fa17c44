"""Envelopes of big inputs, sniffed in a helper process.

A format plugin's ``gateway_sniff`` may decode the whole input — the FHIR
plugin runs ``json.loads`` on a bundle, about 0.3 s for 5 MB, and that C code
holds the GIL, so a thread does not help: on the daemon's event loop (or in
any of its threads) it stalls every MLLP ACK meanwhile. Inputs of
``offload_bytes`` or more are therefore sniffed in one helper process
(spawned on first use, with the same plugins; started again if it dies), and
the envelope comes back without the decoded document. The helper's memory
(the decoded document) stays out of the daemon.
"""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from pathlib import Path
from typing import Any

from gateway import logging as glog
from gateway.messages import Envelope, MessageMeta
from gateway.model import Finding
from gateway.plugins import PluginHost
from gateway.rules import CORE

log = glog.get("sniffer")

#: inputs this big or bigger are sniffed in the helper process
OFFLOAD_BYTES = 256 * 1024

_host: PluginHost | None = None


def _start(config: Path) -> None:
    """Helper process initialiser: the plugins of ``config``."""
    global _host
    from gateway.config import read_config

    _host = PluginHost(disable=read_config(config).config.plugins.disable)


def _sniff(raw: bytes, meta: MessageMeta) -> tuple[Envelope | None, list[Finding]]:
    assert _host is not None
    envelope, errors = _host.first_result("gateway_sniff", raw=raw, meta=meta)
    if isinstance(envelope, Envelope) and "doc" in envelope.extra:  # the decoded document stays here
        envelope = replace(envelope, extra={k: v for k, v in envelope.extra.items() if k != "doc"})
    return envelope, errors


SNIFF_DIED = "GW-SNIFF"
_DIED = CORE[SNIFF_DIED].finding(
    "the input could not be examined: the process reading it died (too big or malformed?)"
)


class Sniffer:
    """``gateway_sniff`` for the journal: in the calling thread for small
    inputs, in the helper process for big ones (blocks the calling thread)."""

    def __init__(self, host: PluginHost, config: Path | None, offload_bytes: int = OFFLOAD_BYTES) -> None:
        self.host = host
        self.offload_bytes = offload_bytes
        # only plugins the helper loads the same way (entry points, not objects registered in this process)
        dists = {i.name: i.distribution for i in host.infos}
        same = all(dists.get(impl.plugin_name) for impl in host.impls("gateway_sniff"))
        self.config = config if same else None
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def sniff(self, raw: bytes, meta: MessageMeta) -> tuple[Any, list[Finding]]:
        if self.config is None or len(raw) < self.offload_bytes:
            return self.host.first_result("gateway_sniff", raw=raw, meta=meta)
        with self._lock:
            if self._pool is None:
                ctx = multiprocessing.get_context("spawn")
                self._pool = ProcessPoolExecutor(1, mp_context=ctx, initializer=_start, initargs=(self.config,))
                glog.event(log, "sniffer.started")
            pool = self._pool
        try:
            return pool.submit(_sniff, raw, meta).result()
        except BrokenProcessPool:
            glog.event(log, "sniffer.died", 40, size=len(raw))
            with self._lock:
                if self._pool is pool:
                    self._pool = None
            return None, [_DIED]

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
