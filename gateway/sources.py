"""The inbound source interface (folder watchers, MLLP listeners, HTTP), and
the one safe way to read an input file.

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

import errno
import os
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from gateway.messages import MessageMeta
from gateway.model import Finding

#: Journals raw bytes durably; returns the reply for the sender (an ACK) if any.
Submit = Callable[[bytes, MessageMeta], Awaitable[bytes | None]]
#: Builds the reply (an ACK) from the raw bytes and the journal's findings.
ReplyBuilder = Callable[[bytes, list[Finding]], bytes | None]


class SubmitOutcome(Protocol):
    """What the journal did with one submission (for :class:`DetailedSource`)."""

    message_id: int
    duplicate: bool
    #: the reply for the sender (an ACK), if any
    reply: bytes | None
    #: why the bytes cannot be processed (no plugin recognises them), else None
    rejected: str | None


#: Journals raw bytes durably and says what happened; ``build_reply`` (optional) makes the ACK.
DetailedSubmit = Callable[..., Awaitable[SubmitOutcome]]


@runtime_checkable
class Source(Protocol):
    """What a source type's factory returns; the daemon starts and stops it."""

    name: str

    async def start(self, submit: Submit) -> None: ...

    async def stop(self) -> None: ...


@runtime_checkable
class DetailedSource(Source, Protocol):
    """A source that needs the journal's outcome, not just the reply (a folder
    source moves a rejected file to error/, MLLP builds its own ACK): with
    ``detailed_submit = True`` its ``start`` receives a :data:`DetailedSubmit`
    ``submit(raw, meta, build_reply=None) -> SubmitOutcome``."""

    detailed_submit: Literal[True]

    async def start(self, submit: DetailedSubmit) -> None: ...  # type: ignore[override]


class InputRefused(Exception):
    """An input file that was not read (or not whole). ``str(exc)`` says why
    in words an operator can act on, never with content; ``kind`` is a short
    tag for logs (``not-regular``, ``too-large``, ``unreadable``)."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


_KINDS = {
    stat.S_IFLNK: "a symbolic link",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a directory",
}


def _not_regular(mode: int) -> InputRefused:
    what = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
    return InputRefused("not-regular", f"{what}, not a regular file; never read")


def _too_large(size: str, max_bytes: int) -> InputRefused:
    return InputRefused("too-large", f"file is larger than max_bytes ({size} > {max_bytes}); not read")


def check_input(path: Path, max_bytes: int, *, follow_symlinks: bool = False) -> os.stat_result:
    """What :func:`read_input` checks before opening ``path`` (type and reported
    size), without opening it; raises :class:`InputRefused`."""
    try:
        st = os.stat(path, follow_symlinks=follow_symlinks)
    except OSError as exc:
        raise InputRefused("unreadable", f"cannot read the file ({exc.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise _not_regular(st.st_mode)
    if st.st_size > max_bytes:
        raise _too_large(str(st.st_size), max_bytes)
    return st


def read_input(path: Path, max_bytes: int, *, follow_symlinks: bool = False) -> bytes:
    """The bytes of the regular file ``path``, at most ``max_bytes`` of them.

    Anything else raises :class:`InputRefused` without being read: a symbolic
    link (unless ``follow_symlinks``: an operator naming a file on the command
    line), a FIFO, a device or a socket (checked with ``lstat`` before the
    open and ``fstat`` after it, opened ``O_NOFOLLOW|O_NONBLOCK`` so nothing
    blocks), a file with other hard links (unless ``follow_symlinks``: it may
    be a file from outside the folder), a file over ``max_bytes`` — by its
    size, and by the bytes actually read, whatever size it reports.
    """
    st = check_input(path, max_bytes, follow_symlinks=follow_symlinks)
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC | (0 if follow_symlinks else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # became a symlink after the lstat
            raise _not_regular(stat.S_IFLNK) from None
        raise InputRefused("unreadable", f"cannot read the file ({exc.strerror})") from None
    with os.fdopen(fd, "rb", buffering=0) as fh:
        now = os.fstat(fd)
        if not stat.S_ISREG(now.st_mode):
            raise _not_regular(now.st_mode)
        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
            raise InputRefused("not-regular", "the file was replaced while it was opened; not read")
        if not follow_symlinks and now.st_nlink != 1:
            reason = "the file has other hard links (it may live outside the folder); not read"
            raise InputRefused("not-regular", reason)
        parts = [fh.read(min(now.st_size, max_bytes) + 1)]  # one allocation when the size is true
        total = len(parts[0])
        # a file longer than it said (or still growing): small reads, so checking for more never
        # allocates the whole remaining allowance (FileIO.read(n) allocates n bytes up front)
        while total <= max_bytes and (chunk := fh.read(min(max_bytes + 1 - total, 1 << 16))):
            parts.append(chunk)
            total += len(chunk)
    if total > max_bytes:
        raise _too_large(f"more than {max_bytes} bytes read", max_bytes)
    return parts[0] if len(parts) == 1 else b"".join(parts)


@runtime_checkable
class HttpSource(Source, Protocol):
    """A source fed through the gateway's HTTP listener."""

    clinic_id: str
    #: paths routed to it (``POST``), e.g. ``("/fhir", "/fhir/$process-message")``
    http_paths: tuple[str, ...]

    async def handle(self, request: Any, sender: str) -> Any:
        """Answer one authenticated request (a Starlette request and response);
        ``sender`` is the intake token's name."""
        ...


def acknowledged(source_type: str, seconds: float) -> None:
    """Record how long a source took from a complete inbound message to its
    reply (MLLP ACK, HTTP 202): the ``gateway_ack_latency_seconds`` histogram."""
    from gateway.daemon.metrics import ACK_LATENCY

    ACK_LATENCY.observe(seconds, source=source_type)
