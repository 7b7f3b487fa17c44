"""A real OpenSSH sshd for the SFTP tests: 127.0.0.1, a free port, its own
sshd_config, host key, client key and authorized_keys, ``internal-sftp``.

Runs as a non-daemon child (``sshd -D -e``) that the tests can stop and
start again on the same port. Debian's openssh-server provides
/usr/sbin/sshd (``make test`` installs it); when it is missing the fixture
fails with that instruction instead of skipping.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.conftest import free_port

SSHD = Path("/usr/sbin/sshd")


def keygen(path: Path, kind: str = "ed25519") -> Path:
    """A new key pair at ``path`` / ``path.pub`` (no passphrase)."""
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "gateway-test", "-f", str(path)], check=True)
    return path


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


class Sshd:
    """One sshd serving SFTP from ``root`` (a plain folder) to the current user."""

    def __init__(self, base: Path) -> None:
        if not SSHD.is_file() or shutil.which("ssh-keygen") is None:
            raise RuntimeError(
                f"{SSHD} (or ssh-keygen) is missing: the SFTP tests need a real OpenSSH server. "
                "Install Debian's openssh-server (`make test` does, as root: scripts/setup.sh)"
            )
        self.base = base
        self.base.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.user = getpass.getuser()
        self.root = base / "sftp-root"
        (self.root / "claims").mkdir(parents=True, exist_ok=True)
        (self.root / "responses").mkdir(parents=True, exist_ok=True)
        self.host_key = keygen(base / "host_ed25519")
        self.client_key = keygen(base / "client_ed25519")
        (base / "authorized_keys").write_text((base / "client_ed25519.pub").read_text())
        self.known_hosts = base / "known_hosts"
        self.known_hosts.write_text(self.known_hosts_line(self.host_key))
        self.config = base / "sshd_config"
        self.config.write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {self.host_key}",
                    f"PidFile {base / 'sshd.pid'}",
                    f"AuthorizedKeysFile {base / 'authorized_keys'}",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "StrictModes no",
                    "PermitRootLogin prohibit-password",
                    f"AllowUsers {self.user}",
                    "Subsystem sftp internal-sftp",
                    "MaxStartups 100",
                    "MaxSessions 100",
                    "LogLevel ERROR",
                    "",
                ]
            )
        )
        self.log = base / "sshd.log"
        self.proc: subprocess.Popen[bytes] | None = None
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True) if os.geteuid() == 0 else None  # privilege separation

    def known_hosts_line(self, key: Path) -> str:
        kind, blob = (key.with_suffix(".pub") if key.suffix != ".pub" else key).read_text().split()[:2]
        return f"[127.0.0.1]:{self.port} {kind} {blob}\n"

    def start(self, timeout: float = 10.0) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(self.config)], stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), 0.5) as s:
                    if s.recv(4).startswith(b"SSH-"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"sshd did not answer on port {self.port}: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        """Stop the listener and every session it forked (connections drop)."""
        if self.proc is None:
            return
        doomed = [self.proc.pid, *descendants(self.proc.pid)]
        for pid in doomed:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(10)
        self.proc = None

    def files(self, folder: str = "claims") -> dict[str, bytes]:
        """Completed files in ``folder`` (temporary names excluded)."""
        return {p.name: p.read_bytes() for p in sorted((self.root / folder).iterdir()) if p.is_file()}

    def destination(self, folder: str = "claims", **extra: object) -> dict[str, object]:
        """A ``transport: sftp`` destination for gateway.yaml (absolute paths)."""
        return {
            "transport": "sftp",
            "format": "x12-837p",
            "host": "127.0.0.1",
            "port": self.port,
            "username": self.user,
            "private_key": str(self.client_key),
            "known_hosts": str(self.known_hosts),
            "remote_path": str(self.root / folder),
            "connect_timeout_s": 5,
            "operation_timeout_s": 10,
            **extra,
        }
