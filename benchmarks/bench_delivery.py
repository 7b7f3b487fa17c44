"""Delivery end to end: HL7 files dropped into an inbound folder → 837 files
present on a real OpenSSH SFTP server (127.0.0.1), through a separate
``gateway run`` process (one worker process, durable commits, batcher,
outbox, dispatcher) with a 1-second batch age.

* throughput: a burst of one-encounter DFT^P03 files renamed into the folder
  at once, until every CLM01 is in a file on the server (median of runs);
  baseline in the same run: the pure pipeline on the same messages;
* latency: files dropped at a steady rate; per encounter, the time from the
  rename into the inbound folder to the 837 holding it being complete on
  the server (the server file's mtime, set by the upload before the rename
  into place); p50/p95/max. The 1-second batch age is the floor by design.

Every file on the server is read back: no CLM01 and no ISA13 twice.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path

import yaml
from gateway_plugins.renderers.x12.reader import read_837

from benchmarks._util import Measurement, measure_pipeline, print_table
from gateway.app import Gateway
from gateway.examples import FIXTURES, write_example_deployment
from gateway.messages import MessageMeta
from tests.sshd import Sshd

DFT = (FIXTURES / "hl7v2" / "dft_p03_v251_vendor_repeats.hl7").read_bytes()


def hl7_message(i: int) -> bytes:
    return DFT.replace(b"RV-DFT-0010", f"BD-{i}".encode()).replace(b"V10010", f"BD{i:07d}".encode())


def clm01(i: int) -> str:
    return f"BD{i:07d}"


class Setup:
    """sshd + a deployment delivering claims to it + its ``gateway run``."""

    def __init__(self, root: Path) -> None:
        self.sshd = Sshd(root / "sshd")
        self.sshd.start()
        self.config = write_example_deployment(root / "dep")
        data = yaml.safe_load(self.config.read_text())
        data["destinations"]["claims-out"] = self.sshd.destination("claims")
        data["delivery"] = {"batch_max_age_s": 1.0, "batch_max_items": 500}
        data["clinics"][0]["sources"] = [{"type": "folder", "path": "inbound", "settle": 0.05, "batch": 512}]
        self.config.write_text(yaml.safe_dump(data, sort_keys=False))
        self.inbound = root / "dep" / "inbound"
        self.inbound.mkdir()
        self.staging = root / "dep" / "staging"
        self.staging.mkdir()
        cmd = [sys.executable, "-c", "from gateway.cli import main; main()", "run", "--config", str(self.config),
               "--workers", "1", "--log-level", "warning"]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.seen: dict[str, float] = {}  # CLM01 → completion time on the server
        self.isa13: Counter[str] = Counter()
        self._read: set[str] = set()
        self.warm_up()

    def warm_up(self) -> None:
        """One file through the whole path, so imports and connections are paid before timing."""
        self.drop(self.stage(range(99_000_000, 99_000_001)))
        self.wait({clm01(99_000_000)}, timeout=60)

    def stage(self, ids: range) -> list[tuple[int, Path]]:
        out = []
        for i in ids:
            p = self.staging / f"v{i}.hl7"
            p.write_bytes(hl7_message(i))
            out.append((i, p))
        return out

    def drop(self, staged: list[tuple[int, Path]]) -> dict[str, float]:
        dropped = {}
        for i, p in staged:
            os.rename(p, self.inbound / p.name)
            dropped[clm01(i)] = time.time()
        return dropped

    def poll(self) -> None:
        folder = self.sshd.root / "claims"
        for entry in os.scandir(folder):
            if entry.name.startswith(".") or entry.name in self._read:
                continue
            self._read.add(entry.name)
            done = entry.stat().st_mtime
            read = read_837(Path(entry.path).read_bytes())
            self.isa13.update(read.interchanges)
            for c in read.claims:
                if c.claim_id in self.seen:
                    raise AssertionError(f"CLM01 {c.claim_id} delivered twice")
                self.seen[c.claim_id] = done

    def wait(self, wanted: set[str], timeout: float = 120) -> float:
        end = time.time() + timeout
        while not wanted <= self.seen.keys():
            if time.time() > end:
                raise RuntimeError(f"{len(wanted - self.seen.keys())} of {len(wanted)} claims not delivered")
            time.sleep(0.02)
            self.poll()
        return max(self.seen[c] for c in wanted)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        finally:
            self.sshd.stop()


def bench_burst(s: Setup, n: int, runs: int) -> Measurement:
    times = []
    for r in range(runs):
        staged = s.stage(range(10_000_000 * (r + 1), 10_000_000 * (r + 1) + n))
        t0 = time.time()
        dropped = s.drop(staged)
        last = s.wait(set(dropped))
        times.append(last - t0)
    return Measurement("files dropped → 837s on the SFTP server", n, times)


def bench_paced(s: Setup, n: int, rate: float) -> list[float]:
    staged = s.stage(range(50_000_000, 50_000_000 + n))
    dropped: dict[str, float] = {}
    t_next = time.perf_counter()
    for item in staged:
        t_next += 1 / rate
        pause = t_next - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        dropped.update(s.drop([item]))
        s.poll()
    s.wait(set(dropped))
    return [s.seen[c] - t for c, t in dropped.items()]


def bench_pipeline(n: int) -> Measurement:
    with tempfile.TemporaryDirectory() as tmp:
        gw = Gateway.from_config(write_example_deployment(Path(tmp) / "d"))
        meta = MessageMeta(source="bench", today=date.today())
        msgs = [hl7_message(i) for i in range(n)]
        return measure_pipeline(gw, msgs, meta, "baseline: pure pipeline, same messages")


def pct(values: list[float], p: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(p * len(v)))]


def main(quick: bool = False) -> None:
    n_burst, runs = (400, 1) if quick else (1500, 3)
    n_paced, rate = (150, 50.0) if quick else (600, 100.0)
    print(f"load average: {os.getloadavg()[0]:.2f} (2-core shared machine)")
    base = bench_pipeline(n_burst)
    with tempfile.TemporaryDirectory() as tmp:
        s = Setup(Path(tmp))
        try:
            burst = bench_burst(s, n_burst, runs)
            print_table(
                f"Delivery: HL7 files dropped → 837 files on the SFTP server ({n_burst} one-encounter files per run, "
                "1 worker, batch age 1 s)",
                [base, burst],
                baseline=base,
            )
            lat = bench_paced(s, n_paced, rate)
            print(f"\nDrop → delivered latency at {rate:.0f} files/s ({n_paced} files, batch age 1.0 s)")
            print(f"{'what':<44} {'p50 s':>8} {'p95 s':>8} {'max s':>8}")
            print(f"{'file renamed in → its 837 complete on server':<44} {pct(lat, 0.5):>8.2f} {pct(lat, 0.95):>8.2f} "
                  f"{max(lat):>8.2f}")  # fmt: skip
            files = len(s._read)
            repeats = max(s.isa13.values())
            median = statistics.median(burst.seconds)
            print(f"\n{files} files on the server, {len(s.seen)} claims: no CLM01 twice; "
                  f"ISA13 max repeats {repeats}; median burst {median:.2f} s")  # fmt: skip
            assert max(s.isa13.values()) == 1
        finally:
            s.stop()


if __name__ == "__main__":
    main("--quick" in sys.argv)
