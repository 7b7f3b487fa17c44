"""Store pieces several nodes rely on, on both backends: named leases with
fencing tokens, control numbers unique across processes, raw-bytes retention
(store and CLI); PostgreSQL only: SKIP LOCKED claiming, reconnects, a clear
error when the database cannot be reached."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from gateway.cli import cli
from gateway.control_numbers import StoreControlNumbers
from gateway.store import Store, StoreUnavailable, open_store
from gateway.store.postgres import PostgresStore
from gateway.store.retention import read_archive
from tests.pg import admin, pg_url, store_url  # noqa: F401  (fixtures)
from tests.test_store import new, outcome


@pytest.fixture
def store(store_url: str) -> Store:  # noqa: F811
    s = open_store(store_url)
    yield s
    s.close()


# -- leases -------------------------------------------------------------------
def test_lease_has_one_owner_until_it_expires_then_changes_hands(store: Store) -> None:
    a = store.try_lease("delivery:clearinghouse", "node-a", ttl=0.3)
    assert a is not None and a.token == 1
    assert store.try_lease("delivery:clearinghouse", "node-b", ttl=10) is None
    renewed = store.try_lease("delivery:clearinghouse", "node-a", ttl=0.3)
    assert renewed is not None and renewed.token == 1 and renewed.acquired_at == a.acquired_at
    time.sleep(0.4)  # node-a died: its lease runs out
    b = store.try_lease("delivery:clearinghouse", "node-b", ttl=10)
    assert b is not None and b.token == 2  # fencing: node-a's late writes can be told apart
    assert store.try_lease("delivery:clearinghouse", "node-a", ttl=10) is None
    assert store.try_lease("delivery:other", "node-a", ttl=10) is not None  # per destination


def test_released_lease_is_taken_at_once_with_a_higher_token(store: Store) -> None:
    store.try_lease("batch:riverside", "node-a", ttl=60)
    assert not store.release_lease("batch:riverside", "node-b")  # not the owner
    assert store.release_lease("batch:riverside", "node-a")
    taken = store.try_lease("batch:riverside", "node-b", ttl=60)
    assert taken is not None and taken.token == 2
    assert [(le.name, le.owner, le.token) for le in store.leases()] == [("batch:riverside", "node-b", 2)]


def _lease_racer(url: str, n: int, rounds: int, out: multiprocessing.Queue) -> None:
    s = open_store(url)
    won = [i for i in range(rounds) if s.try_lease(f"race-{i}", f"p{n}", ttl=60) is not None]
    s.close()
    out.put(won)


def test_lease_race_across_processes_has_one_winner_per_name(store: Store, store_url: str) -> None:  # noqa: F811
    ctx = multiprocessing.get_context("fork")
    q: multiprocessing.Queue = ctx.Queue()
    procs = [ctx.Process(target=_lease_racer, args=(store_url, n, 150, q)) for n in range(3)]
    for p in procs:
        p.start()
    wins = [q.get(timeout=60) for _ in procs]
    for p in procs:
        p.join()
    everything = sorted(i for w in wins for i in w)
    assert everything == list(range(150))  # every name won exactly once


# -- control numbers ----------------------------------------------------------
def _allocator(url: str, n: int, out: multiprocessing.Queue) -> None:
    numbers = StoreControlNumbers(open_store(url), owned=True)
    got = [numbers.next("riverside", "isa13") for _ in range(200)]
    numbers.close()
    out.put(got)


def test_control_numbers_are_unique_across_processes(store: Store, store_url: str) -> None:  # noqa: F811
    ctx = multiprocessing.get_context("fork")
    q: multiprocessing.Queue = ctx.Queue()
    procs = [ctx.Process(target=_allocator, args=(store_url, n, q)) for n in range(4)]
    for p in procs:
        p.start()
    got = [q.get(timeout=60) for _ in procs]
    for p in procs:
        p.join()
    allocated = [x for g in got for x in g]
    assert sorted(allocated) == list(range(1, 801))  # none twice, none skipped
    assert all(g == sorted(g) for g in got)  # each allocator sees them go up
    numbers = StoreControlNumbers(store)
    assert numbers.current("riverside", "isa13") == 800 and numbers.current("lakeside", "isa13") == 0
    assert numbers.next("lakeside", "isa13") == 1


# -- retention ----------------------------------------------------------------
def _processed(store: Store, n: int, status_every: int = 0) -> list[int]:
    store.journal([new(f"MSG-{i}".encode() * 10) for i in range(n)])
    held = store.claim("w", n, 60)
    store.complete("w", [outcome(m.id, f"CLM{m.id}") for m in held])
    return [m.id for m in held]


def test_prune_removes_raw_bytes_and_keeps_the_rest(store: Store, tmp_path: Path) -> None:
    ids = _processed(store, 5)
    store.journal([new(b"STILL-WAITING")])
    assert store.prune(time.time() + 1, ["parsed", "coded"], "cli:ops").ids == []  # status filter
    from gateway.store.retention import Archive

    archive = Archive(tmp_path / "archive")
    done = store.prune(time.time() + 1, ["claimed"], "cli:ops", limit=3, archive=archive)
    archive.close()
    assert done.ids == ids[:3] and done.bytes == 3 * len(b"MSG-0" * 10)
    assert [r["raw"] for r in read_archive(archive.path)] == [f"MSG-{i}".encode() * 10 for i in range(3)]
    assert archive.path.stat().st_mode & 0o077 == 0
    assert store.raw(ids[0]) == b"" and store.raw(ids[4]) == f"MSG-{4}".encode() * 10
    row = store.message(ids[0])
    assert row.status == "claimed" and row.size == 50 and row.sha256  # metadata stays
    assert store.encounters(ids[0])[0]["claims"] == [{"clm01": f"CLM{ids[0]}", "status": "created"}]
    assert [a.action for a in store.audit_trail(ids[0])] == ["received", "processed", "pruned-raw"]
    assert store.reprocess(ids[0], "cli:ops") is False  # nothing left to rebuild from
    (again,) = store.journal([new(b"MSG-0" * 10)])
    assert again.duplicate and again.message_id == ids[0]  # a resend is still recognised
    assert store.prune(time.time() - 3600, ["claimed"], "cli:ops").ids == []  # too recent
    assert store.prune(time.time() + 1, ["claimed"], "cli:ops").ids == ids[3:]
    assert store.message(ids[-1] + 1).status == "received"  # the queue is never pruned


def test_prune_command(tmp_path: Path, store_url: str) -> None:  # noqa: F811
    from gateway.examples import write_example_deployment

    config = write_example_deployment(tmp_path / "deploy")
    s = open_store(store_url)
    _processed(s, 4)
    with s.write() as cur:  # type: ignore[attr-defined]
        cur.execute("UPDATE messages SET processed_at = ?", (time.time() - 40 * 86400,))
    s.close()
    args = ["messages", "prune", "--config", str(config), "--store", store_url, "--older-than", "30"]
    dry = CliRunner().invoke(cli, [*args, "--status", "claimed", "--dry-run"])
    assert dry.exit_code == 0 and "would prune 4 message(s), 200 bytes" in dry.output
    default = CliRunner().invoke(cli, args)  # default stages: parsed, coded, delivered, duplicate
    assert default.exit_code == 0 and "pruned 0 message(s)" in default.output
    real = CliRunner().invoke(cli, [*args, "--status", "claimed", "--archive", str(tmp_path / "arch")])
    assert real.exit_code == 0 and "pruned 4 message(s), 200 bytes, archived to" in real.output
    (path,) = (tmp_path / "arch").iterdir()
    assert len(read_archive(path)) == 4


# -- PostgreSQL: claiming, reconnects, start-up errors ------------------------
def test_skip_locked_claim_does_not_wait_for_a_claim_in_progress(pg_url: str) -> None:  # noqa: F811
    store = open_store(pg_url)
    store.journal([new(f"M{i}".encode()) for i in range(10)])
    with psycopg.connect(pg_url) as other:  # another node mid-claim: rows locked, not yet committed
        other.execute("SELECT id FROM messages ORDER BY id LIMIT 4 FOR UPDATE")
        t = time.monotonic()
        got = store.claim("w", 10, 60)
        assert time.monotonic() - t < 1.0
        assert [m.id for m in got] == list(range(5, 11))
    store.close()


def test_reconnects_after_the_database_drops_every_connection(pg_url: str) -> None:  # noqa: F811
    name = f"gw-reconnect-test-{os.getpid()}"  # only this run's connections (another checkout may test at once)
    url = pg_url + f"&application_name={name}"
    store = open_store(url)
    store.journal([new(b"BEFORE")])
    with admin() as conn:  # what a restart or failover looks like from the client
        n = conn.execute(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s",
            (name,),
        ).fetchone()[0]
    assert n >= 1
    (j,) = store.journal([new(b"AFTER")])  # the broken connection is replaced, the write retried
    assert not j.duplicate
    assert sum(c for *_, c in store.counts()) == 2
    store.close()


def test_unreachable_database_names_where_and_never_the_password() -> None:
    url = "postgresql://gateway:s3cret-pw@127.0.0.1:1/billing"
    with pytest.raises(StoreUnavailable) as err:
        PostgresStore(url, connect_timeout=2)
    text = str(err.value)
    assert "127.0.0.1:1/billing as user gateway" in text and "s3cret-pw" not in text


def test_run_and_operator_commands_say_the_store_is_unreachable(tmp_path: Path) -> None:
    from gateway.examples import write_example_deployment

    config = write_example_deployment(tmp_path / "deploy")
    url = "postgresql://gateway:s3cret-pw@127.0.0.1:1/billing"
    for args in (["run", "--workers", "0"], ["status"]):
        res = CliRunner().invoke(cli, [*args, "--config", str(config), "--store", url])
        assert res.exit_code == 2, res.output
        assert "store error: cannot connect to PostgreSQL at 127.0.0.1:1/billing" in res.output
        assert "s3cret-pw" not in res.output


def test_postgres_store_offers_its_shared_control_numbers(pg_url: str) -> None:  # noqa: F811
    store = open_store(pg_url)
    numbers = store.control_numbers()  # type: ignore[attr-defined]
    assert isinstance(numbers, StoreControlNumbers)
    assert [numbers.next("riverside", "isa13") for _ in range(3)] == [1, 2, 3]
    store.close()


# -- retrying every operation of the interface ---------------------------------
def test_every_operation_of_the_interface_is_retried_none_from_a_hand_kept_list(pg_url: str) -> None:  # noqa: F811
    from gateway.store.retry import RETRIED, RetryingStore

    operations = set(Store.__abstractmethods__) - {"close"}
    assert {"outbox_claim", "outbox_delivered", "cut", "journal", "complete", "next_number"} <= operations
    assert RETRIED == operations
    assert all(getattr(getattr(RetryingStore, name), "retried", False) for name in operations)
    store = open_store(pg_url)
    assert isinstance(store, RetryingStore) and isinstance(store.inner, PostgresStore)
    assert store.dialect == "postgresql"  # backend attributes pass through
    store.close()


def test_outbox_operations_survive_dropped_connections(pg_url: str) -> None:  # noqa: F811
    from gateway.documents import Document
    from gateway.store.outbox import BatchCut

    name = f"gw-outbox-retry-{os.getpid()}"
    url = pg_url + f"&application_name={name}"
    store = open_store(url)

    def drop_connections() -> None:
        with admin() as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                (name,),
            )

    doc = Document("x.x12", b"ISA", "application/edi-x12", "claims", "riverside")
    drop_connections()
    assert store.cut(BatchCut("claims", "claims-out", [doc], [])) == [(1, "x.x12")]
    drop_connections()
    (item,) = store.outbox_claim("node-a", 10, 60)
    drop_connections()
    assert store.outbox_delivered("node-a", item, "sftp://x/x.x12", already_present=False)
    drop_connections()
    assert store.outbox_row(1).status == "delivered"  # type: ignore[union-attr]
    store.close()


def test_retrying_gives_up_after_its_time_with_the_backend_error(tmp_path: Path) -> None:
    import sqlite3

    from gateway.store import SQLiteStore
    from gateway.store.retry import RetryingStore

    inner = SQLiteStore(tmp_path / "gateway.sqlite")
    tries = []

    def retryable(exc: BaseException) -> bool:
        tries.append(exc)
        return isinstance(exc, sqlite3.ProgrammingError)

    store = RetryingStore(inner, retryable=retryable, unavailable=lambda e: StoreUnavailable("gone"), timeout=0.3)
    assert store.outbox_pending() == 0 and tries == []
    inner.close()  # every operation now fails the same way
    t = time.monotonic()
    with pytest.raises(StoreUnavailable, match="gone"):
        store.outbox_pending()
    assert time.monotonic() - t < 2 and len(tries) == 3  # 50 + 100 ms of backoff, the next would pass 0.3 s
    other = RetryingStore(inner, retryable=lambda e: False, unavailable=lambda e: StoreUnavailable("-"), timeout=5)
    with pytest.raises(sqlite3.ProgrammingError):  # not retryable: raised at once
        other.outbox_pending()
