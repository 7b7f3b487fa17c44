"""Migration 21 on both backends: a store of the previous schema (20), raw
bytes in ``messages.raw``, plaintext and sealed, live and pruned, moves them
to ``message_raw``; every reader (claim, ``raw``, reprocess, prune, key
rotation) then finds them there and the ``messages`` rows no longer carry them."""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any

import pytest

from gateway.store import NewMessage, Status, Store, migrations
from gateway.store.codec import Codec, ref
from gateway.store.postgres import PostgresStore
from gateway.store.retention import Archive, read_archive
from gateway.store.rotation import rotate
from gateway.store.sqlite import SQLiteStore
from tests.pg import pg_url, store_url  # noqa: F401  (fixtures)

DFT = b"MSH|^~\\&|X|RIVERSIDE|||20261021||DFT^P03|%d|P|2.5\rPID|1||R%d||TESTPATIENT^TAU\r"


def _open(url: str, codec: Codec, migrate: bool = True) -> Any:
    if "://" in url:
        return PostgresStore(url, migrate=migrate, codec=codec)
    return SQLiteStore(url, migrate=migrate, codec=codec)  # type: ignore[arg-type]


def _columns(store: Any, table: str) -> set[str]:
    with store.read() as cur:
        if store.dialect == "sqlite":
            cur.execute(f"SELECT name FROM pragma_table_info('{table}')")
        else:
            cur.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
                "AND table_name = ?",
                (table,),
            )
        return {r[0] for r in cur.fetchall()}


def _old_message(cur: Any, store: Any, n: int, status: str, pruned: bool = False) -> bytes:
    """A ``messages`` row as schema 20 stored it (its raw bytes in the row)."""
    raw = DFT % (n, n)
    sha = hashlib.sha256(raw).hexdigest()
    stored = b"" if pruned else store.seal("messages.raw", raw, ref("riverside", sha))
    done = None if status == "received" else 2.0
    cur.execute(
        "INSERT INTO messages (scope, sha256, raw, size, source, name, clinic_id, status, received_at, updated_at, "
        "processed_at, raw_pruned_at) VALUES ('riverside', ?, ?, ?, 'folder:in', ?, 'riverside', ?, 1.0, 1.0, ?, ?)",
        (sha, stored, len(raw), f"m{n}.hl7", status, done, 3.0 if pruned else None),
    )
    return raw


@pytest.mark.parametrize("sealed", [False, True], ids=["plaintext", "sealed"])
def test_migration_21_moves_raw_bytes_out_of_the_messages_rows(store_url: str, sealed: bool) -> None:  # noqa: F811
    codec = Codec([("k1", secrets.token_bytes(32))]) if sealed else Codec([])
    old = _open(store_url, codec, migrate=False)
    assert old.migrate(upto=20) == [m.version for m in migrations.MIGRATIONS if m.version <= 20]
    with old.write() as cur:
        waiting = _old_message(cur, old, 1, "received")
        parsed = _old_message(cur, old, 2, "parsed")
        _old_message(cur, old, 3, "parsed", pruned=True)
    old.close()

    store = _open(store_url, codec)  # migrates to the latest schema
    try:
        assert store.schema_version() == migrations.latest() >= 21
        assert "raw" not in _columns(store, "messages") and "raw_pruned_at" in _columns(store, "messages")
        assert _columns(store, "message_raw") == {"message_id", "raw"}
        with store.read() as cur:
            cur.execute("SELECT message_id, raw FROM message_raw ORDER BY message_id")
            rows = [(int(i), bytes(b)) for i, b in cur.fetchall()]
        assert [i for i, _ in rows] == [1, 2]  # the pruned message has no row
        assert all((b != raw) == sealed for (_, b), raw in zip(rows, (waiting, parsed), strict=True))
        assert store.raw(1) == waiting and store.raw(2) == parsed and store.raw(3) == b"" and store.raw(4) is None

        (claimed,) = store.claim("w1", 10, 60.0)
        assert (claimed.id, claimed.raw, claimed.name) == (1, waiting, "m1.hl7")
        assert store.reprocess(3, "test") is False  # pruned before the migration: nothing to reprocess
        assert store.reprocess(2, "test") is True
        (again,) = store.claim("w1", 10, 60.0)
        assert (again.id, again.raw) == (2, parsed)
    finally:
        store.close()


def test_journal_claim_prune_and_rotation_use_message_raw(store_url: str, tmp_path: Any) -> None:  # noqa: F811
    k1, k2 = secrets.token_bytes(32), secrets.token_bytes(32)
    store: Store = _open(store_url, Codec([("k1", k1)]))
    raws = [DFT % (n, n) for n in range(1, 4)]
    try:
        done = store.journal(
            [NewMessage(scope="riverside", sha256=hashlib.sha256(r).hexdigest(), raw=r, source="test",
                        received_at=time.time(), status=Status.RECEIVED if n < 2 else Status.PARSED)
             for n, r in enumerate(raws)]
        )  # fmt: skip
        ids = [j.message_id for j in done]
        assert [c.raw for c in store.claim("w1", 10, 60.0)] == raws[:2]
        archive = Archive(tmp_path / "archive")
        pruned = store.prune(time.time() + 1, ["parsed"], "ops", archive=archive)
        archive.close()
        assert pruned.ids == [ids[2]] and pruned.bytes == len(raws[2])
        assert [r["raw"] for r in read_archive(archive.path)] == [raws[2]]
        assert store.raw(ids[2]) == b"" and store.reprocess(ids[2], "ops") is False
        with store.read() as cur:  # type: ignore[attr-defined]
            cur.execute("SELECT message_id FROM message_raw ORDER BY message_id")
            assert [int(r[0]) for r in cur.fetchall()] == ids[:2]
    finally:
        store.close()
    rotated: Any = _open(store_url, Codec([("k2", k2), ("k1", k1)]))
    try:
        report = rotate(rotated, "ops")
        assert report.tables["messages"].rows == 2 and report.tables["messages"].resealed == 2
        assert [rotated.raw(i) for i in ids] == [raws[0], raws[1], b""]
    finally:
        rotated.close()
