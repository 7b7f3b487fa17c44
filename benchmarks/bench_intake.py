"""HTTP FHIR intake under load: ``gateway run --http`` as its own process
(one worker process processing behind it, fsync commits), a bounded client
on loopback sending ~20 KB Bundles at a paced 200 per second.

* steady run (60 s; ``--quick``: 10 s): latency from the moment each bundle
  was due to its 202 (so a stalled server cannot hide behind a slow client:
  no coordinated omission), p50/p99/max, and what rate was achieved;
  baselines in the same run: ``GET /healthz`` paced the same way on the
  same listener (HTTP without the journal), and one durable SQLite commit;
* kill -9: the same load on a fresh daemon, SIGKILL half-way; then every
  bundle that got its 202 is looked up in the store (must be all of them).

The client is bounded: 16 connections; a bundle that finds all 16 busy for
more than 1 s is counted as shed, not queued without limit.
"""

from __future__ import annotations

import hashlib
import os
import queue
import signal
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from benchmarks.bench_daemon import commit_latency, pct
from gateway.store import SQLiteStore
from tests.intake_helpers import Daemon, bundle, token

RATE = 200.0
CONNECTIONS = 16
FHIR = {"content-type": "application/fhir+json"}


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)
    acked: list[str] = field(default_factory=list)  # sha256 of each bundle answered 202
    errors: int = 0
    shed: int = 0
    seconds: float = 0.0


def paced(url: str, seconds: float, body_of, headers: dict, expect: int, kill_at: float | None = None,
          pid: int | None = None) -> Run:  # fmt: skip
    """Send at RATE per second for ``seconds`` with a bounded pool; SIGKILL
    ``pid`` after ``kill_at`` seconds."""
    run = Run()
    jobs: queue.Queue = queue.Queue(maxsize=CONNECTIONS)
    lock = threading.Lock()

    def sender() -> None:
        with httpx.Client(timeout=10) as http:
            while (job := jobs.get()) is not None:
                due, n = job
                body = body_of(n)
                try:
                    r = http.request("POST" if body else "GET", url, content=body, headers=headers)
                except httpx.HTTPError:
                    with lock:
                        run.errors += 1
                    continue
                done = time.perf_counter()
                with lock:
                    if r.status_code == expect:
                        run.latencies.append(done - due)
                        if body:
                            run.acked.append(hashlib.sha256(body).hexdigest())
                    else:
                        run.errors += 1

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(CONNECTIONS)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    n, killed = 0, False
    while (now := time.perf_counter()) - t0 < seconds:
        due = t0 + n / RATE
        if due > now:
            time.sleep(due - now)
        if kill_at is not None and not killed and time.perf_counter() - t0 >= kill_at and pid:
            os.kill(pid, signal.SIGKILL)
            killed = True
        try:
            jobs.put((due, n), timeout=1.0)
        except queue.Full:
            run.shed += 1
        n += 1
    for _ in threads:
        jobs.put(None)
    for t in threads:
        t.join(30)
    run.seconds = time.perf_counter() - t0
    return run


def row(name: str, lat: list[float], extra: str = "") -> str:
    if not lat:
        return f"{name:<46} {'-':>8} {'-':>8} {'-':>8}  {extra}"
    return f"{name:<46} {pct(lat, 0.5):>8.2f} {pct(lat, 0.99):>8.2f} {max(lat) * 1000:>8.2f}  {extra}"


def main(quick: bool = False) -> None:
    seconds = 10.0 if quick else 60.0
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        commits = commit_latency(root)
        d = Daemon(root / "steady")
        tok = token(d.config, "intake", "riverside")
        auth = {**FHIR, "authorization": f"Bearer {tok}"}
        d.start()
        try:
            health = paced(d.base + "/healthz", min(seconds, 10.0), lambda n: b"", {}, 200)
            steady = paced(d.base + "/fhir", seconds, lambda n: bundle(n), auth, 202)
        finally:
            d.stop()
        size = len(bundle(0))
        load = os.getloadavg()[0]
        print(f"\nHTTP FHIR intake: {RATE:.0f} bundles/s of {size / 1000:.1f} KB for {seconds:.0f} s, "
              f"{CONNECTIONS} connections, 202 after the durable commit (latency from when each was due); "
              f"{os.cpu_count()} cores, load average {load:.1f} at the end")  # fmt: skip
        print(f"{'what':<46} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
        print(row("baseline: one durable SQLite commit", commits))
        print(row("baseline: GET /healthz, same pace and listener", health.latencies))
        rate = len(steady.acked) / steady.seconds
        note = f"{len(steady.acked)} accepted ({rate:.0f}/s), {steady.errors} errors, {steady.shed} shed"
        print(row("POST /fhir → 202", steady.latencies, note))

        k = Daemon(root / "kill")
        tok = token(k.config, "intake", "riverside")
        k.start()
        assert k.proc is not None
        headers = {**FHIR, "authorization": f"Bearer {tok}"}
        crash = paced(
            k.base + "/fhir", 10.0, lambda n: bundle(1_000_000 + n), headers, 202, kill_at=5.0, pid=k.proc.pid
        )
        k.proc.wait(30)
        store = SQLiteStore(k.config.parent / "state" / "gateway.sqlite")
        try:
            with store.read() as cur:
                cur.execute("SELECT sha256 FROM messages")
                have = {r[0] for r in cur.fetchall()}
        finally:
            store.close()
        missing = [h for h in crash.acked if h not in have]
        print(
            f"kill -9 after 5 s of the same load: {len(crash.acked)} bundles acknowledged, "
            f"{len(missing)} of them missing from the store, {len(have) - len(crash.acked)} stored but unacknowledged"
        )
        if missing:
            raise SystemExit("acknowledged bundles were lost")


if __name__ == "__main__":
    import sys

    main("--quick" in sys.argv)
