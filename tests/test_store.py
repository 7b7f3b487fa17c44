"""The store: durable journal with dedup, atomic claiming with leases,
results in one transaction, records, audit, reprocess, migrations — against
both backends (SQLite file, PostgreSQL schema; see tests/pg.py)."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import threading
import time
from pathlib import Path

import pytest

from gateway.messages import RecordUpdate
from gateway.store import (
    EncounterOutcome,
    MessageFilter,
    NewMessage,
    Outcome,
    SQLiteStore,
    Status,
    Store,
    migrations,
    open_store,
)
from gateway.store.submissions import NewClaim, content_digest
from tests.pg import store_url  # noqa: F401  (fixture: one URL per backend)


def new(raw: bytes, scope: str = "riverside", control: str | None = None, ack: bytes | None = None) -> NewMessage:
    return NewMessage(
        raw=raw,
        sha256=hashlib.sha256(raw).hexdigest(),
        scope=scope,
        source="test",
        received_at=time.time(),
        clinic_id="riverside",
        control_id=control,
        ack=ack,
    )


def claim_item(clm01: str, body: dict | None = None, payer_seq: int = 1) -> NewClaim:
    text = json.dumps(body if body is not None else {"id": clm01})
    return NewClaim(clm01, "PAYER", "10.00", text, payer_seq, content_digest("claims", text))


def outcome(mid: int, clm01: str, visit: str = "V1") -> Outcome:
    enc = EncounterOutcome(
        idx=0,
        clinic_id="riverside",
        visit=visit,
        status=Status.CLAIMED,
        encounter="{}",
        findings=[],
        claims=[claim_item(clm01)],
    )
    return Outcome(
        message_id=mid,
        status=Status.CLAIMED,
        clinic_id="riverside",
        encounters=[enc],
        updates=[RecordUpdate("patient", "MRN1", {"name": "x"})],
    )


@pytest.fixture
def store(store_url: str) -> Store:  # noqa: F811
    s = open_store(store_url)
    yield s
    s.close()


def test_sqlite_wal_and_full_sync_and_private_file(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "gateway.sqlite")
    with store.read() as cur:
        assert cur.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert cur.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert store.path.stat().st_mode & 0o077 == 0
    store.close()


def test_migrations_run_once_and_reopen_is_a_no_op(store_url: str) -> None:  # noqa: F811
    s = open_store(store_url)
    assert s.schema_version() == migrations.latest()  # type: ignore[attr-defined]
    assert s.migrate() == []  # type: ignore[attr-defined]
    s.close()
    s2 = open_store(store_url if "://" in store_url else f"sqlite:///{store_url}")
    assert s2.schema_version() == migrations.latest()  # type: ignore[attr-defined]
    s2.close()


def test_resend_is_one_message_with_the_first_ack(store: Store) -> None:
    first, again = (
        store.journal([new(b"MSG1", control="C1", ack=b"ACK-1")]),
        store.journal([new(b"MSG1", control="C1", ack=b"ACK-OTHER")]),
    )
    assert not first[0].duplicate and again[0].duplicate
    assert again[0].message_id == first[0].message_id
    assert again[0].ack == b"ACK-1"
    assert [a.action for a in store.audit_trail(first[0].message_id)] == ["received", "resent"]
    assert sum(n for *_, n in store.counts()) == 1


def test_same_bytes_other_clinic_are_two_messages(store: Store) -> None:
    a, b = store.journal([new(b"X", scope="riverside"), new(b"X", scope="lakeside")])
    assert a.message_id != b.message_id and not b.duplicate


def test_reused_control_id_with_other_content_is_kept_and_flagged(store: Store) -> None:
    store.journal([new(b"ONE", control="C9")])
    (j,) = store.journal([new(b"TWO", control="C9")])
    assert not j.duplicate and j.control_id_reused
    assert store.message(j.message_id).findings[0]["rule"] == "GW-CONTROL-ID-REUSED"


def test_claim_hands_each_message_to_one_worker(store: Store) -> None:
    store.journal([new(f"M{i}".encode()) for i in range(10)])
    a = store.claim("w1", 6, 60)
    b = store.claim("w2", 6, 60)
    assert len(a) == 6 and len(b) == 4
    assert not {m.id for m in a} & {m.id for m in b}
    assert store.claim("w3", 6, 60) == []


def test_lease_expiry_returns_work_of_a_dead_worker(store: Store) -> None:
    store.journal([new(b"M")])
    (m,) = store.claim("dead-worker", 1, lease=0.05)
    assert store.claim("w2", 1, 60) == []
    time.sleep(0.1)
    (again,) = store.claim("w2", 1, 60)
    assert again.id == m.id and again.attempts == 2
    # the dead worker's late results are dropped: w2 owns the message now
    assert store.complete("dead-worker", [outcome(m.id, "CLM1")]) == []
    assert store.claim_count() == 0
    assert [c.claims for c in store.complete("w2", [outcome(m.id, "CLM1")])] == [1]


def test_complete_stores_claims_records_and_audit(store: Store) -> None:
    store.journal([new(b"M")])
    (m,) = store.claim("w", 1, 60)
    store.complete("w", [outcome(m.id, "CLM1")])
    row = store.message(m.id)
    assert row.status == "claimed" and row.claimed_by is None and row.processed_at
    assert store.encounters(m.id)[0]["claims"] == [{"clm01": "CLM1", "status": "created"}]
    assert store.get("riverside", "patient", "MRN1") == {"name": "x"}
    assert store.get("lakeside", "patient", "MRN1") is None
    assert [a.action for a in store.audit_trail(m.id)] == ["received", "processed"]


def test_one_claim_per_clinic_and_clm01(store: Store) -> None:
    store.journal([new(b"A"), new(b"B")])
    a, b = store.claim("w", 2, 60)
    done = store.complete("w", [outcome(a.id, "CLM1"), outcome(b.id, "CLM1", visit="V1-again")])
    assert [(c.claims, c.duplicate_claims) for c in done] == [(1, 0), (0, 1)]
    assert store.claim_count() == 1
    enc = store.encounters(b.id)[0]
    assert enc["status"] == "duplicate" and enc["findings"][-1]["rule"] == "GW-RESENT-CLAIM"
    assert store.message(b.id).status == "duplicate"  # final: nothing of it waits


def test_release_gives_work_back_without_counting_an_attempt(store: Store) -> None:
    store.journal([new(b"A")])
    (m,) = store.claim("w", 1, 60)
    assert store.release("w", [m.id]) == 1
    (again,) = store.claim("w2", 1, 60)
    assert again.attempts == 1


def test_reprocess_rebuilds_and_is_audited(store: Store) -> None:
    store.journal([new(b"A")])
    (m,) = store.claim("w", 1, 60)
    store.complete("w", [outcome(m.id, "CLM1")])
    assert store.reprocess(m.id, "cli:alice", "fixed the charge master")
    assert store.message(m.id).status == "received" and store.claim_count() == 0
    (again,) = store.claim("w", 1, 60)
    store.complete("w", [outcome(again.id, "CLM1")])
    assert store.claim_count() == 1
    actions = [(a.actor, a.action) for a in store.audit_trail(m.id)]
    assert ("cli:alice", "reprocess") in actions
    assert store.reprocess(999, "cli:alice") is False


def test_list_filters(store: Store) -> None:
    store.journal([new(b"A"), new(b"B", scope="lakeside")])
    assert len(store.list_messages(MessageFilter(status="received"))) == 2
    assert len(store.list_messages(MessageFilter(since=time.time() + 60))) == 0
    (one,) = store.list_messages(MessageFilter(id=1))
    assert one.id == 1


def _claimer(url: str, n: int, out: multiprocessing.Queue) -> None:
    s = open_store(url)
    got = []
    while batch := s.claim(f"p{n}", 7, 60):
        got += [m.id for m in batch]
    out.put(got)


def test_claiming_is_atomic_across_processes_and_threads(store: Store, store_url: str) -> None:  # noqa: F811
    store.journal([new(f"M{i}".encode()) for i in range(600)])
    ctx = multiprocessing.get_context("fork")
    q: multiprocessing.Queue = ctx.Queue()
    procs = [ctx.Process(target=_claimer, args=(store_url, n, q)) for n in range(3)]
    for p in procs:
        p.start()
    thread_got: list[int] = []

    def claim_in_thread() -> None:
        s = open_store(store_url)
        while batch := s.claim("thread", 5, 60):
            thread_got.extend(m.id for m in batch)

    t = threading.Thread(target=claim_in_thread)
    t.start()
    results = [q.get(timeout=30) for _ in procs]
    for p in procs:
        p.join()
    t.join()
    everything = [i for r in results for i in r] + thread_got
    assert len(everything) == 600 and len(set(everything)) == 600


def test_migration_versions_are_unique_increasing_and_cover_both_dialects() -> None:
    versions = [m.version for m in migrations.MIGRATIONS]
    assert versions == sorted(set(versions)), "two migrations share a number (renumber the newer one)"
    assert all(set(m.sql) == {"sqlite", "postgresql"} for m in migrations.MIGRATIONS)


def test_every_migration_table_exists_on_both_backends(store: Store) -> None:
    with store.read() as cur:  # type: ignore[attr-defined]
        for table in ("messages", "leases", "control_numbers", "outbox"):
            cur.execute(f"SELECT COUNT(*) FROM {table}")
            assert cur.fetchone()[0] == 0
