"""SFTP transport against a real OpenSSH sshd on loopback (tests/sshd.py):
the shared transport contract, pinned host keys, atomic idempotent uploads,
connection reuse and reconnects, settings and secrets."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from gateway_plugins.transports.sftp import SftpSettings, SftpTransport, sftp_transport
from pydantic import ValidationError

from gateway.config import ConfigError
from gateway.documents import Document
from gateway.transport import Transport, TransportError
from tests.sshd import Sshd, free_port, keygen
from tests.transport_contract import TransportContract

_folders = itertools.count()


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    server = Sshd(tmp_path_factory.mktemp("sshd"))
    server.start()
    yield server
    server.stop()


def settings(server: Sshd, folder: str = "claims", **extra: object) -> SftpSettings:
    data = server.destination(folder, **extra)
    data.pop("transport"), data.pop("format")
    return SftpSettings.model_validate(data)


def transport(server: Sshd, folder: str = "claims", **extra: object) -> SftpTransport:
    return sftp_transport(settings(server, folder, **extra), Path("/"))


def doc(name: str, content: bytes) -> Document:
    return Document(name, content, "application/edi-x12", "claims", "riverside", ("V1",))


class TestSftpContract(TransportContract):
    @pytest.fixture(autouse=True)
    def _server(self, sshd: Sshd) -> None:
        self.sshd = sshd
        self.folder = f"contract-{next(_folders)}"
        (sshd.root / self.folder).mkdir()

    def make_transport(self) -> Transport:
        return transport(self.sshd, self.folder)

    def make_broken_transport(self) -> Transport:
        return transport(self.sshd, self.folder, port=free_port())  # nothing listens there

    def copies(self, d: Document) -> int:
        return sum(content == d.content for name, content in self.sshd.files(self.folder).items() if d.name in name)


def test_files_arrive_with_their_names_and_content_and_no_temporary_left(sshd: Sshd) -> None:
    (sshd.root / "names").mkdir()
    docs = [
        doc(f"riverside-837P-20261127-0915{n:02d}-{n:09d}.x12", f"ISA*{n}~".encode() * (n * 500)) for n in (1, 2, 3)
    ]
    with transport(sshd, "names") as t:
        receipts = [t.deliver(d) for d in docs]
    assert sshd.files("names") == {d.name: d.content for d in docs}
    assert not [p for p in (sshd.root / "names").iterdir() if p.name.startswith(".")]
    assert receipts[0].location.startswith(f"sftp://{sshd.user}@127.0.0.1:{sshd.port}/")
    assert receipts[0].location.endswith("/names/" + docs[0].name)


def test_unknown_host_key_is_refused_not_retryable_and_never_added(sshd: Sshd, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    t = transport(sshd, known_hosts=str(empty))
    with pytest.raises(TransportError) as exc:
        t.deliver(doc("x.x12", b"ISA"))
    assert exc.value.retryable is False
    assert "not in" in str(exc.value) and "SHA256:" in str(exc.value) and "never added" in str(exc.value)
    assert empty.read_text() == ""  # not auto-added
    assert "x.x12" not in sshd.files()


def test_changed_host_key_is_refused(sshd: Sshd, tmp_path: Path) -> None:
    other = keygen(tmp_path / "impostor")
    pinned = tmp_path / "known_hosts"
    pinned.write_text(sshd.known_hosts_line(other))
    with pytest.raises(TransportError) as exc:
        transport(sshd, known_hosts=str(pinned)).deliver(doc("y.x12", b"ISA"))
    assert exc.value.retryable is False and "CHANGED" in str(exc.value)
    assert pinned.read_text() == sshd.known_hosts_line(other)


def test_missing_known_hosts_file_is_refused(sshd: Sshd, tmp_path: Path) -> None:
    with pytest.raises(TransportError) as exc:
        transport(sshd, known_hosts=str(tmp_path / "absent")).deliver(doc("z.x12", b"ISA"))
    assert exc.value.retryable is False and "known_hosts" in str(exc.value)


def test_wrong_key_is_an_authentication_error_not_retryable(sshd: Sshd, tmp_path: Path) -> None:
    stranger = keygen(tmp_path / "stranger")
    with pytest.raises(TransportError) as exc:
        transport(sshd, private_key=str(stranger)).deliver(doc("w.x12", b"ISA"))
    assert exc.value.retryable is False and "authentication" in str(exc.value)


def test_file_present_with_same_size_counts_as_delivered_other_size_refused(sshd: Sshd) -> None:
    folder = sshd.root / "present"
    folder.mkdir()
    (folder / "a.x12").write_bytes(b"ISA*same-size")
    (folder / "b.x12").write_bytes(b"short")
    with transport(sshd, "present") as t:
        assert t.deliver(doc("a.x12", b"ISA*same-size")).already_present
        with pytest.raises(TransportError) as exc:
            t.deliver(doc("b.x12", b"a different, longer document"))
    assert exc.value.retryable is False
    assert (folder / "b.x12").read_bytes() == b"short"


def test_a_stale_temporary_file_from_a_crash_is_replaced(sshd: Sshd) -> None:
    folder = sshd.root / "stale"
    folder.mkdir()
    (folder / ".c.x12.part").write_bytes(b"half of an upl")
    with transport(sshd, "stale") as t:
        t.deliver(doc("c.x12", b"the whole document"))
    assert sshd.files("stale") == {"c.x12": b"the whole document"}


def test_one_connection_serves_many_documents_and_a_dropped_one_is_reopened(sshd: Sshd) -> None:
    (sshd.root / "reuse").mkdir()
    with transport(sshd, "reuse") as t:
        for n in range(5):
            t.deliver(doc(f"r{n}.x12", b"ISA"))
        assert t.connections == 1
        sshd.stop()
        with pytest.raises(TransportError) as exc:
            t.deliver(doc("r5.x12", b"ISA"))
        assert exc.value.retryable is True
        sshd.start()
        t.deliver(doc("r5.x12", b"ISA"))
        assert t.connections == 2
    assert len(sshd.files("reuse")) == 6


def test_settings_need_a_key_or_a_password_reference() -> None:
    base = {"host": "sftp.example.com", "username": "u", "known_hosts": "kh"}
    with pytest.raises(ValidationError, match="private_key"):
        SftpSettings.model_validate(base)
    with pytest.raises(ValidationError, match="secret reference"):
        SftpSettings.model_validate({**base, "password": "hunter2"})
    SftpSettings.model_validate({**base, "password": "env:SFTP_PASSWORD"})


def test_password_secret_is_resolved_when_the_transport_is_built(tmp_path: Path, monkeypatch) -> None:
    s = SftpSettings.model_validate({"host": "h", "username": "u", "known_hosts": "kh", "password": "env:GW_SFTP_PW"})
    with pytest.raises(ConfigError, match="GW_SFTP_PW"):
        sftp_transport(s, tmp_path)
    monkeypatch.setenv("GW_SFTP_PW", "from-the-environment")
    assert sftp_transport(s, tmp_path).password == "from-the-environment"
