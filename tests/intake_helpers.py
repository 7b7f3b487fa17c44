"""A ``gateway run --http`` daemon with HTTP intake sources, started as a
process (readiness over a systemd notify socket), and FHIR bundles to send."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from gateway.cli import cli
from gateway.examples import FIXTURES
from tests.conftest import free_port
from tests.daemon_helpers import deployment

GATEWAY = [sys.executable, "-c", "from gateway.cli import main; main()"]
BUNDLE = json.loads((FIXTURES / "fhir" / "riverside-transaction-urn-uuid.json").read_text())


def _template(pad_to: int) -> bytes:
    doc = {**BUNDLE, "identifier": {"system": "urn:example:intake", "value": "intake-@@@@@@@@@@"}}
    raw = json.dumps(doc, indent=2).encode()
    return raw + b" " * max(0, pad_to - len(raw))


_TEMPLATE = _template(20_000)


def bundle(n: int) -> bytes:
    """A distinct riverside transaction Bundle (identifier ``intake-<n>``, 20,000 bytes; cheap to make)."""
    return _TEMPLATE.replace(b"@@@@@@@@@@", b"%010d" % n)


def token(config: Path, scope: str, clinic: str | None = None, name: str = "sender-a") -> str:
    args = ["tokens", "create", "--config", str(config), "--scope", scope, "--name", name]
    out = CliRunner().invoke(cli, args + (["--clinic", clinic] if clinic else []))
    assert out.exit_code == 0, out.output
    return out.stdout.strip().splitlines()[0]


class Daemon:
    """``gateway run`` with an http source for riverside (max_bytes from ``settings``)."""

    def __init__(self, root: Path, workers: int = 1, **settings: Any) -> None:
        self.config = deployment(root, {"riverside": [{"type": "http", **settings}]})
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.notify = root / "notify.sock"
        self.workers = workers
        self.proc: subprocess.Popen | None = None

    def start(self) -> Daemon:
        ready = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if self.notify.exists():
            self.notify.unlink()
        ready.bind(str(self.notify))
        ready.settimeout(60)
        env = {**os.environ, "NOTIFY_SOCKET": str(self.notify)}
        cmd = [*GATEWAY, "run", "--config", str(self.config), "--workers", str(self.workers), "--http",
               f"127.0.0.1:{self.port}", "--no-delivery"]  # fmt: skip
        # the JSON log goes to a file: a pipe nobody reads fills up and stalls the daemon's event loop
        self.log = self.config.parent / "daemon.log"
        self._log = self.log.open("ab")
        self.proc = subprocess.Popen(cmd, env=env, stderr=self._log, stdout=subprocess.DEVNULL)
        self._ready = ready  # kept open: the daemon also reports STOPPING=1 here
        assert ready.recv(200).startswith(b"READY=1")
        return self

    def stop(self) -> str:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=60)
        self._ready.close()
        self._log.close()
        return self.log.read_text()
