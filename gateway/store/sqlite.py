"""SQLite backend: the embedded default (one file in the state folder).

WAL journal, ``synchronous=FULL`` (a commit is on disk when it returns), and
``BEGIN IMMEDIATE`` for every write so writers queue on SQLite's lock instead
of failing half-way; the busy timeout makes them wait. Several processes on
one machine share the file safely; claiming is one ``UPDATE … WHERE id IN
(SELECT … LIMIT n) RETURNING`` under the write lock, so two workers never get
the same message. Open one :class:`SQLiteStore` per thread or process.
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
from gateway.store.sqlstore import ENCOUNTER_COLUMNS, SQLStore
from gateway.store.submissions import Kind

FILE_NAME = "gateway.sqlite"


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

    def _insert_encounters(self, cur: Any, rows: Iterable[tuple[Any, ...]]) -> list[int]:
        return self._bulk(cur, "encounters", ENCOUNTER_COLUMNS, rows)

    def _insert_items(self, cur: Any, kind: Kind, rows: Iterable[tuple[Any, ...]]) -> list[int]:
        return self._bulk(cur, kind, INSERT_COLUMNS[kind], rows)

    def close(self) -> None:
        with self._lock:
            self._db.close()
