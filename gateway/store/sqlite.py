"""SQLite backend: the embedded default (one file in the state folder).

WAL journal, ``synchronous=FULL`` (a commit is on disk when it returns), and
``BEGIN IMMEDIATE`` for every write so writers queue on SQLite's lock instead
of failing half-way; the busy timeout makes them wait. Several processes on
one machine share the file safely; claiming is one ``UPDATE … WHERE id IN
(SELECT … LIMIT n) RETURNING`` under the write lock, so two workers never get
the same message. Open one :class:`SQLiteStore` per thread or process.

Raw messages of :data:`BLOB_IO_BYTES` or more are written and read with
SQLite's incremental blob I/O: a bound value is copied by SQLite (and into
its record) and stays bound to the cached statement until the next message
(a whole copy of the largest input alive for the rest of the run), and a
selected one is assembled by SQLite before Python copies it. Written into a
``zeroblob`` and read into one ``bytes``, the input is never copied by SQLite.

The page cache is :data:`CACHE_KIB` per connection, not SQLite's 2 MB: the
pages a large input's raw bytes and results pass through filled it, a fixed
2 MB over the idle process (twice a 1 MB input's budget in the memory goal,
docs/security.md "Memory") that bought no measurable speed (the file is in the
OS cache; ``gateway process`` of 4,000 DFT^P03: the same CPU per message).
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gateway.store.codec import Codec
from gateway.store.sql_submissions import INSERT_COLUMNS
from gateway.store.sqlbase import chunks, marks
from gateway.store.sqlstore import ENCOUNTER_COLUMNS, SQLStore
from gateway.store.submissions import Kind

FILE_NAME = "gateway.sqlite"
#: the page cache of each connection, KiB (SQLite's default: 2,000)
CACHE_KIB = 512
#: raw messages this long or longer go through incremental blob I/O (smaller ones are bound: one statement)
BLOB_IO_BYTES = 64 * 1024


class SQLiteStore(SQLStore):
    dialect = "sqlite"

    def __init__(self, path: Path, timeout: float = 60.0, migrate: bool = True, codec: Codec | None = None) -> None:
        self.path = Path(path)
        if codec is not None:
            self.codec = codec
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not self.path.exists():
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)
        self._db.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = FULL")
        self._db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        if self.codec.enabled:  # freed pages are zeroed: no plaintext of rows re-sealed or deleted stays in the file
            self._db.execute("PRAGMA secure_delete = ON")
        if migrate:
            self.migrate()
            try:
                self._check_keys()
            except BaseException:
                self._db.close()
                raise

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> SQLiteStore:
        return cls(Path(state_dir) / FILE_NAME)

    @contextmanager
    def write(self) -> Iterator[Any]:
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            else:
                cur.execute("COMMIT")
            finally:
                cur.close()

    @contextmanager
    def read(self) -> Iterator[Any]:
        with self._lock:
            cur = self._db.cursor()
            try:
                yield cur
            finally:
                cur.close()

    # -- bulk inserts: one executemany, ids from the rowids SQLite assigns -----
    # Under the write lock a row without an explicit id gets MAX(id) + 1, so the
    # rows of one executemany get consecutive ids after the MAX read before it.
    def _bulk(self, cur: Any, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> list[int]:
        """``rows`` are made as executemany reads them: one row's values at a time."""
        rest = iter(rows)
        head = next(rest, None)
        if head is None:
            return []
        cur.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")
        first = int(cur.fetchone()[0]) + 1
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        cur.executemany(sql, itertools.chain((head,), rest))
        return list(range(first, first + cur.rowcount))

    # -- raw bytes: large ones through blob I/O, never copied by SQLite ---------
    def _insert_raw(self, cur: Any, message_id: int, stored: bytes) -> None:
        if len(stored) < BLOB_IO_BYTES:
            super()._insert_raw(cur, message_id, stored)
            return
        cur.execute("INSERT INTO message_raw (message_id, raw) VALUES (?, zeroblob(?))", (message_id, len(stored)))
        with self._db.blobopen("message_raw", "raw", message_id, readonly=False) as blob:
            blob.write(stored)

    def _raw_of(self, cur: Any, ids: list[int]) -> dict[int, Any]:
        """Small raw bytes selected (``length()`` reads no overflow page), large ones read into one ``bytes``."""
        out: dict[int, Any] = {}
        for part in chunks(ids):
            cur.execute(
                f"SELECT message_id, CASE WHEN length(raw) < {BLOB_IO_BYTES} THEN raw END FROM message_raw "
                f"WHERE message_id IN ({marks(len(part))})",
                part,
            )
            for i, small in cur.fetchall():
                if small is None:  # NOT NULL: a large one
                    with self._db.blobopen("message_raw", "raw", i) as blob:
                        small = blob.read()
                out[int(i)] = small
        return out

    def _insert_encounters(self, cur: Any, rows: Iterable[tuple[Any, ...]]) -> list[int]:
        return self._bulk(cur, "encounters", ENCOUNTER_COLUMNS, rows)

    def _insert_items(self, cur: Any, kind: Kind, rows: Iterable[tuple[Any, ...]]) -> list[int]:
        return self._bulk(cur, kind, INSERT_COLUMNS[kind], rows)

    def close(self) -> None:
        with self._lock:
            self._db.close()
