"""Issue 17 item 13: no zombies, no orphans. The service reaps the workers it
runs and stops them whatever fails;
`gateway run` as PID 1 (a container without an init) reaps orphans it
adopts and forwards signals; with ``--init`` (automatic as PID 1) workers
whose daemon was killed are adopted and reaped by the init, which then exits
with the daemon's status. Real processes, states read from /proc."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.daemon_helpers import deployment
from tests.security.daemon import GATEWAY, Daemon, children, state, wait_for


def workers_of(pid: int) -> list[int]:
    return [c for c in children(pid) if "spawn_main" in Path(f"/proc/{c}/cmdline").read_text(errors="replace")]


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    out = [pid]
    for c in children(pid):
        out += tree(c)
    return out


def zombies(pid: int) -> list[int]:
    """Zombies anywhere below ``pid``."""
    return [c for c in tree(pid)[1:] if state(c) == "Z"]


def test_the_daemon_reaps_a_worker_that_died(tmp_path: Path) -> None:
    config = deployment(tmp_path / "d", {})
    with Daemon(config, tmp_path, args=("--workers", "1")) as d:
        wait_for(lambda: len(workers_of(d.pid)) == 1, what="worker started")
        (worker,) = workers_of(d.pid)
        os.kill(worker, signal.SIGKILL)
        wait_for(lambda: state(worker) is None, what="the killed worker reaped")  # a zombie until then
        wait_for(lambda: len(workers_of(d.pid)) == 1, what="worker replaced")
        assert zombies(d.pid) == []


def test_gateway_run_as_pid_1_reaps_orphans_and_forwards_sigterm(tmp_path: Path) -> None:
    for tool in ("unshare", "nsenter"):
        assert shutil.which(tool), f"{tool} (util-linux) is needed to run gateway as PID 1 of a PID namespace"
    config = deployment(tmp_path / "d", {})
    prefix = ["unshare", "--pid", "--fork", "--kill-child=SIGTERM"]
    with Daemon(config, tmp_path, args=("--workers", "1"), prefix=prefix) as d:
        (init,) = children(d.pid)  # PID 1 inside the namespace
        wait_for(lambda: any(workers_of(p) for p in tree(init)), what="worker started")
        # a process started in the container leaves an orphan behind: PID 1 adopts it
        subprocess.run(["nsenter", "--target", str(init), "--pid", "--", "sh", "-c", "sleep 0.3 & exit 0"], check=True)
        time.sleep(1.5)
        assert zombies(init) == []
        os.kill(init, signal.SIGTERM)  # `docker stop`: PID 1 gets SIGTERM and passes it on
        assert d.proc.wait(40) == 0
    assert "daemon.stopped" in [e["event"] for e in d.events()]


def test_init_mode_reaps_the_workers_of_a_killed_daemon(tmp_path: Path) -> None:
    config = deployment(tmp_path / "d", {})
    with Daemon(config, tmp_path, args=("--workers", "2", "--init")) as d:
        (service,) = children(d.pid)
        wait_for(lambda: len(workers_of(service)) == 2, what="workers started")
        workers = workers_of(service)
        os.kill(service, signal.SIGKILL)
        assert d.proc.wait(40) == 128 + signal.SIGKILL  # the init exits with the service's status…
        for pid in [service, *workers]:  # …after the orphaned workers stopped and were reaped
            assert state(pid) is None


def test_a_source_that_cannot_start_leaves_no_worker_behind(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = deployment(tmp_path / "d", {"riverside": [{"type": "mllp", "port": port}]})
        run = subprocess.Popen([*GATEWAY, "run", "--config", str(config), "--workers", "1"],
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
        try:
            _, err = run.communicate(timeout=60)  # before: the live worker kept the exiting daemon waiting for ever
        finally:
            if run.poll() is None:
                for pid in reversed(tree(run.pid)):
                    os.kill(pid, signal.SIGKILL)
    assert run.returncode == 2 and "cannot start a source" in err and "address already in use" in err
    assert children(run.pid) == []
