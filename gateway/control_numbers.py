"""Persisted control numbers (ISA13, GS06, ST02…).

:class:`SQLiteControlNumbers` (one machine) keeps them in a small SQLite file:
each ``(scope, counter)`` pair is a row whose value only ever goes up.
Allocation is one atomic ``INSERT … ON CONFLICT DO UPDATE … RETURNING``
statement in its own write transaction (WAL, ``synchronous=FULL``), so
several processes allocating at once never receive the same number and a
number handed out is never handed out again, even after a crash. Several
nodes on PostgreSQL use :class:`StoreControlNumbers` instead;
:func:`open_control_numbers` picks the right one from the store URL.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

FILE_NAME = "control-numbers.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS control_numbers (
    scope   TEXT    NOT NULL,
    counter TEXT    NOT NULL,
    value   INTEGER NOT NULL,
    PRIMARY KEY (scope, counter)
)
"""
_NEXT = """
INSERT INTO control_numbers (scope, counter, value) VALUES (?, ?, 1)
ON CONFLICT (scope, counter) DO UPDATE SET value = value + 1
RETURNING value
"""


class SQLiteControlNumbers:
    """Never-reused counters per ``(scope, counter)`` in ``path`` (created 0600
    in a 0700 folder). Safe across threads and processes."""

    def __init__(self, path: Path, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not self.path.exists():
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(_SCHEMA)

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> SQLiteControlNumbers:
        """The deployment's allocator: ``<state_dir>/control-numbers.sqlite``."""
        return cls(Path(state_dir) / FILE_NAME)

    def next(self, scope: str, counter: str) -> int:
        """Allocate the next number of ``counter`` in ``scope`` (first is 1)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                (value,) = self._db.execute(_NEXT, (scope, counter)).fetchone()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return int(value)

    def current(self, scope: str, counter: str) -> int:
        """The last number allocated (0 when none was)."""
        with self._lock:
            row = self._db.execute(
                "SELECT value FROM control_numbers WHERE scope = ? AND counter = ?", (scope, counter)
            ).fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> SQLiteControlNumbers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class StoreControlNumbers:
    """Control numbers from the store's ``control_numbers`` table (migration 3).

    On PostgreSQL every node shares the table: an allocation is one
    ``INSERT … ON CONFLICT DO UPDATE … RETURNING`` whose row lock serialises
    concurrent allocators on any node, committed before the number is handed
    out — never the same ISA13/GS06/ST02 twice, even after a crash."""

    def __init__(self, store: Any, owned: bool = False) -> None:
        self.store = store
        self._owned = owned

    def next(self, scope: str, counter: str) -> int:
        """Allocate the next number of ``counter`` in ``scope`` (first is 1)."""
        return int(self.store.next_number(scope, counter))

    def current(self, scope: str, counter: str) -> int:
        """The last number allocated (0 when none was)."""
        return int(self.store.current_number(scope, counter))

    def close(self) -> None:
        if self._owned:
            self.store.close()


def open_control_numbers(
    state_dir: Path, store_url: str | Path | None = None
) -> SQLiteControlNumbers | StoreControlNumbers:
    """The deployment's allocator: the PostgreSQL store's table when the store
    is PostgreSQL (unique across nodes), else ``<state_dir>/control-numbers.sqlite``
    (one machine; existing counters carry on)."""
    from gateway.store import is_postgres, open_store

    if is_postgres(store_url):
        return StoreControlNumbers(open_store(str(store_url)), owned=True)
    return SQLiteControlNumbers.in_state_dir(state_dir)
