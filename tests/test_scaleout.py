"""Two gateway nodes (two ``gateway run`` processes, each with its own inbound
folder and worker process) on one PostgreSQL database: they share the work
queue, every message is processed once, no CLM01 is billed twice and no
ISA13 repeats across the 837 files both nodes deliver, and when
one node is killed with ``kill -9`` the other finishes its work after the
lease. Each test runs on a schema of its own."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml

from gateway.examples import FIXTURES, write_example_deployment
from gateway.store import PROCESSED, Store, open_store
from tests.conftest import free_port
from tests.pg import pg_url  # noqa: F401  (fixture)

ENCOUNTER = (FIXTURES / "encounters" / "riverside-insured.json").read_bytes()


def message(i: int) -> bytes:
    """A canonical JSON encounter with its own visit (CLM01) and patient."""
    return ENCOUNTER.replace(b"V10001", f"S{i:07d}".encode()).replace(b"RIV-0001", f"SCALE-{i}".encode())


class Node:
    """One gateway node: its own deployment folder, inbound folder and daemon."""

    def __init__(self, root: Path, name: str, url: str, lease: float, batch: int = 64) -> None:
        self.name = name
        self.config = write_example_deployment(root / name)
        data = yaml.safe_load(self.config.read_text())
        data["clinics"][0]["sources"] = [{"type": "folder", "path": "inbound", "settle": 0.05, "batch": 512}]
        data["delivery"] = {"batch_max_age_s": 1.0}  # both nodes cut 837 batches from the shared claims
        self.config.write_text(yaml.safe_dump(data, sort_keys=False))
        self.inbound = root / name / "inbound"
        self.inbound.mkdir()
        self.staging = root / name / "staging"
        self.staging.mkdir()
        self.port = free_port()
        self.log = root / f"{name}.log"
        cmd = [sys.executable, "-c", "from gateway.cli import main; main()", "run", "--config", str(self.config),
               "--store", url, "--workers", "1", "--lease", str(lease), "--batch", str(batch),
               "--http", f"127.0.0.1:{self.port}", "--log-level", "warning"]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.log.open("ab"), start_new_session=True)

    def wait_ready(self, timeout: float = 60) -> None:
        end = time.time() + timeout
        while time.time() < end:
            assert self.proc.poll() is None, self.log.read_text()[-2000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1) as r:
                    if json.load(r)["ok"]:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"node {self.name} not ready: {self.log.read_text()[-2000:]}")

    def stage(self, numbers: range) -> list[Path]:
        out = []
        for i in numbers:
            out.append(self.staging / f"enc-{i}.json")
            out[-1].write_bytes(message(i))
        return out

    def drop(self, files: list[Path]) -> None:
        for f in files:
            os.rename(f, self.inbound / f.name)

    def x12_files(self) -> list[bytes]:
        folder = self.config.parent / "outbox" / "claims"
        return [p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()] if folder.is_dir() else []

    def worker_pids(self) -> list[int]:
        try:
            return [int(p) for p in Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()]
        except OSError:
            return []

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            assert self.proc.wait(30) == 0, self.log.read_text()[-2000:]

    def kill9(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)  # the daemon and its worker, as a dead machine
        self.proc.wait()


def query(store: Store, sql: str, params: tuple = ()) -> list[tuple]:
    with store.read() as cur:  # type: ignore[attr-defined]
        cur.execute(sql, params)
        return cur.fetchall()


def wait_done(store: Store, n: int, timeout: float) -> float:
    """Seconds until ``n`` messages are processed (none waiting)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        ((done,),) = query(store, "SELECT COUNT(*) FROM messages WHERE status <> 'received'")
        if done >= n:
            return time.monotonic() - t0
        time.sleep(0.1)
    counts = store.counts()
    raise AssertionError(f"not finished after {timeout} s: {counts}")


def assert_each_processed_once(store: Store, n: int) -> dict[str, int]:
    """Every message finished once, every encounter one claim; work per node."""
    statuses = {s for _, s, _ in store.counts()}
    assert statuses <= {str(s) for s in PROCESSED}, statuses
    ((messages,),) = query(store, "SELECT COUNT(*) FROM messages")
    assert messages == n
    per_message = query(store, "SELECT message_id, COUNT(*) FROM audit WHERE action = 'processed' GROUP BY message_id")
    assert len(per_message) == n and {c for _, c in per_message} == {1}  # processed exactly once
    ((claims, distinct_clm01, dup_encounters),) = query(
        store,
        "SELECT COUNT(*), COUNT(DISTINCT clm01), "
        "(SELECT COUNT(*) FROM encounters WHERE status = 'duplicate') FROM claims",
    )
    assert claims == distinct_clm01 == n and dup_encounters == 0  # no CLM01 twice
    by_worker = query(store, "SELECT actor, COUNT(*) FROM audit WHERE action = 'processed' GROUP BY actor")
    return dict(by_worker)


