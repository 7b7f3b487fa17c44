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
fresh state, after one file of 2,000 per worker put through untimed (what
each process does once, on its first big input, is start-up too); medians
of 3 (``--repeat N``; each repeat is three runs of 20,000 messages).
Beside the wall clock: the CPU time of the daemon's main process (journal,
batcher, dispatcher) and of its workers, per message.

    .venv/bin/python -m benchmarks.bench_durable [--quick] [--repeat N]
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from benchmarks import goals
from benchmarks._util import Measurement, print_table
from benchmarks.bench_process import claims_written, message, run_process, write_inputs
from gateway.examples import write_example_deployment
from tests.conftest import free_port

ONE_WORKER_GOAL = 0.6
TWO_WORKER_GOAL = 1.5


#: clock ticks per second of /proc/PID/stat's CPU times
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class DaemonRun:
    """One daemon run: wall seconds (files renamed in → last claim in an 837)
    and CPU seconds of the daemon's main process and of its workers over
    the same span (start-up excluded, as from the wall clock)."""

    wall: float
    main_cpu: float
    worker_cpu: float

    @property
    def cpu(self) -> float:
        return self.main_cpu + self.worker_cpu


def _cpu(pid: int) -> tuple[int, float]:
    """(parent pid, user + system CPU seconds) of process ``pid``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS


def _daemon_cpu(pid: int) -> tuple[float, float]:
    """CPU seconds so far of the daemon ``pid`` and of all its child processes."""
    children = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != str(pid):
            try:
                parent, cpu = _cpu(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
            if parent == pid:
                children += cpu
    return _cpu(pid)[1], children


def daemon_run(root: Path, inputs: Path, workers: int, n: int, warm: Path | None = None) -> DaemonRun:
    """Seconds from renaming the inputs into a ready daemon's inbound folder
    until all ``n`` claims are in 837 files, and the CPU its processes used."""
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
        seen: dict[Path, int] = {}
        warmed = 0
        if warm is not None:
            for f in sorted(warm.iterdir()):
                shutil.copy(f, root / f.name)
                os.rename(root / f.name, inbound / f.name)
                warmed += f.read_bytes().count(b"MSH|")  # one claim per message
            _wait_claims(out, seen, warmed, time.perf_counter() + 600)
        main0, workers0 = _daemon_cpu(proc.pid)
        t0 = time.perf_counter()
        for f in sorted(staging.iterdir()):
            os.rename(f, inbound / f.name)
        deadline = t0 + 1800
        while time.perf_counter() < deadline:
            if _count_claims(out, seen) >= warmed + n:
                wall = time.perf_counter() - t0
                main1, workers1 = _daemon_cpu(proc.pid)
                return DaemonRun(wall, main1 - main0, workers1 - workers0)
            time.sleep(0.2)
        raise SystemExit(f"the daemon wrote {len(claims_written(out))} of {n} claims in 30 min")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(120)


def warm_inputs(folder: Path, files: int) -> Path:
    """``files`` files of 2,000 messages (visits of their own) that a daemon
    run puts through before its clock starts: one per worker (a claim keeps
    one such file), so what each process does once, on its first big input,
    is not in the figures (the sniffer's helper process spawned, code sets
    loaded on first use, the first 837 rendered)."""
    folder.mkdir(parents=True)
    for f in range(files):
        (folder / f"warm-{f}.hl7").write_text("".join(message(900_000 + f * 2000 + k) for k in range(2000)))
    return folder


def _wait_claims(out: Path, seen: dict[Path, int], n: int, deadline: float) -> None:
    while _count_claims(out, seen) < n:
        if time.perf_counter() > deadline:
            raise SystemExit(f"the daemon wrote {_count_claims(out, seen)} of {n} warm-up claims")
        time.sleep(0.2)


def _count_claims(out: Path, seen: dict[Path, int]) -> int:
    """Claims in the 837s under ``out``, each file read once (``seen``: counts
    so far; files are renamed into place whole, temporaries start with a dot):
    re-reading every 837 five times a second took CPU from the daemon measured."""
    if out.is_dir():
        for f in out.rglob("*"):
            if f not in seen and f.is_file() and not f.name.startswith(".") and "quarantine" not in f.parts:
                seen[f] = f.read_bytes().replace(b"\n", b"").count(b"~CLM*")
    return sum(seen.values())


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


def main(quick: bool = False, repeat: int = 3) -> None:
    files, per_file = (2, 500) if quick else (10, 2000)
    n = files * per_file
    oneshot: list[float] = []
    runs: dict[int, list[DaemonRun]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_inputs(root / "in", files, per_file)
        config = write_example_deployment(root / "oneshot")
        warm = {w: warm_inputs(root / f"warm-{w}", w) for w in runs}
        for r in range(repeat):  # interleaved, so all three see the same load
            oneshot.append(run_process(config, root / "in", root / "oneshot-out")[0])
            for workers in runs:
                run = daemon_run(root / f"d{workers}-{r}", root / "in", workers, n, warm[workers])
                runs[workers].append(run)
                shutil.rmtree(root / f"d{workers}-{r}")
                print(f"repeat {r + 1}, {workers} worker(s): {run.wall:.1f} s wall, CPU main {run.main_cpu:.1f} s + "
                      f"workers {run.worker_cpu:.1f} s; load {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
            written = claims_written(root / "oneshot-out")
            if len(set(written)) != n:
                raise SystemExit(f"one-shot wrote {len(set(written))} of {n} claims")
    rows = [
        Measurement("gateway process (one-shot, whole process)", n, oneshot),
        Measurement("gateway run, 1 worker (files → 837s)", n, [r.wall for r in runs[1]]),
        Measurement("gateway run, 2 workers (files → 837s)", n, [r.wall for r in runs[2]]),
    ]
    print_table(f"Durable daemon vs one-shot ({files} files × {per_file} DFT^P03, wall, median of {repeat})", rows,
                baseline=rows[0])  # fmt: skip
    print(f"\nCPU per message, all the daemon's processes (median of {repeat}; start-up excluded)")
    print(f"{'workers':>8} {'main µs/msg':>12} {'workers µs/msg':>15} {'total µs/msg':>13}")
    for workers, done in runs.items():
        med = statistics.median
        print(
            f"{workers:>8} {med(r.main_cpu for r in done) / n * 1e6:>12.0f} "
            f"{med(r.worker_cpu for r in done) / n * 1e6:>15.0f} {med(r.cpu for r in done) / n * 1e6:>13.0f}"
        )
    cpu_ratio = statistics.median(r.cpu for r in runs[2]) / statistics.median(r.cpu for r in runs[1])
    one = rows[1].per_second / rows[0].per_second
    two = rows[2].per_second / rows[1].per_second
    print(f"1 worker: {one:.2f}x one-shot (goal ≥ {ONE_WORKER_GOAL}); 2 workers: {two:.2f}x 1 worker "
          f"(goal ≥ {TWO_WORKER_GOAL}), {cpu_ratio:.2f}x its CPU; load {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores")  # fmt: skip
    goals.record("daemon1", f"{one:.2f}× one-shot (wall, {n // 1000}k msgs)", one >= ONE_WORKER_GOAL)
    goals.record("daemon2", f"{two:.2f}× 1 worker (wall, {files} files, median of {repeat}; CPU {cpu_ratio:.2f}×)",
                 two >= TWO_WORKER_GOAL)  # fmt: skip


if __name__ == "__main__":
    main("--quick" in sys.argv, int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 3)
