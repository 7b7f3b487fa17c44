"""``gateway run`` as a process: systemd readiness, /healthz and /metrics,
worker processes, graceful SIGTERM; then the operator commands on its store."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from click.testing import CliRunner

from gateway.cli import cli
from gateway.daemon.notify import notify
from tests.conftest import free_port
from tests.daemon_helpers import FIXTURES, deployment

GATEWAY = [sys.executable, "-c", "from gateway.cli import main; main()"]


def test_notify_sends_the_datagram_and_is_silent_without_systemd(tmp_path: Path) -> None:
    assert notify("READY=1", environ={}) is False
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(tmp_path / "n.sock"))
        assert notify("READY=1", environ={"NOTIFY_SOCKET": str(tmp_path / "n.sock")})
        assert sock.recv(100) == b"READY=1"


def test_run_serves_health_and_metrics_and_stops_gracefully(tmp_path: Path) -> None:
    folder = {"type": "folder", "path": "inbound", "settle": 0.05}
    config = deployment(tmp_path / "d", {"riverside": [folder]})
    inbound = tmp_path / "d" / "inbound"
    inbound.mkdir()
    for f in ("riverside-insured.json", "riverside-scrub-errors.json"):
        (inbound / f).write_bytes((FIXTURES / "encounters" / f).read_bytes())
    sock_path = tmp_path / "notify.sock"
    ready = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ready.bind(str(sock_path))
    ready.settimeout(30)
    http = free_port()
    env = {**os.environ, "NOTIFY_SOCKET": str(sock_path)}
    cmd = [*GATEWAY, "run", "--config", str(config), "--workers", "2", "--http", f"127.0.0.1:{http}"]
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    try:
        assert ready.recv(200).startswith(b"READY=1")
        deadline = time.time() + 20
        while time.time() < deadline:
            metrics = urllib.request.urlopen(f"http://127.0.0.1:{http}/metrics", timeout=5).read().decode()
            if 'gateway_messages{clinic="riverside",status="claimed"} 1' in metrics and (
                'status="quarantined"} 1' in metrics
            ):
                break
            time.sleep(0.2)
        assert "gateway_queue_depth 0" in metrics
        assert "gateway_processing_latency_seconds_count 2" in metrics
        health = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{http}/healthz", timeout=5).read())
        assert health["ok"] and health["workers"] == 2
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        ready.close()
    assert proc.returncode == 0
    events = [json.loads(line)["event"] for line in err.decode().splitlines() if line.startswith("{")]
    assert events[-1] == "daemon.stopped" and "worker.stopped" in events

    runner = CliRunner()
    status = runner.invoke(cli, ["status", "--config", str(config), "--json"])
    counts = {(c["clinic"], c["status"]): c["messages"] for c in json.loads(status.output)["counts"]}
    assert counts == {("riverside", "claimed"): 1, ("riverside", "quarantined"): 1}
    listed = json.loads(runner.invoke(cli, ["messages", "list", "--config", str(config), "--status", "quarantined",
                                            "--json"]).output)  # fmt: skip
    (bad,) = listed
    shown = runner.invoke(cli, ["messages", "show", str(bad["id"]), "--config", str(config)]).output
    assert "SCRUB-NPI" in shown and "Exampleton" not in shown  # findings, no patient data unless asked
    with_raw = runner.invoke(cli, ["messages", "show", str(bad["id"]), "--config", str(config), "--raw"]).output
    assert "viewed-raw" in runner.invoke(cli, ["messages", "show", str(bad["id"]), "--config", str(config)]).output
    assert "raw:" in with_raw and "Exampleton" in with_raw
    again = runner.invoke(cli, ["messages", "reprocess", str(bad["id"]), "--config", str(config), "--reason", "test"])
    assert again.exit_code == 0
    status = json.loads(runner.invoke(cli, ["status", "--config", str(config), "--json"]).output)
    assert status["oldest_pending"] is not None
    assert runner.invoke(cli, ["messages", "reprocess", "9999", "--config", str(config)]).exit_code == 1
