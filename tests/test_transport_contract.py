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
