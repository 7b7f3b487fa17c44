"""Real gateway processes for the security tests and benchmarks/bench_memory.py:
``gateway run`` started with a systemd notify socket (so the caller knows when
it listens), its memory read from /proc, its JSON log kept, stopped with
SIGTERM; and one-shot commands whose peak RSS (VmHWM) is read from /proc as
they exit."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

GATEWAY = [sys.executable, "-c", "from gateway.cli import main; main()"]
#: the gateway CLI, printing its peak RSS from /proc/self/status on stderr as it exits
_PEAK = (
    "import atexit, re, sys\n"
    "atexit.register(lambda: print('Vm-kB', *re.findall(r'(?:VmHWM|VmRSS):\\s+(\\d+)', "
    "open('/proc/self/status').read()), file=sys.stderr))\n"
    "from gateway.cli import main\n"
    "main()\n"
)


def cli_peak_kb(args: Sequence[str], preexec: Callable[[], Any] | None = None,
                timeout: float = 600) -> tuple[int, int, subprocess.CompletedProcess]:  # fmt: skip
    """Run ``gateway ARGS`` as its own process: its peak RSS and its RSS at exit
    (kB, from /proc/self/status as it exits), and the result."""
    done = subprocess.run([sys.executable, "-c", _PEAK, *args], capture_output=True, text=True,
                          preexec_fn=preexec, timeout=timeout)  # fmt: skip
    match = re.search(r"^Vm-kB (\d+) (\d+)$", done.stderr, re.M)
    if match is None:
        raise AssertionError(f"gateway {' '.join(args)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return int(match.group(1)), int(match.group(2)), done


def proc_status(pid: int, key: str) -> int:
    """A ``/proc/<pid>/status`` figure in kB (``VmRSS``, ``VmHWM``…)."""
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(rf"^{key}:\s+(\d+) kB", text, re.M)
    if match is None:
        raise AssertionError(f"/proc/{pid}/status has no {key}")
    return int(match.group(1))


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc/*/stat, zombies included)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def state(pid: int) -> str | None:
    """The process state letter (``Z`` for a zombie), None when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


class Daemon:
    """``gateway run`` as a child process; a context manager."""

    def __init__(self, config: Path, tmp: Path, args: Sequence[str] = ("--workers", "0"),
                 prefix: Sequence[str] = (), env: dict[str, str] | None = None,
                 preexec: Callable[[], Any] | None = None) -> None:  # fmt: skip
        self.notify_path = tmp / f"notify-{time.monotonic_ns()}.sock"
        self.ready = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.ready.bind(str(self.notify_path))
        self.ready.settimeout(60)
        self.log_path = tmp / f"daemon-{time.monotonic_ns()}.log"
        self._log = self.log_path.open("wb")
        cmd = [*prefix, *GATEWAY, "run", "--config", str(config), *args]
        full_env = {**os.environ, "NOTIFY_SOCKET": str(self.notify_path), **(env or {})}
        self.proc = subprocess.Popen(cmd, env=full_env, stdout=subprocess.DEVNULL, stderr=self._log,
                                     preexec_fn=preexec)  # fmt: skip

    def __enter__(self) -> Daemon:
        try:
            while not self.ready.recv(200).startswith(b"READY=1"):
                pass
        except TimeoutError:
            self.stop()
            raise AssertionError("gateway run did not report READY=1:\n" + self.log_path.read_text()[-3000:]) from None
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_kb(self) -> int:
        return proc_status(self.pid, "VmRSS")

    def events(self) -> list[dict[str, Any]]:
        if not self._log.closed:
            self._log.flush()
        lines = self.log_path.read_text(errors="replace").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def stop(self, timeout: float = 30) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.ready.close()
        self.notify_path.unlink(missing_ok=True)
        self._log.close()
        return self.proc.returncode


def wait_for(cond: Callable[[], object], timeout: float = 15.0, what: str = "condition") -> None:
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f"{what}: not met within {timeout} s")
