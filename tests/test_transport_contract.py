"""The shared transport contract for the in-memory and folder transports
(the SMTP transport's run is in tests/test_smtp.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from gateway_plugins.transports.folder import FolderSettings, folder_transport

from gateway.documents import Document
from gateway.transport import MemoryTransport, Transport
from tests.transport_contract import TransportContract


class TestMemoryTransport(TransportContract):
    @pytest.fixture(autouse=True)
    def _transport(self) -> None:
        self.transport = MemoryTransport()

    def make_transport(self) -> Transport:
        self.transport = MemoryTransport()
        return self.transport

    def make_broken_transport(self) -> Transport:
        return MemoryTransport(fail_next=1)

    def copies(self, doc: Document) -> int:
        return int(self.transport.delivered.get(doc.name) == doc.content)


class TestFolderTransport(TransportContract):
    @pytest.fixture(autouse=True)
    def _folder(self, tmp_path: Path) -> None:
        self.base = tmp_path
        self.folder = tmp_path / "out"

    def make_transport(self) -> Transport:
        return folder_transport(FolderSettings(path=Path("out")), self.base)

    def make_broken_transport(self) -> Transport:
        blocker = self.base / "not-a-folder"
        blocker.write_text("a file where the folder should be")
        return folder_transport(FolderSettings(path=Path("not-a-folder/out")), self.base)

    def copies(self, doc: Document) -> int:
        files = [p for p in self.folder.iterdir() if doc.name in p.name] if self.folder.exists() else []
        return sum(p.read_bytes() == doc.content for p in files)


def test_folder_transport_removes_what_a_killed_writer_left_behind(tmp_path: Path) -> None:
    """A writer killed between creating its temporary file and the rename
    leaves ``.<name>.<pid>.tmp``; the next delivery of that name removes it,
    never one of a process that is still alive."""
    import subprocess

    from gateway_plugins.transports.folder import FolderTransport

    gone = subprocess.Popen(["true"])  # a process that has exited: its pid is free
    gone.wait()
    live = subprocess.Popen(["sleep", "30"])
    try:
        stale = tmp_path / f".claims.x12.{gone.pid}.tmp"
        busy = tmp_path / f".claims.x12.{live.pid}.tmp"
        stale.write_bytes(b"ISA*half")
        busy.write_bytes(b"ISA*being written")
        FolderTransport(tmp_path).deliver(
            Document(
                name="claims.x12",
                content=b"ISA*whole~",
                media_type="application/edi-x12",
                kind="claims",
                clinic_id="riverside",
            )
        )
        assert (tmp_path / "claims.x12").read_bytes() == b"ISA*whole~"
        assert not stale.exists() and busy.exists()
    finally:
        live.kill()


def test_a_killed_writers_temporary_is_removed_and_a_live_ones_kept(tmp_path) -> None:
    """The folder transport's stale-temp rule and the outbox's dead-holder rule
    share ``gateway.transport.local_process_gone``."""
    import os
    import socket
    import subprocess
    import sys

    from gateway_plugins.transports.folder import write_atomically

    from gateway.delivery.outbox import dead_local_holder
    from gateway.transport import local_process_gone

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # reaped: its pid is free
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        target = tmp_path / "claims.x12"
        left = tmp_path / f".claims.x12.{dead.pid}.tmp"
        writing = tmp_path / f".claims.x12.{alive.pid}.tmp"
        left.write_bytes(b"half")
        writing.write_bytes(b"half")
        write_atomically(target, b"ISA")
        assert target.read_bytes() == b"ISA" and not left.exists() and writing.exists()
        assert local_process_gone(str(dead.pid)) and not local_process_gone(str(alive.pid))
        assert not local_process_gone(str(os.getpid())) and not local_process_gone("x1")
        host = socket.gethostname()
        assert dead_local_holder(f"{host}:{dead.pid}:dispatch") and not dead_local_holder(f"{host}:{alive.pid}:x")
        assert not dead_local_holder(f"elsewhere:{dead.pid}:dispatch")
    finally:
        alive.kill()
        alive.wait()


def test_delivering_many_documents_compiles_no_pattern_per_document(tmp_path) -> None:
    """A long-running daemon delivers a document under a new name again and
    again: looking for a killed writer's temporaries must not leave one
    compiled pattern per name in the ``re`` or ``pathlib`` caches (they grew
    by one entry per delivered document up to 512 and 128, then churned)."""
    import pathlib
    import re

    from gateway_plugins.transports.folder import write_atomically

    write_atomically(tmp_path / "claims-0.x12", b"ISA")  # whatever is compiled once, is compiled
    patterns, selectors = len(re._cache), pathlib._make_selector.cache_info().currsize  # type: ignore[attr-defined]
    for n in range(1, 201):
        write_atomically(tmp_path / f"claims-{n}.x12", b"ISA")
    assert len(re._cache) <= patterns + 5  # type: ignore[attr-defined]
    assert pathlib._make_selector.cache_info().currsize == selectors  # type: ignore[attr-defined]
    assert len(list(tmp_path.iterdir())) == 201
