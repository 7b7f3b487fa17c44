"""The journal: sources hand raw bytes here; they are durably stored (and
deduplicated) before the call returns, so a source acknowledges only what is
on disk.

Commits are grouped: one writer thread takes every submission waiting at
that moment and stores them in one transaction (one fsync), so many MLLP
connections or a folder of files cost a few commits, not one each, while a
lone message is committed at once.

A source that sets ``replies = True`` gets the reply its sender expects:
the format plugin's acknowledgement (sniff + parse run inline before the
commit), else one the source builds itself (``build_reply(raw, findings)``),
and a resend gets the reply stored with the first copy.

Nothing of this runs on the event loop: small inputs are prepared (sniff,
route, parse for the reply) in the default thread pool, big ones in the
journal's own thread with the sniff in a helper process
(:mod:`gateway.daemon.sniffer`), so a big file never delays an MLLP ACK and
never waits behind small ones. An input over ``max_input_bytes`` is refused
before any plugin reads it (``GW-TOO-LARGE``, stored quarantined).
"""

from __future__ import annotations

import asyncio
import hashlib
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from gateway import logging as glog
from gateway.app import Gateway
from gateway.daemon.metrics import JOURNALED
from gateway.daemon.sniffer import SNIFF_DIED, Sniffer
from gateway.messages import Envelope, MessageMeta, ParseResult
from gateway.model import Finding
from gateway.rules import CORE
from gateway.sources import ReplyBuilder
from gateway.store import Journaled, NewMessage, Status, Store

log = glog.get("journal")

#: builds a reply when the format plugin gave none: (raw, findings) -> bytes


@dataclass(frozen=True)
class JournalOutcome:
    """What happened to one submission."""

    message_id: int
    duplicate: bool
    reply: bytes | None
    #: why the bytes cannot be processed (no plugin recognises them); the
    #: message is stored quarantined, a folder source moves the file to error/
    rejected: str | None = None


TOO_LARGE = "GW-TOO-LARGE"


def too_large(size: int, limit: int) -> Finding:
    """The finding for an input refused by size before any plugin read it."""
    message = f"input is {size} bytes; the limit is {limit} (max_input_bytes in gateway.yaml)"
    return CORE[TOO_LARGE].finding(message)


_FORMAT = CORE["GW-FORMAT"].finding("input is not in a format any loaded plugin recognises")


def prepare(
    gateway: Gateway,
    raw: bytes,
    meta: MessageMeta,
    reader: Store | None = None,
    build_reply: ReplyBuilder | None = None,
    sniff: Callable[[bytes, MessageMeta], tuple[Envelope | None, list[Finding]]] | None = None,
) -> tuple[NewMessage, str | None]:
    """What the journal stores for ``raw``: sniffed and routed to a clinic
    (its dedup scope), with the reply its sender expects when ``build_reply``
    is given (parsing with ``reader``); and why it cannot be processed when no
    plugin recognises it or it is over ``max_input_bytes`` (refused before any
    plugin reads it). ``sniff`` replaces the in-process sniff (the daemon's
    helper process for big inputs). Used by the daemon's journal and
    ``gateway process``."""
    pipeline = gateway.pipeline
    received = (meta.received_at.timestamp() if meta.received_at else None) or time.time()
    digest = hashlib.sha256(raw).hexdigest()
    common = dict(raw=raw, sha256=digest, source=meta.source, received_at=received, name=meta.name)
    limit = gateway.config.max_input_bytes
    if len(raw) > limit:
        envelope, errors = None, [too_large(len(raw), limit)]
    elif sniff is not None:
        envelope, errors = sniff(raw, meta)
    else:
        envelope, errors = gateway.host.first_result("gateway_sniff", raw=raw, meta=meta)
    if envelope is None:
        refused = any(f.rule in (TOO_LARGE, SNIFF_DIED) for f in errors)  # why is known: not the format
        findings = errors if refused else [*errors, _FORMAT]
        ack = build_reply(raw, findings) if build_reply else None
        scope = meta.clinic_id or ""
        msg = NewMessage(
            **common,
            scope=scope,
            channel_clinic=meta.clinic_id,
            clinic_id=meta.clinic_id,
            ack=ack,
            status=Status.QUARANTINED,
            findings=[f.model_dump(mode="json", exclude_none=True) for f in findings],
        )
        return msg, findings[-1].message
    clinic = pipeline.route(meta, envelope)
    scope = clinic.id if clinic else (f"sender:{envelope.sender}" if envelope.sender else "")
    ack = _reply(gateway, reader, raw, envelope, clinic, build_reply) if build_reply else None
    msg = NewMessage(
        **common,
        scope=scope,
        channel_clinic=meta.clinic_id,
        clinic_id=clinic.id if clinic else None,
        format=envelope.format,
        sender=envelope.sender,
        control_id=envelope.control_id,
        message_type=envelope.message_type,
        ack=ack,
    )
    return msg, None


