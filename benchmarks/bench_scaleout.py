"""Scale-out on PostgreSQL: encounters/s with 1 and with 2 worker processes
sharing one database (claiming with ``FOR UPDATE SKIP LOCKED`` and leases).

Each run journals N one-encounter messages into a fresh schema (untimed),
starts the worker processes (imports and configuration untimed, they wait on
a start signal), then times from the signal until the last worker found the
queue empty, every message processed (claims, encounters, records and audit
committed; process tear-down untimed). Runs are
interleaved (1, 2, 1, 2, …) and medians quoted; the baseline is one worker
process. The pure pipeline in this process (no I/O) is printed as the
ceiling one core reaches. Target: 2 workers ≥ 1.7x of 1 on a 2-core machine.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from benchmarks._util import Measurement, measure_pipeline, print_table
from gateway.app import Gateway
from gateway.examples import FIXTURES, write_example_deployment
from gateway.messages import MessageMeta
from gateway.store import NewMessage, open_store

PG_URL = os.environ.get("GATEWAY_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
ENCOUNTER = (FIXTURES / "encounters" / "riverside-insured.json").read_bytes()


def message(i: int) -> bytes:
    return ENCOUNTER.replace(b"V10001", f"B{i:07d}".encode()).replace(b"RIV-0001", f"BENCH-{i}".encode())


def schema_url(schema: str) -> str:
    from urllib.parse import quote

    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options={quote(f'-csearch_path={schema}')}"


def admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(sql)


def _worker(config: str, url: str, n: int, ready: Any, go: Any, done: Any, batch: int) -> None:
    from gateway.worker import Worker, WorkerSettings, worker_id

    gw = Gateway.from_config(Path(config))
    store = open_store(url)
    w = Worker(gw.pipeline, store, worker_id(n), WorkerSettings(batch=batch, lease=60))
    ready.release()
    go.wait()
    while w.run_once():
        pass
    done.put((time.monotonic(), w.processed))  # before tear-down: exit costs are not processing
    store.close()


def one_run(config: Path, workers: int, n: int, run: int, batch: int) -> float:
    """Seconds for ``workers`` processes to process ``n`` journaled messages."""
    schema = f"gwbench_{os.getpid()}_{run}"
    admin(f'CREATE SCHEMA "{schema}"')
    url = schema_url(schema)
    try:
        store = open_store(url)
        now = time.time()
        msgs = [message(run * 1_000_000 + i) for i in range(n)]
        for start in range(0, n, 500):
            store.journal(
                [
                    NewMessage(m, hashlib.sha256(m).hexdigest(), "riverside", "bench", now, channel_clinic="riverside")
                    for m in msgs[start : start + 500]
                ]
            )
        ctx = multiprocessing.get_context("spawn")
        ready, go, done = ctx.Semaphore(0), ctx.Event(), ctx.Queue()
        procs = [
            ctx.Process(target=_worker, args=(str(config), url, k, ready, go, done, batch)) for k in range(workers)
        ]
        for p in procs:
            p.start()
        for _ in procs:
            ready.acquire(timeout=120)
        t0 = time.monotonic()  # system-wide clock: comparable with the workers'
        go.set()
        finished = [done.get(timeout=300) for _ in procs]
        elapsed = max(t for t, _ in finished) - t0
        for p in procs:
            p.join(60)
        if workers > 1 and min(k for _, k in finished) < n * 0.3 / workers:
            raise RuntimeError(f"work was not shared: {[k for _, k in finished]}")
        with store.read() as cur:  # type: ignore[attr-defined]
            cur.execute("SELECT COUNT(*), (SELECT COUNT(*) FROM claims) FROM messages WHERE status = 'claimed'")
            done, claims = cur.fetchone()
        store.close()
        if done != n or claims != n:
            raise RuntimeError(f"{done} of {n} messages processed, {claims} claims")
        return elapsed
    finally:
        admin(f'DROP SCHEMA "{schema}" CASCADE')


def bench_pipeline(config: Path, n: int) -> Measurement:
    gw = Gateway.from_config(config)
    meta = MessageMeta(source="bench", today=date.today(), clinic_id="riverside")
    return measure_pipeline(gw, [message(i) for i in range(n)], meta, "ceiling: pure pipeline, one core, no I/O")


def main(quick: bool = False) -> None:
    n = 1500 if quick else 6000
    runs = 2 if quick else 3
    batch = 64
    with tempfile.TemporaryDirectory() as tmp:
        config = write_example_deployment(Path(tmp) / "d")
        load_before = os.getloadavg()
        times: dict[int, list[float]] = {1: [], 2: []}
        for r in range(runs):
            for workers in (1, 2):
                times[workers].append(one_run(config, workers, n, r * 10 + workers, batch))
        load_after = os.getloadavg()
        ceiling = bench_pipeline(config, n)
    one = Measurement("PostgreSQL, 1 worker process", n, times[1])
    two = Measurement("PostgreSQL, 2 worker processes", n, times[2])
    print_table(f"Scale-out: {n} one-encounter messages claimed and processed, batch {batch}", [one, two, ceiling], one)
    print(f"\n2 workers / 1 worker: {two.per_second / one.per_second:.2f}x (target ≥ 1.7x on 2 cores)")
    print(f"cores: {os.cpu_count()}; load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min)")


if __name__ == "__main__":
    main("--quick" in sys.argv)
