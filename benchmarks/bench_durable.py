"""The durable daemon against the one-shot run (issue 18): ``gateway run``
(folder source, SQLite, fsync commits) with 1 and then 2 worker processes,
input files renamed into its inbound folder until every claim is in an 837
in the claims folder, next to ``gateway process`` over the same files (a new
process: start-up included) in the same run. Goals: 1 worker ≥ 0.6× the
one-shot rate, 2 workers ≥ 1.5× one worker. The daemon is started and ready
before its clock starts (it is long-running: its clock starts once every
worker process has started); its batcher cuts after 0.5 s.

Workload: issue 18's DFT^P03 files (bench_process; ``--quick``: 2 files of
500, else 10 of 2,000). One daemon run per worker count and repeat, with a
fresh state; medians of 2 (each repeat is three runs of 20,000 messages).

    .venv/bin/python -m benchmarks.bench_durable [--quick]
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from benchmarks import goals
from benchmarks._util import Measurement, print_table
from benchmarks.bench_process import claims_written, run_process, write_inputs
from gateway.examples import write_example_deployment
from tests.conftest import free_port

ONE_WORKER_GOAL = 0.6
TWO_WORKER_GOAL = 1.5


def daemon_run(root: Path, inputs: Path, workers: int, n: int) -> float:
    """Seconds from renaming the inputs into a ready daemon's inbound folder
    until all ``n`` claims are in 837 files."""
    config = write_example_deployment(root)
    port = free_port()
    data = yaml.safe_load(config.read_text())
    data["clinics"][0]["sources"] = [
        {"type": "folder", "path": "inbound", "settle": 0.05},
        {"type": "mllp", "port": port},  # only to know when the daemon listens
    ]
    data["delivery"] = {"batch_max_age_s": 0.5}
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    inbound, staging = root / "inbound", root / "staging"
    inbound.mkdir()
    shutil.copytree(inputs, staging)
    cmd = [str(Path(sys.executable).with_name("gateway")), "run", "--config", str(config), "--workers", str(workers),
           "--log-level", "info"]  # fmt: skip
    log = root / "daemon.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=sink)
    try:
        _wait_ready(port, log, workers)
        out = root / "outbox" / "claims"
        t0 = time.perf_counter()
        for f in sorted(staging.iterdir()):
            os.rename(f, inbound / f.name)
        deadline = t0 + 1800
        while time.perf_counter() < deadline:
            if out.is_dir() and len(claims_written(out)) >= n:
                return time.perf_counter() - t0
            time.sleep(0.2)
        raise SystemExit(f"the daemon wrote {len(claims_written(out))} of {n} claims in 30 min")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(120)


def _wait_ready(port: int, log: Path, workers: int) -> None:
    """Until the daemon listens and every worker process has started (its
    ``worker.started`` event: the workers import the plugins after the daemon
    is ready, which takes seconds on a loaded machine and is not what this
    benchmark measures)."""
    for _ in range(2400):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            time.sleep(0.05)
            continue
        if log.read_bytes().count(b'"event":"worker.started"') >= workers:
            return
        time.sleep(0.05)
    raise SystemExit("the daemon did not start")


def main(quick: bool = False) -> None:
    files, per_file = (2, 500) if quick else (10, 2000)
    n, repeat = files * per_file, 2
    times: dict[str, list[float]] = {"oneshot": [], "1": [], "2": []}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_inputs(root / "in", files, per_file)
        config = write_example_deployment(root / "oneshot")
        for r in range(repeat):  # interleaved, so all three see the same load
            times["oneshot"].append(run_process(config, root / "in", root / "oneshot-out")[0])
            for workers in ("1", "2"):
                times[workers].append(daemon_run(root / f"d{workers}-{r}", root / "in", int(workers), n))
                shutil.rmtree(root / f"d{workers}-{r}")
            written = claims_written(root / "oneshot-out")
            if len(set(written)) != n:
                raise SystemExit(f"one-shot wrote {len(set(written))} of {n} claims")
    rows = [
        Measurement("gateway process (one-shot, whole process)", n, times["oneshot"]),
        Measurement("gateway run, 1 worker (files → 837s)", n, times["1"]),
        Measurement("gateway run, 2 workers (files → 837s)", n, times["2"]),
    ]
    print_table(f"Durable daemon vs one-shot ({files} files × {per_file} DFT^P03, wall, median of {repeat})", rows,
                baseline=rows[0])  # fmt: skip
    one = rows[1].per_second / rows[0].per_second
    two = rows[2].per_second / rows[1].per_second
    print(f"1 worker: {one:.2f}x one-shot (goal ≥ {ONE_WORKER_GOAL}); 2 workers: {two:.2f}x 1 worker "
          f"(goal ≥ {TWO_WORKER_GOAL}); load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")  # fmt: skip
    goals.record("daemon1", f"{one:.2f}× one-shot (wall, {n // 1000}k msgs)", one >= ONE_WORKER_GOAL)
    goals.record("daemon2", f"{two:.2f}× 1 worker (wall, {files} files)", two >= TWO_WORKER_GOAL)


if __name__ == "__main__":
    main("--quick" in sys.argv)
