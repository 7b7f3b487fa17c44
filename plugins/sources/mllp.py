"""MLLP listener (``type: mllp``): HL7 v2 over TCP, with TLS when configured.

Framing: ``0x0B`` message ``0x1C 0x0D``. Each frame is journaled durably
before anything is sent back; the reply is the format plugin's ACK (parse
runs inline for it), else one built here: ``AR`` when the bytes are no HL7
message or no clinic takes the sender, ``AE`` when the message has errors.
A resend (same sender, MSH-10 and bytes) is answered with the stored reply
and is not processed again. If the journal cannot store the message the
connection is closed without a reply, so the sender keeps it and resends.

Who may connect, checked before anything is read (and before the TLS
handshake): ``allow`` (peer addresses or networks; empty: any),
``max_connections`` (in all) and ``max_connections_per_peer`` (per peer
address) — a connection over a limit is closed at once. A connection must
complete its TLS handshake and first frame within ``first_frame_timeout``
(an idle socket that never sends a frame is closed quickly), later frames
within ``idle_timeout``. Refusals are logged at most once per reason every
10 seconds, each line counting the ones left out since.

Limits: ``max_frame_bytes`` (a larger frame is answered ``AR`` and skipped).
TLS: ``tls.cert``/``tls.key`` (server), ``tls.client_ca`` to verify client
certificates, ``tls.require_client_cert`` to insist (the recommended set-up
off-host, docs/operations.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import ssl
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from gateway import logging as glog
from gateway.daemon.metrics import ACK_LATENCY
from gateway.hookspecs import hookimpl
from gateway.messages import MessageMeta
from gateway.model import Finding

log = glog.get("mllp")

START, END = b"\x0b", b"\x1c\x0d"


class TLSSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cert: Path
    key: Path
    #: CA bundle for client certificates; with it, clients presenting one are verified
    client_ca: Path | None = None
    require_client_cert: bool = False


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class MLLPSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    host: str = "127.0.0.1"
    port: int = Field(ge=0, le=65535)
    max_frame_bytes: int = Field(4 * 1024 * 1024, gt=0)
    #: seconds a connection may wait between frames
    idle_timeout: float = Field(300.0, gt=0)
    #: seconds to complete the TLS handshake and the first frame
    first_frame_timeout: float = Field(10.0, gt=0)
    max_connections: int = Field(64, gt=0)
    max_connections_per_peer: int = Field(8, gt=0)
    #: peer addresses or networks allowed to connect (``10.1.2.3``, ``10.1.0.0/16``); empty: any
    allow: list[str] = Field(default_factory=list)
    tls: TLSSettings | None = None

    @field_validator("allow")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"'{entry}' is not an IP address or network (e.g. 10.1.2.3 or 10.1.0.0/16)") from None
        return value

    def networks(self) -> list[Network]:
        return [ipaddress.ip_network(entry, strict=False) for entry in self.allow]


def peer_address(peer: object) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The peer's IP address (an IPv4-mapped IPv6 address as IPv4)."""
    try:
        addr = ipaddress.ip_address(peer[0])  # type: ignore[index]
    except (TypeError, IndexError, ValueError):
        return None
    mapped = getattr(addr, "ipv4_mapped", None)
    return mapped or addr


# --------------------------------------------------------------------------
# ACKs built here (when the format plugin gave none)


def msh_fields(raw: bytes) -> list[str] | None:
    """MSH split on its field separator (``fields[n-1]`` is MSH-n), or None."""
    start = raw.find(b"MSH")
    if start < 0 or len(raw) < start + 8:
        return None
    text = raw[start:].decode("latin-1")
    sep = text[3]
    segment = text.replace("\n", "\r").split("\r", 1)[0]
    return segment.split(sep)


