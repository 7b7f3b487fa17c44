"""Raw messages of ``BLOB_IO_BYTES`` or more go through SQLite's incremental
blob I/O (written into a ``zeroblob``, read into one ``bytes``) instead of a
bound and selected value: the same bytes come back from every reader (claim,
``raw``, reprocess, prune's archive, key rotation), plaintext and sealed, on
both backends, around the threshold. The memory it saves is asserted by
tests/security/test_memory.py (``gateway process`` of 1 MB inputs); here,
SQLite's own allocations while a 4 MB message is journaled and claimed."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.daemon.memdebug import sqlite_counters
from gateway.store import NewMessage, Status
from gateway.store.codec import Codec
from gateway.store.postgres import PostgresStore
from gateway.store.retention import Archive, read_archive
from gateway.store.rotation import rotate
from gateway.store.sqlite import BLOB_IO_BYTES, CACHE_KIB, SQLiteStore
from tests.pg import pg_url, store_url  # noqa: F401  (fixtures)

HEAD = b"MSH|^~\\&|X|RIVERSIDE|||20261021||DFT^P03|%d|P|2.5\rPID|1||R%d||TESTPATIENT^TAU\r"


def _open(url: str, codec: Codec) -> Any:
    if "://" in url:
        return PostgresStore(url, codec=codec)
    return SQLiteStore(url, codec=codec)  # type: ignore[arg-type]


def _raw(n: int, size: int) -> bytes:
    """A message of exactly ``size`` bytes (FT1 segments of varying content)."""
    head = HEAD % (n, n)
    body = b"".join(b"FT1|%d||20261021|20261021|CG|99213^^CPT|%d.00\r" % (i, i % 997) for i in range(size // 30 + 1))
    return (head + body)[:size]


def _new(raw: bytes, status: Status = Status.RECEIVED) -> NewMessage:
    return NewMessage(scope="riverside", sha256=hashlib.sha256(raw).hexdigest(), raw=raw, source="test",
                      received_at=time.time(), status=status)  # fmt: skip


@pytest.mark.parametrize("sealed", [False, True], ids=["plaintext", "sealed"])
def test_raw_bytes_around_the_blob_io_threshold_read_back_the_same(
    store_url: str,  # noqa: F811
    sealed: bool,
    tmp_path: Any,
) -> None:
    k1, k2 = secrets.token_bytes(32), secrets.token_bytes(32)
    codec = Codec([("k1", k1)]) if sealed else Codec([])
    # sealing adds a few bytes: the stored forms straddle the threshold too
    sizes = [200, BLOB_IO_BYTES - 40, BLOB_IO_BYTES - 1, BLOB_IO_BYTES, BLOB_IO_BYTES + 1, 3_000_000]
    raws = [_raw(n, size) for n, size in enumerate(sizes, 1)]
    assert [len(r) for r in raws] == sizes
    store = _open(store_url, codec)
    try:
        ids = [j.message_id for j in store.journal([_new(r) for r in raws])]
        claimed = store.claim("w1", 100, 60.0)
        assert [(c.id, c.raw) for c in claimed] == list(zip(ids, raws, strict=True))
        assert all(type(c.raw) is bytes for c in claimed)
        assert [store.raw(i) for i in ids] == raws
        with store.read() as cur:  # stored as blobs of their stored size (what rotation and backups read)
            cur.execute("SELECT message_id, raw FROM message_raw ORDER BY message_id")
            stored = {int(i): bytes(b) for i, b in cur.fetchall()}
        assert [stored[i] == r for i, r in zip(ids, raws, strict=True)] == [not sealed] * len(raws)
        if sealed:
            assert all(len(stored[i]) > len(r) for i, r in zip(ids, raws, strict=True))
        store.release("w1", ids[:3], failed=True)
        assert sorted((c.id, c.raw) for c in store.claim("w1", 100, 60.0)) == list(zip(ids[:3], raws[:3], strict=True))
        # a resend of the large one is a duplicate, its bytes unchanged
        (again,) = store.journal([_new(raws[-1])])
        assert again.duplicate and again.message_id == ids[-1] and store.raw(ids[-1]) == raws[-1]
    finally:
        store.close()
    if sealed:
        rotated = _open(store_url, Codec([("k2", k2), ("k1", k1)]))
        try:
            report = rotate(rotated, "ops")
            assert report.tables["messages"].resealed == len(raws)
            assert [rotated.raw(i) for i in ids] == raws
        finally:
            rotated.close()
    final = _open(store_url, Codec([("k2", k2), ("k1", k1)]) if sealed else codec)
    try:
        with final.write() as cur:
            cur.execute("UPDATE messages SET status = 'parsed', processed_at = 1.0")
        archive = Archive(tmp_path / "archive")
        pruned = final.prune(time.time() + 1, ["parsed"], "ops", archive=archive)
        archive.close()
        assert pruned.ids == ids and pruned.bytes == sum(sizes)
        assert [r["raw"] for r in read_archive(archive.path)] == raws
    finally:
        final.close()


def _sqlite_memory() -> tuple[Callable[[], int], Callable[[int], int]]:
    """``sqlite3_memory_used`` and ``sqlite3_memory_highwater`` of the SQLite library Python's module uses."""
    counters = sqlite_counters()
    if counters is None:
        pytest.skip("the sqlite3 module's own libsqlite3 cannot be loaded: SQLite's memory counters are not readable")
    return counters


def test_sqlite_never_copies_a_large_raw_message_nor_keeps_it(tmp_path: Path) -> None:
    """Bound, a 4 MB message was copied into the statement and into its
    record (8 MB more at the insert), assembled again when claimed, and stayed
    bound to the cached INSERT after the commit (4 MB for the rest of the run).
    Through blob I/O SQLite holds at most its page cache (``CACHE_KIB``)."""
    used, highwater = _sqlite_memory()
    store = SQLiteStore(tmp_path / "gateway.sqlite")
    try:
        raw = _raw(1, 4_000_000)
        store.journal([_new(_raw(2, 1_000), Status.PARSED)])  # the statements prepared, the schema read
        before = used()
        assert before > 0  # this library is the one in use
        highwater(1)
        (j,) = store.journal([_new(raw)])
        journaled, journal_peak = used() - before, highwater(1) - before
        (claimed,) = store.claim("w1", 10, 60.0)
        claim_peak = highwater(1) - before
        assert claimed.id == j.message_id and claimed.raw == raw
        limit = CACHE_KIB * 1024 + 600_000  # the page cache and some slack: not the input (4 MB)
        assert journaled < limit, f"SQLite kept {journaled} bytes after journaling a 4 MB message"
        assert journal_peak < limit and claim_peak < limit, (journal_peak, claim_peak)
    finally:
        store.close()
