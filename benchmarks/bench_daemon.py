"""The daemon end to end, as a separate ``gateway run`` process with durable
(fsync) commits:

* folder → claims: files dropped into an inbound folder until their claims
  are in the store, one worker process; baseline: the pure pipeline on the
  same messages in this process (no I/O), measured in the same run;
* MLLP ACK latency p50/p99 at a paced 200 messages/s (baseline: one durable
  SQLite commit on the same disk);
* resident memory of the daemon and its worker over a long run (sampled
  from /proc; flat is the target): 20,000 messages sampled every 1,000;
  ``--memory 200000`` runs only this part, over 200,000 sampled every 10,000.
  With ``GATEWAY_MEMORY_DEBUG=DIR`` set (off by default) the daemon traces its
  allocations and writes a report at every sample
  (:mod:`gateway.daemon.memdebug`); the run ends by printing what grew
  between the second sample and the one at 60 %, and over the whole run.

    .venv/bin/python -m benchmarks.bench_daemon [--quick | --memory N]
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import yaml

from benchmarks import goals
from benchmarks._util import Measurement, measure_pipeline, print_table
from gateway.app import Gateway
from gateway.examples import FIXTURES, write_example_deployment
from gateway.messages import MessageMeta
from gateway.store import SQLiteStore
from tests.conftest import free_port

START, END = b"\x0b", b"\x1c\x0d"
#: "flat": neither the daemon nor its worker grows by more than this after the first sample
FLAT_MB = 10.0
JSON = (FIXTURES / "encounters" / "riverside-insured.json").read_bytes()
DFT = (FIXTURES / "hl7v2" / "dft_p03_v251_vendor_repeats.hl7").read_bytes()


def json_message(i: int) -> bytes:
    return JSON.replace(b"V10001", f"B{i:07d}".encode()).replace(b"RIV-0001", f"BENCH-{i}".encode())


def hl7_message(i: int) -> bytes:
    return DFT.replace(b"RV-DFT-0010", f"BH-{i}".encode()).replace(b"V10010", f"BH{i:07d}".encode())


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


class Deployment:
    """A deployment with a folder and an MLLP source, and its daemon process."""

    def __init__(self, root: Path, batch: int = 64) -> None:
        self.config = write_example_deployment(root)
        self.port = free_port()
        data = yaml.safe_load(self.config.read_text())
        data["clinics"][0]["sources"] = [
            {"type": "folder", "path": "inbound", "settle": 0.05, "batch": 512},
            {"type": "mllp", "port": self.port},
        ]
        self.config.write_text(yaml.safe_dump(data, sort_keys=False))
        self.inbound = root / "inbound"
        self.inbound.mkdir()
        cmd = [sys.executable, "-c", "from gateway.cli import main; main()", "run", "--config", str(self.config),
               "--workers", "1", "--batch", str(batch), "--log-level", "warning"]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait_listening()
        self.store = SQLiteStore(root / "state" / "gateway.sqlite", migrate=False)

    def _wait_listening(self) -> None:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                time.sleep(1.0)  # the worker process is still importing
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("daemon did not start")

    def wait_claims(self, n: int, timeout: float = 120.0) -> None:
        end = time.time() + timeout
        while self.store.claim_count() < n:
            if time.time() > end:
                raise RuntimeError(f"only {self.store.claim_count()} of {n} claims")
            time.sleep(0.02)

    def stage(self, start: int, n: int) -> list[Path]:
        """Write files next to the inbound folder (same file system), untimed."""
        staging = self.inbound.parent / "staging"
        staging.mkdir(exist_ok=True)
        out = []
        for i in range(start, start + n):
            out.append(staging / f"f{i}.json")
            out[-1].write_bytes(json_message(i))
        return out

    def drop(self, files: list[Path]) -> None:
        """Drop staged files into the inbound folder the recommended way: rename."""
        for f in files:
            os.rename(f, self.inbound / f.name)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)
        self.store.close()


def bench_folder(dep: Deployment, n: int, runs: int) -> Measurement:
    times, base = [], 10_000_000
    for r in range(runs):
        start = base * (r + 1)
        have = dep.store.claim_count()
        files = dep.stage(start, n)
        t0 = time.perf_counter()
        dep.drop(files)
        dep.wait_claims(have + n)
        times.append(time.perf_counter() - t0)
    return Measurement("folder → claims in store (1 worker, fsync)", n, times)


def bench_pipeline(n: int) -> Measurement:
    with tempfile.TemporaryDirectory() as tmp:
        gw = Gateway.from_config(write_example_deployment(Path(tmp) / "d"))
        meta = MessageMeta(source="bench", today=date.today())
        msgs = [json_message(i) for i in range(n)]
        return measure_pipeline(gw, msgs, meta, "baseline: pure pipeline, same messages")


def bench_ack(dep: Deployment, n: int, rate: float) -> list[float]:
    lat = []
    with socket.create_connection(("127.0.0.1", dep.port)) as s:
        t_next = time.perf_counter()
        for i in range(n):
            t_next += 1 / rate
            pause = t_next - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            t0 = time.perf_counter()
            s.sendall(START + hl7_message(i) + END)
            reply = b""
            while not reply.endswith(END):
                reply += s.recv(4096)
            lat.append(time.perf_counter() - t0)
            assert b"MSA|AA|" in reply
    return lat


def commit_latency(folder: Path, n: int = 200) -> list[float]:
    s = SQLiteStore(folder / "probe.sqlite")
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        s.add_audit(None, "bench", "probe")
        out.append(time.perf_counter() - t0)
    s.close()
    return out


def pct(values: list[float], p: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(p * len(v)))] * 1000


def memory_run(dep: Deployment, n_long: int, chunk: int) -> None:
    """Drop ``n_long`` more one-message files, ``chunk`` at a time, sampling
    the RSS of the daemon and of its worker (its largest child) after each."""
    daemon_pid = dep.proc.pid
    samples = []
    debug = os.environ.get("GATEWAY_MEMORY_DEBUG")
    done = dep.store.claim_count()
    for start in range(0, n_long, chunk):
        dep.drop(dep.stage(50_000_000 + start, chunk))
        done += chunk
        dep.wait_claims(done, timeout=max(120.0, chunk * 0.1))
        worker = max((rss_mb(c) for c in children(daemon_pid)), default=0.0)
        samples.append((done, rss_mb(daemon_pid), worker))
        if debug:
            _probe(daemon_pid, Path(debug), len(samples) - 1)
        print(f"{done:>10} {samples[-1][1]:>8.1f} {worker:>8.1f}  load {os.getloadavg()[0]:.1f}", file=sys.stderr)
    print(f"\nResident memory over {n_long} more messages (MB, sampled every {chunk})")
    print(f"{'messages':>10} {'daemon':>8} {'worker':>8}")
    for row in [*samples[:: max(1, len(samples) // 8)], samples[-1]]:
        print(f"{row[0]:>10} {row[1]:>8.1f} {row[2]:>8.1f}")
    first, last = samples[0], samples[-1]
    growth = f"daemon {last[1] - first[1]:+.1f} MB, worker {last[2] - first[2]:+.1f} MB"
    median = statistics.median(s[2] for s in samples)
    print(f"growth after the first {chunk}: {growth}; median worker {median:.1f} MB")
    grown = max(last[1] - first[1], last[2] - first[2])
    measured = f"+{grown:.1f} MB over {n_long // 1000}k msgs (sampled every {chunk // 1000}k)"
    goals.record("memory_daemon", measured, grown <= FLAT_MB)
    if debug and len(samples) > 2:
        from gateway.daemon.memdebug import compare, series

        print("\nThe daemon's memory by owner (MB; python: 0 without tracemalloc)")
        print("\n".join(series(Path(debug), [str(s[0]) for s in samples])))
        for a, b in ((1, max(2, len(samples) * 3 // 5)), (1, len(samples) - 1)):
            print(f"\nmessages {samples[a][0]} -> {samples[b][0]}: " + "\n".join(compare(Path(debug), a, b)))


def _probe(pid: int, folder: Path, n: int) -> None:
    """Ask the daemon for memory report ``n`` (GATEWAY_MEMORY_DEBUG) and wait for it."""
    os.kill(pid, signal.SIGUSR2)
    end = time.time() + 120
    while not (folder / f"daemon-{n}.json").exists() and time.time() < end:
        time.sleep(0.05)


def long_memory(n_long: int) -> None:
    """Only the memory run: ``n_long`` messages sampled every twentieth
    (issue 18's full figure: 200,000 sampled every 10,000; ``--memory 200000``)."""
    with tempfile.TemporaryDirectory() as tmp:
        dep = Deployment(Path(tmp) / "d")
        try:
            memory_run(dep, n_long, max(1000, n_long // 20))
        finally:
            dep.stop()


def main(quick: bool = False) -> None:
    n_folder = 500 if quick else 2000
    n_ack = 200 if quick else 1000
    n_long = 2000 if quick else 20000
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        base = bench_pipeline(n_folder)
        dep = Deployment(root / "d")
        try:
            folder = bench_folder(dep, n_folder, runs=2 if quick else 3)
            title = f"Daemon: files dropped → claims stored ({n_folder} one-encounter files per run)"
            print_table(title, [base, folder], baseline=base)
            commits = commit_latency(root)
            lat = bench_ack(dep, n_ack, 200.0)
            print(f"\nMLLP ACK latency at 200 msg/s ({n_ack} DFT^P03, ACK after the durable commit)")
            print(f"{'what':<44} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
            print(f"{'baseline: one durable SQLite commit':<44} {pct(commits, .5):>8.2f} {pct(commits, .99):>8.2f} "
                  f"{max(commits) * 1000:>8.2f}")  # fmt: skip
            label = "MLLP frame → ACK received"
            print(f"{label:<44} {pct(lat, 0.5):>8.2f} {pct(lat, 0.99):>8.2f} {max(lat) * 1000:>8.2f}")
            memory_run(dep, n_long, 1000)
        finally:
            dep.stop()


if __name__ == "__main__":
    if "--memory" in sys.argv:
        long_memory(int(sys.argv[sys.argv.index("--memory") + 1]))
    else:
        main("--quick" in sys.argv)