def segments(x12: bytes) -> list[list[str]]:
    text = x12.decode()
    terminator = text[105]  # ISA is fixed width: the segment terminator follows ISA16
    return [seg.strip().split(text[3]) for seg in text.split(terminator) if seg.strip()]


def delivered_control_numbers(nodes: list[Node], n: int, timeout: float) -> tuple[list[str], list[str]]:
    """ISA13 and CLM01 of every 837 file both nodes delivered, once ``n`` claims arrived."""
    end = time.monotonic() + timeout
    while True:
        isa13, clm01 = [], []
        for x12 in (f for node in nodes for f in node.x12_files()):
            for seg in segments(x12):
                if seg[0] == "ISA":
                    isa13.append(seg[13])
                elif seg[0] == "CLM":
                    clm01.append(seg[1])
        if len(clm01) >= n or time.monotonic() > end:
            return isa13, clm01
        time.sleep(0.25)


def test_two_nodes_share_10000_messages_each_processed_once(tmp_path: Path, pg_url: str) -> None:  # noqa: F811
    n = 10_000
    store = open_store(pg_url)  # migrated before the nodes start
    a = Node(tmp_path, "node-a", pg_url, lease=30)
    b = Node(tmp_path, "node-b", pg_url, lease=30)
    try:
        files_a, files_b = a.stage(range(0, n, 2)), b.stage(range(1, n, 2))
        a.wait_ready()
        b.wait_ready()
        a.drop(files_a)
        b.drop(files_b)
        elapsed = wait_done(store, n, timeout=80)
        rate = n / elapsed
        isa13, clm01 = delivered_control_numbers([a, b], n, timeout=30)
    finally:
        a.stop()
        b.stop()
    by_worker = assert_each_processed_once(store, n)
    # across all 837 files both nodes delivered: every claim once, no ISA13 twice
    assert len(clm01) == n and len(set(clm01)) == n
    assert len(isa13) == len(set(isa13)) >= n // 500
    files = {node.name: len(node.x12_files()) for node in (a, b)}
    assert len(by_worker) == 2, by_worker  # one worker process per node…
    assert min(by_worker.values()) > n * 0.2, by_worker  # …and both took a real share of the queue
    print(
        f"two nodes: {n} messages in {elapsed:.1f} s ({rate:.0f}/s), per worker {sorted(by_worker.values())}, "
        f"837 files per node {files}, {len(isa13)} ISA13"
    )
    store.close()


def test_kill_9_one_node_the_other_finishes_after_the_lease(tmp_path: Path, pg_url: str) -> None:  # noqa: F811
    n, lease = 3_000, 3.0
    store = open_store(pg_url)
    a = Node(tmp_path, "node-a", pg_url, lease=lease, batch=32)
    b = Node(tmp_path, "node-b", pg_url, lease=lease, batch=32)
    try:
        files = b.stage(range(n))  # node-b's folder takes them in; both nodes' workers process
        a.wait_ready()
        b.wait_ready()
        b.drop(files)
        a_workers = [f":{pid}:" for pid in a.worker_pids()]
        assert a_workers
        held: list[tuple] = []
        end = time.monotonic() + 40
        while not held and time.monotonic() < end:  # wait until node-a has done some work and holds a batch
            time.sleep(0.05)
            done_by_a = query(store, "SELECT actor FROM audit WHERE action = 'processed' LIMIT 2000")
            if sum(any(w in actor for w in a_workers) for (actor,) in done_by_a) < 100:
                continue
            os.killpg(a.proc.pid, signal.SIGSTOP)  # freeze node-a to see exactly what it holds
            held = [
                r
                for r in query(
                    store, "SELECT id, claimed_by FROM messages WHERE status = 'received' AND claimed_by IS NOT NULL"
                )
                if any(w in r[1] for w in a_workers)
            ]
            if not held:
                os.killpg(a.proc.pid, signal.SIGCONT)
        assert held, "node-a never held work"
        killed_at = time.time()
        a.kill9()
        ((remaining,),) = query(store, "SELECT COUNT(*) FROM messages WHERE status = 'received'")
        took = wait_done(store, n, timeout=lease + 30)
    finally:
        if a.proc.poll() is None:
            a.kill9()
        b.stop()
    by_worker = assert_each_processed_once(store, n)
    assert len(by_worker) == 2
    held_ids = [r[0] for r in held]
    marks = ", ".join("?" * len(held_ids))
    taken_over = query(
        store, f"SELECT attempts, claimed_by, processed_at FROM messages WHERE id IN ({marks})", tuple(held_ids)
    )
    assert all(att == 2 and who is None for att, who, _ in taken_over)  # claimed again by node-b after the lease
    assert min(p for *_, p in taken_over) >= killed_at + lease - 0.5  # not before the lease ran out
    assert took <= lease + 15, took  # the survivor finished all work within the lease + a margin
    print(f"kill -9: node-a held {len(held)}, {remaining} waiting at the kill, node-b finished in {took:.1f} s")
    store.close()