def build_ack(raw: bytes, code: str, text: str = "", error_code: str = "207", now: datetime | None = None) -> bytes:
    """An original-mode ACK (``AA``/``AE``/``AR``) for ``raw``; ``text`` must
    name rules, never patient data."""
    f = msh_fields(raw) or []
    at = raw.find(b"MSH")
    sep = raw[at + 3 : at + 4].decode("latin-1") if f else "|"
    comp = f[1][0] if len(f) > 1 and f[1] else "^"

    def field(n: int, default: str = "") -> str:
        return f[n - 1] if len(f) >= n and f[n - 1] else default

    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d%H%M%S")
    trigger = field(9).split(comp)[1] if comp in field(9) else ""
    control = "A" + hashlib.sha256(raw).hexdigest()[:19].upper()
    version = field(12, "2.5").split(comp)[0]
    msh = sep.join(
        [
            "MSH", field(2, "^~\\&"), field(5), field(6), field(3), field(4), stamp, "",
            comp.join(["ACK", trigger, "ACK"]) if trigger else "ACK", control, field(11, "P"), version,
        ]
    )  # fmt: skip
    clean = "".join(ch for ch in text if ch not in f"{sep}{comp}\r\n~\\&")[:80]
    msa = sep.join(["MSA", code, field(10), clean])
    segments = [msh, msa]
    if code != "AA":
        segments.append(sep.join(["ERR", "", "", comp.join([error_code, clean, "HL70357"]), "E"]))
    return ("\r".join(segments) + "\r").encode("latin-1", "replace")


def reply_for(raw: bytes, findings: list[Finding]) -> bytes:
    """Fallback reply: AR when unreadable or unroutable, AE for errors, else AA."""
    rules = sorted({f.rule for f in findings if f.is_error})
    if msh_fields(raw) is None or "GW-FORMAT" in rules:
        return build_ack(raw, "AR", "not an HL7 v2 message", "100")
    if "GW-TOO-LARGE" in rules:
        return build_ack(raw, "AR", "message too large", "100")
    if "GW-ROUTE" in rules:
        return build_ack(raw, "AR", "unknown sending facility", "207")
    if rules:
        return build_ack(raw, "AE", "errors: " + " ".join(rules), "207")
    return build_ack(raw, "AA")


# --------------------------------------------------------------------------
# framing


class FrameTooLarge(Exception):
    def __init__(self, head: bytes) -> None:
        super().__init__("frame too large")
        self.head = head


class FrameReader:
    """Reads MLLP frames from a stream. Bytes before a start block are
    skipped; a frame over ``limit`` raises :class:`FrameTooLarge` once it has
    been read past (carrying its first bytes, for the reply)."""

    def __init__(self, reader: asyncio.StreamReader, limit: int) -> None:
        self.reader, self.limit, self.buf = reader, limit, bytearray()

    async def _fill(self) -> bool:
        chunk = await self.reader.read(65536)
        self.buf += chunk
        return bool(chunk)

    async def next(self) -> bytes | None:
        """The next frame's content; None when the stream ends (mid-frame too)."""
        while (i := self.buf.find(START)) < 0:
            self.buf.clear()
            if not await self._fill():
                return None
        del self.buf[: i + 1]
        head: bytes | None = None
        scanned = 0
        while (end := self.buf.find(END, max(0, scanned - 1))) < 0:
            scanned = len(self.buf)
            if scanned > self.limit:
                head = head or bytes(self.buf[:4096])
                del self.buf[:-1]  # keep a byte: the end marker may straddle reads
                scanned = 1
            if not await self._fill():
                return None
        frame = bytes(self.buf[:end])
        del self.buf[: end + 2]
        if head is not None:
            raise FrameTooLarge(head)
        return frame


# --------------------------------------------------------------------------
# the listener


