"""The inbound source interface (folder watchers, MLLP listeners, HTTP).

A source type is registered with ``gateway_register_sources``; the daemon
builds one per configured ``sources:`` entry with
``factory(settings, clinic_id, base_dir)`` and calls ``start(submit)``.
``submit(raw, meta)`` durably journals the bytes and returns only after they
are stored — a source acknowledges (ACK, file move, HTTP 2xx) only after it
returns.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from gateway.messages import MessageMeta

#: Journals raw bytes durably; returns the reply for the sender (an ACK) if any.
Submit = Callable[[bytes, MessageMeta], Awaitable[bytes | None]]


class Source(Protocol):
    name: str

    async def start(self, submit: Submit) -> None: ...

    async def stop(self) -> None: ...