def _reply(
    gateway: Gateway, reader: Store | None, raw: bytes, envelope: Envelope, clinic, build_reply: ReplyBuilder
) -> bytes | None:
    if clinic is None:
        route = CORE["GW-ROUTE"].finding("no clinic for this sender")
        return build_reply(raw, [route])
    parsed, errors = gateway.host.first_result(
        "gateway_parse", raw=raw, envelope=envelope, clinic=clinic, records=reader
    )
    if isinstance(parsed, ParseResult):
        parsed.drain()  # a streaming result has its ACK once read
    if isinstance(parsed, ParseResult) and parsed.acknowledgement is not None:
        return parsed.acknowledgement
    findings = errors + (parsed.findings if isinstance(parsed, ParseResult) else [])
    return build_reply(raw, findings)


class Journal:
    """Durable, deduplicating intake for every source of one daemon."""

    def __init__(self, gateway: Gateway, store: Store, reader: Store, max_batch: int = 512) -> None:
        self.gateway = gateway
        self.store = store
        self.reader = reader
        self.max_batch = max_batch
        self.max_input_bytes = gateway.config.max_input_bytes
        self.sniffer = Sniffer(gateway.host, gateway.loaded.path)
        self._big = ThreadPoolExecutor(1, thread_name_prefix="journal-big")
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._writer, name="journal-writer", daemon=True)
        self._thread.start()

    # -- preparing a message (a thread, never the event loop) -----------------
    def prepare(self, raw: bytes, meta: MessageMeta, build_reply: ReplyBuilder | None) -> tuple[NewMessage, str | None]:
        """:func:`prepare` with this journal's gateway, record reader and sniffer."""
        return prepare(self.gateway, raw, meta, self.reader, build_reply, sniff=self.sniffer.sniff)

    # -- submitting ------------------------------------------------------
    async def submit_detailed(
        self, raw: bytes, meta: MessageMeta, build_reply: ReplyBuilder | None = None
    ) -> JournalOutcome:
        """Journal ``raw`` durably; returns after the commit."""
        loop = asyncio.get_running_loop()
        lane = self._big if len(raw) >= self.sniffer.offload_bytes else None
        msg, rejected = await loop.run_in_executor(lane, self.prepare, raw, meta, build_reply)
        fut: asyncio.Future[Journaled] = loop.create_future()
        self._queue.put((msg, fut, loop))
        j = await fut
        kind = meta.source.split(":", 1)[0]
        JOURNALED.inc(source=kind, outcome="duplicate" if j.duplicate else ("rejected" if rejected else "new"))
        glog.event(
            log, "message.journaled", message_id=j.message_id, duplicate=j.duplicate, source=kind,
            clinic=msg.clinic_id, format=msg.format, size=len(raw), rejected=bool(rejected),
        )  # fmt: skip
        reply = j.ack if j.duplicate and j.ack is not None else msg.ack
        return JournalOutcome(j.message_id, j.duplicate, reply, rejected if not j.duplicate else None)

    async def submit(self, raw: bytes, meta: MessageMeta) -> bytes | None:
        """The :data:`gateway.sources.Submit` of plain sources."""
        return (await self.submit_detailed(raw, meta)).reply

    # -- the writer thread ---------------------------------------------------
    def _writer(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            try:
                results = self.store.journal([m for m, _, _ in batch])
            except Exception as exc:
                glog.event(log, "journal.failed", 40, error=type(exc).__name__, messages=len(batch))
                for _, fut, loop in batch:
                    loop.call_soon_threadsafe(_set, fut, None, exc)
            else:
                for (_, fut, loop), res in zip(batch, results, strict=True):
                    loop.call_soon_threadsafe(_set, fut, res, None)
            if stop:
                return

    def close(self) -> None:
        """Commit what is queued, then stop the writer (and the sniff helper)."""
        self._queue.put(None)
        self._thread.join()
        self._big.shutdown(wait=True)
        self.sniffer.close()


def _set(fut: asyncio.Future, result: object, exc: BaseException | None) -> None:
    if fut.done():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(result)
