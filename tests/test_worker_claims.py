"""How workers share the queue (issue 18: two workers ≥ 1.5× one): a claim
keeps at most ``claim_bytes`` of raw messages and gives the rest back at
once, so a backlog of large files is shared between workers instead of
taken whole by whichever polled first; small messages are still claimed
``batch`` at a time. On SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from gateway.app import Gateway
from gateway.store import MessageFilter, open_store
from gateway.worker import Worker, WorkerSettings
from tests.delivery_helpers import deployment, hl7_visit
from tests.pg import pg_url, store_url  # noqa: F401  (fixtures)
from tests.test_posting_nodes import journal


def _file(first: int, visits: int) -> bytes:
    """One input file of ``visits`` DFT^P03 messages."""
    return b"".join(hl7_visit(i) for i in range(first, first + visits))


def test_a_backlog_of_large_files_is_shared_one_claim_at_a_time(tmp_path: Path, store_url: str) -> None:  # noqa: F811
    gw = Gateway.from_config(deployment(tmp_path / "dep"))
    store = open_store(store_url)
    try:
        files = [_file(k * 20, 20) for k in range(3)]
        journal(gw, store, ((f"batch-{k}.hl7", raw) for k, raw in enumerate(files)))
        size = max(map(len, files))
        settings = WorkerSettings(batch=64, claim_bytes=size + size // 2)  # room for one file, not two
        a, b = Worker(gw.pipeline, store, "node-a", settings), Worker(gw.pipeline, store, "node-b", settings)
        assert a.run_once() == 1  # claimed all three, kept one, gave two back
        assert a.largest == size  # the next claim asks for one message
        waiting = store.claim("probe", 64, 60.0)
        assert sorted(m.name for m in waiting) == ["batch-1.hl7", "batch-2.hl7"]
        assert [m.attempts for m in waiting] == [1, 1]  # the given-back claim was not counted as an attempt
        store.release("probe", [m.id for m in waiting])
        assert b.run_once() == 1 and a.run_once() == 1
        assert a.run_once() == 0 and b.run_once() == 0
        assert a.processed == 2 and b.processed == 1
        rows = store.list_messages(MessageFilter())
        assert len(rows) == 3 and {m.status for m in rows} == {"claimed"}  # claims built
    finally:
        store.close()


def test_small_messages_are_still_claimed_a_batch_at_a_time(tmp_path: Path, store_url: str) -> None:  # noqa: F811
    gw = Gateway.from_config(deployment(tmp_path / "dep"))
    store = open_store(store_url)
    try:
        journal(gw, store, ((f"v{i}.hl7", hl7_visit(i)) for i in range(5)))
        worker = Worker(gw.pipeline, store, "node-a", WorkerSettings(batch=64))
        assert worker.run_once() == 5
        assert worker.processed == 5
    finally:
        store.close()
