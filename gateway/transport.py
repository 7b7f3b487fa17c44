"""The transport interface: deliver a document somewhere, idempotently.

A transport is built from a destination's settings by a factory registered
through ``gateway_register_transports``. Contract (checked by the shared
suite in ``tests/transport_contract.py`` that every transport's tests use):

* ``deliver(doc)`` returns a :class:`Receipt`; delivering the same document
  twice leaves one copy at the destination (deterministic names);
* failures raise :class:`TransportError` with ``retryable`` telling the
  outbox whether to try again;
* ``close()`` releases connections; a transport is a context manager.

A transport that can also collect the payer's answers (999, 277CA, 835) from
the destination follows :class:`ResponseTransport`; the dispatcher polls it
when the destination's settings follow :class:`ResponseSettings` with a
``responses_path`` set.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, runtime_checkable

from gateway.documents import Document


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is this machine's loopback:
    where plaintext (SMTP without TLS, HTTP without TLS) is allowed."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def local_process_gone(pid: str) -> bool:
    """Whether ``pid`` (as written into a temp name or a holder id) is a
    process of this host that no longer runs (killed with -9, say): never
    this process, never one still alive."""
    if not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


class TransportError(Exception):
    """Delivery failed. ``retryable`` is False for errors a retry cannot fix
    (refused host key, bad credentials, bad configuration)."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class Receipt:
    """Proof of delivery: where the document went and whether it was already there."""

    location: str
    already_present: bool = False


@runtime_checkable
class Transport(Protocol):
    """What a transport factory returns."""

    def deliver(self, doc: Document) -> Receipt: ...

    def close(self) -> None: ...

    def __enter__(self) -> Transport: ...

    def __exit__(self, *exc: Any) -> None: ...


@runtime_checkable
class ResponseSettings(Protocol):
    """Destination settings of a transport that can fetch responses; ``None``
    switches the polling off for that destination."""

    responses_path: str | None


@runtime_checkable
class ResponseTransport(Transport, Protocol):
    """A transport that also fetches response files from the destination."""

    def fetch_responses(self, known: Callable[[str, int], bool]) -> Iterator[tuple[str, bytes]]:
        """Yield ``(name, content)`` of each response file for which
        ``known(name, size)`` is False."""
        ...

    def response_stored(self, name: str) -> None:
        """Called once the file ``name`` is journaled durably (the transport
        may now delete or move it)."""
        ...


class BaseTransport:
    """Context-manager plumbing shared by transports."""

    def close(self) -> None:
        """Release resources; the default has none."""

    def __enter__(self) -> BaseTransport:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class MemoryTransport(BaseTransport):
    """Reference transport that keeps documents in a dict (for tests).

    ``fail_next`` makes the next N deliveries raise a retryable error, to
    exercise retry paths.
    """

    def __init__(self, fail_next: int = 0) -> None:
        self.delivered: dict[str, bytes] = {}
        self.fail_next = fail_next
        self.closed = False

    def deliver(self, doc: Document) -> Receipt:
        if self.closed:
            raise TransportError("transport is closed", retryable=False)
        if self.fail_next > 0:
            self.fail_next -= 1
            raise TransportError("simulated outage")
        present = self.delivered.get(doc.name) == doc.content
        self.delivered[doc.name] = doc.content
        return Receipt(location=f"memory:{doc.name}", already_present=present)

    def close(self) -> None:
        self.closed = True
