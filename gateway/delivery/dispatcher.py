"""The dispatcher: delivers due outbox documents through their destination's
transport, with exponential backoff and jitter, dead letters, and the
clearinghouse responses fetch.

One pass claims up to ``batch`` due documents (with a lease), opens one
transport per destination (an SFTP connection is reused for the whole pass),
and records each outcome in its own transaction:

* delivered (or already present at the destination) → ``delivered``, and its
  claims, statements and, when complete, their messages → ``delivered``;
* a retryable :class:`~gateway.transport.TransportError` → due again after
  ``min(retry_max_s, retry_base_s · 2^(attempts-1))`` scaled by a random
  factor in [0.5, 1] (jitter, so many documents do not retry in lock step);
  after ``max_attempts`` attempts → ``dead``;
* a non-retryable error (refused host key, bad credentials, a document the
  destination cannot take) → ``dead`` at once, with the reason.

After a retryable failure the destination's other documents in the pass are
not tried (the server is likely down): they count a failed attempt with the
same reason and back off too. A crash between the upload and the outbox
update leaves the row pending; it is delivered again, and transports treat a
file already present with the same name and size (content) as delivered.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway import logging as glog
from gateway.app import Gateway
from gateway.config import ConfigError
from gateway.store import NewMessage, Store
from gateway.store.outbox import DEAD, OutboxItem
from gateway.transport import ResponseSettings, ResponseTransport, Transport, TransportError

from .outbox import RESPONSE_FORMAT, RESPONSE_STATUS, node_id, release_orphans

log = glog.get("dispatcher")


def _close(transport: Transport) -> None:
    with contextlib.suppress(Exception):
        transport.close()


def backoff(attempts: int, base: float, cap: float, rng: Callable[[], float] = random.random) -> float:
    """Seconds before the next try after ``attempts`` failed ones: exponential,
    capped, with jitter in [50 %, 100 %]."""
    delay = min(cap, base * (2 ** max(0, attempts - 1)))
    return delay * (0.5 + 0.5 * rng())


@dataclass
class PassResult:
    delivered: int = 0
    already_present: int = 0
    retried: int = 0
    dead: int = 0
    errors: list[str] = field(default_factory=list)
    #: (outbox id, destination, name, location) of each document delivered
    documents: list[tuple[int, str, str, str]] = field(default_factory=list)

    @property
    def handled(self) -> int:
        return self.delivered + self.retried + self.dead

    def add(self, other: PassResult) -> None:
        """Count ``other`` (a later pass) in this result."""
        self.delivered += other.delivered
        self.already_present += other.already_present
        self.retried += other.retried
        self.dead += other.dead
        self.errors += other.errors
        self.documents += other.documents


class Dispatcher:
    """Delivers the outbox (see the module doc). One per thread or process."""

    def __init__(
        self,
        gateway: Gateway,
        store: Store,
        name: str | None = None,
        batch: int = 64,
        transport_factory: Callable[[str], Transport] | None = None,
        keep_open_s: float = 15.0,
        lane: str | None = None,
    ) -> None:
        self.gateway = gateway
        self.store = store
        self.name = name or node_id("dispatch")
        self.batch = batch
        self.delivery = gateway.config.delivery
        self.transport_factory = transport_factory or gateway.transport
        #: whose documents this dispatcher delivers (None: the daemon's)
        self.lane = lane
        self.stop = threading.Event()
        #: set to start the next pass at once (the batcher just cut a batch)
        self.wake = threading.Event()
        self._responses_due: dict[str, float] = {}
        #: a destination's transport (its connection) stays open this long after a pass
        self.keep_open_s = keep_open_s
        self._open: dict[str, tuple[Transport, float]] = {}

    def max_attempts(self, destination: str) -> int:
        tuning = self.delivery.destinations.get(destination)
        return tuning.max_attempts if tuning and tuning.max_attempts else self.delivery.max_attempts

    def run_until_idle(self) -> PassResult:
        """Passes until one delivers nothing: every document due now is tried
        once (one that fails waits for its retry time, so the loop ends)."""
        total = PassResult()
        while True:
            result = self.run_once()
            total.add(result)
            if not result.delivered:
                return total

    def run_once(self) -> PassResult:
        """Claim and deliver one pass of due documents."""
        items = self.store.outbox_claim(self.name, self.batch, self.delivery.lease_s, self.lane)
        result = PassResult()
        by_dest: dict[str, list[OutboxItem]] = {}
        for item in items:
            by_dest.setdefault(item.destination, []).append(item)
        for dest, group in by_dest.items():
            if self.stop.is_set():
                self.store.outbox_release(self.name, [i.id for i in group])
                continue
            self._deliver_group(dest, group, result)
        return result

    def _transport(self, dest: str) -> Transport:
        cached = self._open.pop(dest, None)
        if cached is not None:
            if time.monotonic() - cached[1] < self.keep_open_s:
                return cached[0]
            _close(cached[0])
        return self.transport_factory(dest)

    def close_idle(self, everything: bool = False) -> None:
        """Close transports unused for ``keep_open_s`` (all with ``everything``)."""
        now = time.monotonic()
        for dest, (transport, used) in list(self._open.items()):
            if everything or now - used >= self.keep_open_s:
                del self._open[dest]
                _close(transport)

    def _deliver_group(self, dest: str, group: list[OutboxItem], result: PassResult) -> None:
        try:
            transport = self._transport(dest)
        except (ConfigError, TransportError) as exc:
            problem = "; ".join(exc.problems) if isinstance(exc, ConfigError) else str(exc)
            retryable = isinstance(exc, TransportError) and exc.retryable
            error = TransportError(f"destination {dest}: {problem}", retryable=retryable)
            for item in group:
                self._failed(item, error, result)
            return
        down: TransportError | None = None
        try:
            for n, item in enumerate(group):
                if self.stop.is_set():
                    self.store.outbox_release(self.name, [i.id for i in group[n:]])
                    return
                if down is not None:
                    self._failed(item, TransportError(f"not tried: {down}"), result)
                    continue
                try:
                    receipt = transport.deliver(item.document)
                except TransportError as exc:
                    self._failed(item, exc, result)
                    if exc.retryable:
                        down = exc
                    continue
                except Exception as exc:  # a transport bug: say which, keep the document
                    self._failed(item, TransportError(f"transport raised {type(exc).__name__}"), result)
                    down = TransportError(f"transport raised {type(exc).__name__}")
                    continue
                if self.store.outbox_delivered(self.name, item, receipt.location, receipt.already_present):
                    result.delivered += 1
                    result.documents.append((item.id, dest, item.document.name, receipt.location))
                    result.already_present += receipt.already_present
                    glog.event(log, "outbox.delivered", outbox=item.id, destination=dest, attempt=item.attempts + 1,
                               already_present=receipt.already_present)  # fmt: skip
        finally:
            if down is None and self.keep_open_s > 0 and not self.stop.is_set():
                self._open[dest] = (transport, time.monotonic())
            else:
                _close(transport)

    def _failed(self, item: OutboxItem, exc: TransportError, result: PassResult) -> None:
        attempts = item.attempts + 1
        dead = not exc.retryable or attempts >= self.max_attempts(item.destination)
        delay = 0.0 if dead else backoff(attempts, self.delivery.retry_base_s, self.delivery.retry_max_s)
        reason = str(exc)
        status = self.store.outbox_failed(self.name, item, reason, dead=dead, retry_in=delay)
        if status == DEAD:
            result.dead += 1
        else:
            result.retried += 1
        result.errors.append(reason)
        glog.event(
            log, "outbox.dead" if dead else "outbox.retry", logging.ERROR if dead else logging.WARNING,
            outbox=item.id, destination=item.destination, attempt=attempts, retryable=exc.retryable,
            retry_in=round(delay, 2),
        )  # fmt: skip

    # -- clearinghouse responses -------------------------------------------
    def fetch_responses(self, force: bool = False) -> int:
        """Poll the responses folder of every destination whose transport has
        one (``fetch_responses``); new files are journaled raw (status
        ``stored``, format ``x12-response``) for the remittance work. How many."""
        now = time.time()
        total = 0
        for dest in self.gateway.config.destinations:
            if not force and self._responses_due.get(dest, 0.0) > now:
                continue
            self._responses_due[dest] = now + self.delivery.responses_poll_s
            settings = self.gateway.destination_settings.get(dest)
            if not isinstance(settings, ResponseSettings) or settings.responses_path is None:
                continue
            try:
                total += self._fetch_from(dest)
            except (TransportError, ConfigError) as exc:
                glog.event(log, "responses.failed", logging.WARNING, destination=dest, error=type(exc).__name__,
                           retryable=isinstance(exc, TransportError) and exc.retryable)  # fmt: skip
        return total

    def _fetch_from(self, dest: str) -> int:
        scope = f"responses:{dest}"
        transport = self.transport_factory(dest)
        n = 0
        try:
            if not isinstance(transport, ResponseTransport):
                raise TransportError(f"the transport of destination {dest} cannot fetch responses", retryable=False)

            def known(name: str, size: int) -> bool:
                return self.store.response_known(scope, name, size)

            for name, raw in transport.fetch_responses(known):
                msg = NewMessage(
                    raw=raw, sha256=hashlib.sha256(raw).hexdigest(), scope=scope, source=f"responses:{dest}",
                    received_at=time.time(), name=name, format=RESPONSE_FORMAT,
                    status=RESPONSE_STATUS,  # type: ignore[arg-type]
                )  # fmt: skip
                (j,) = self.store.journal([msg], actor="responses")
                transport.response_stored(name)
                n += not j.duplicate
                glog.event(log, "response.stored", destination=dest, message_id=j.message_id, size=len(raw),
                           duplicate=j.duplicate)  # fmt: skip
        finally:
            with contextlib.suppress(Exception):
                transport.close()
        return n

    def run(self, poll_min: float = 0.05, poll_max: float = 1.0) -> None:
        """Loop until ``stop``: deliver what is due, poll responses, back off when idle."""
        release_orphans(self.store)
        delay = poll_min
        while not self.stop.is_set():
            try:
                busy = self.run_once().handled
                self.fetch_responses()
            except Exception as exc:  # the store is unreachable, say: keep the loop alive
                glog.event(log, "dispatcher.error", logging.ERROR, error=type(exc).__name__)
                busy = 0
            self.close_idle()
            if busy:
                delay = poll_min
            else:
                self.wake.wait(delay)
                delay = poll_min if self.wake.is_set() else min(delay * 2, poll_max)
                self.wake.clear()
        self.close_idle(everything=True)


def deliver_due(
    gateway: Gateway, store: Store, transport_factory: Callable[[str], Transport] | None = None, name: str | None = None
) -> PassResult:
    """Deliver every document of the outbox due now, as the daemon would
    (:meth:`Dispatcher.run_until_idle`), then close the connections."""
    dispatcher = Dispatcher(gateway, store, name=name, transport_factory=transport_factory, keep_open_s=0)
    try:
        return dispatcher.run_until_idle()
    finally:
        dispatcher.close_idle(everything=True)