class MLLPSource:
    detailed_submit = True

    def __init__(self, settings: MLLPSettings, clinic_id: str | None, base_dir: Path) -> None:
        self.settings = settings
        self.clinic_id = clinic_id
        self.base_dir = base_dir
        self.name = f"mllp:{clinic_id}:{settings.port}"
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[asyncio.Task] = set()
        self._per_peer: dict[str, int] = {}
        self._allowed = settings.networks()
        self._busy: set[asyncio.Task] = set()
        self._closing = False
        self._refusals = glog.RateLimited(10.0)
        self._ssl: ssl.SSLContext | None = None
        self.port = settings.port

    def ssl_context(self) -> ssl.SSLContext | None:
        t = self.settings.tls
        if t is None:
            return None
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.base_dir / t.cert, self.base_dir / t.key)
        if t.client_ca is not None:
            ctx.load_verify_locations(self.base_dir / t.client_ca)
            ctx.verify_mode = ssl.CERT_REQUIRED if t.require_client_cert else ssl.CERT_OPTIONAL
        elif t.require_client_cert:
            raise ValueError("tls.require_client_cert needs tls.client_ca")
        return ctx

    async def start(self, submit: Callable[..., Any]) -> None:
        self._submit = submit
        self._ssl = self.ssl_context()  # the handshake starts in _handle, after the peer checks
        self._server = await asyncio.start_server(self._handle, self.settings.host, self.settings.port, limit=65536)
        self.port = self._server.sockets[0].getsockname()[1]
        glog.event(log, "mllp.listening", source=self.name, port=self.port, tls=self.settings.tls is not None)

    async def stop(self) -> None:
        """Stop accepting; let frames being journaled finish; close connections."""
        self._closing = True
        if self._server is not None:
            self._server.close()
        if self._busy:
            await asyncio.wait(list(self._busy), timeout=30)
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.wait(list(self._connections), timeout=5)
        if self._server is not None:
            await self._server.wait_closed()

    def _refusal(self, addr: object) -> str | None:
        """Why a new connection from ``addr`` is refused, or None."""
        s = self.settings
        if self._closing:
            return "stopping"
        if addr is None or (self._allowed and not any(addr in net for net in self._allowed)):
            return "not-allowed"
        if len(self._connections) >= s.max_connections:
            return "connection-limit"
        if self._per_peer.get(str(addr), 0) >= s.max_connections_per_peer:
            return "peer-connection-limit"
        return None

    def _refuse(self, reason: str, addr: object) -> None:
        self._refusals.event(log, "mllp.refused", 30, reason, source=self.name, reason=reason, peer=str(addr))

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        addr = peer_address(writer.get_extra_info("peername"))
        reason = self._refusal(addr)
        if reason is not None:
            self._refuse(reason, addr)
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        key = str(addr)
        self._connections.add(task)
        self._per_peer[key] = self._per_peer.get(key, 0) + 1
        glog.event(log, "mllp.connected", source=self.name, peer=key)
        frames = FrameReader(reader, self.settings.max_frame_bytes)
        first = asyncio.get_running_loop().time() + min(self.settings.first_frame_timeout, self.settings.idle_timeout)
        try:
            if self._ssl is not None:
                try:
                    async with asyncio.timeout_at(first):
                        await writer.start_tls(self._ssl)
                except (TimeoutError, ssl.SSLError, ConnectionError, OSError) as exc:
                    self._refuse("tls-" + ("timeout" if isinstance(exc, TimeoutError) else "failed"), addr)
                    return
            while not self._closing:
                try:
                    if first is not None:  # until the first frame: the short deadline, handshake included
                        async with asyncio.timeout_at(first):
                            frame = await frames.next()
                        first = None
                    else:
                        frame = await asyncio.wait_for(frames.next(), self.settings.idle_timeout)
                except FrameTooLarge as exc:
                    first = None
                    glog.event(log, "mllp.frame_too_large", 30, source=self.name)
                    writer.write(START + build_ack(exc.head, "AR", "message too large", "100") + END)
                    await writer.drain()
                    continue
                if frame is None:
                    break
                t0 = time.perf_counter()
                reply = await self._journal(frame)
                if reply is None:
                    break  # not stored: no ACK, the sender resends
                writer.write(START + reply + END)
                await writer.drain()
                ACK_LATENCY.observe(time.perf_counter() - t0, source="mllp")
        except TimeoutError:
            if first is not None:
                self._refuse("no-frame", addr)
            else:
                glog.event(log, "mllp.idle_timeout", source=self.name)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            self._connections.discard(task)
            left = self._per_peer.pop(key, 1) - 1
            if left:
                self._per_peer[key] = left
            writer.close()

    async def _journal(self, frame: bytes) -> bytes | None:
        meta = MessageMeta(source="mllp", today=date.today(), clinic_id=self.clinic_id, received_at=datetime.now(UTC))
        job = asyncio.ensure_future(self._submit(frame, meta, reply_for))
        self._busy.add(job)  # stop() lets it commit even when this connection is cancelled
        job.add_done_callback(self._busy.discard)
        try:
            outcome = await asyncio.shield(job)
        except Exception as exc:
            glog.event(log, "mllp.journal_failed", 40, source=self.name, error=type(exc).__name__)
            return None
        reply = outcome if isinstance(outcome, bytes) or outcome is None else outcome.reply
        return reply if reply is not None else reply_for(frame, [])


def mllp_source(settings: MLLPSettings, clinic_id: str, base_dir: Path) -> MLLPSource:
    return MLLPSource(settings, clinic_id, base_dir)


@hookimpl
def gateway_register_sources(register: Callable[[str, Callable[..., Any], type[BaseModel]], None]) -> None:
    register("mllp", mllp_source, MLLPSettings)
