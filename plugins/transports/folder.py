"""Folder transport: documents written to a local folder, atomically.

Each file is written to a temporary name in the same folder, fsynced and
renamed into place, then the folder is fsynced, so a reader never sees half
a file and a crash leaves either nothing or the whole file. Files are 0600 in
0700 folders. Delivering a document whose file already holds the same bytes
is a no-op; different bytes under the same name are refused (names are
deterministic, so that means two different documents collided).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from gateway.documents import Document
from gateway.hookspecs import hookimpl
from gateway.transport import BaseTransport, Receipt, TransportError, local_process_gone


class FolderSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: where files go; relative to gateway.yaml's folder
    path: Path


def remove_stale_temporaries(path: Path) -> None:
    """Remove ``.<name>.<pid>.tmp`` files a killed writer of ``path`` left
    behind (never one whose process is still alive: it may be writing).
    Names are compared as strings: ``Path.glob`` with the document's name in
    the pattern compiled a new regular expression per document, which the
    ``re`` and ``pathlib`` caches kept (hundreds of entries, evicted and
    refilled for as long as the daemon delivered)."""
    prefix = f".{path.name}."
    with os.scandir(path.parent) as entries:
        stale = [e.name for e in entries if e.name.startswith(prefix) and e.name.endswith(".tmp")]
    for name in stale:
        if len(name) >= len(prefix) + 4 and local_process_gone(name[len(prefix) : -4]):
            (path.parent / name).unlink(missing_ok=True)


def write_atomically(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` via temp file + fsync + rename (0600);
    what a killed earlier writer of ``path`` left behind is removed first."""
    remove_stale_temporaries(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class FolderTransport(BaseTransport):
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.closed = False

    def close(self) -> None:
        self.closed = True

    def deliver(self, doc: Document) -> Receipt:
        if self.closed:
            raise TransportError("folder transport is closed", retryable=False)
        if "/" in doc.name or doc.name.startswith("."):
            raise TransportError(f"refusing document name '{doc.name}'", retryable=False)
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            target = self.folder / doc.name
            if target.exists():
                if target.read_bytes() == doc.content:
                    return Receipt(location=str(target), already_present=True)
                raise TransportError(f"{doc.name} already exists with different content", retryable=False)
            write_atomically(target, doc.content)
        except OSError as exc:
            raise TransportError(f"cannot write to {self.folder} ({exc.strerror})") from None
        return Receipt(location=str(target))


def folder_transport(settings: FolderSettings, base_dir: Path) -> FolderTransport:
    return FolderTransport(base_dir / settings.path)


@hookimpl
def gateway_register_transports(register: Callable[[str, Callable[..., Any], type[BaseModel]], None]) -> None:
    register("folder", folder_transport, FolderSettings)
