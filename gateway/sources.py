"""The inbound source interface (folder watchers, MLLP listeners, HTTP).

A source type is registered with ``gateway_register_sources``; the daemon
builds one per configured ``sources:`` entry with
``factory(settings, clinic_id, base_dir)`` and calls ``start(submit)``.
``submit(raw, meta)`` durably journals the bytes and returns only after they
are stored — a source acknowledges (ACK, file move, HTTP 2xx) only after it
returns.

An HTTP source (:class:`HttpSource`, e.g. ``type: http``) also names the
paths it answers on the daemon's ``--http`` listener; the listener checks the
caller's intake token (before any body is read) and hands the request to the
source of the token's clinic.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from gateway.messages import MessageMeta

#: Journals raw bytes durably; returns the reply for the sender (an ACK) if any.
Submit = Callable[[bytes, MessageMeta], Awaitable[bytes | None]]


class Source(Protocol):
    name: str

    async def start(self, submit: Submit) -> None: ...

    async def stop(self) -> None: ...


class HttpSource(Source, Protocol):
    """A source fed through the gateway's HTTP listener."""

    clinic_id: str
    #: paths routed to it (``POST``), e.g. ``("/fhir", "/fhir/$process-message")``
    http_paths: tuple[str, ...]

    async def handle(self, request: Any, sender: str) -> Any:
        """Answer one authenticated request (a Starlette request and response);
        ``sender`` is the intake token's name."""
        ...
