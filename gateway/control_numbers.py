"""Persisted control numbers (ISA13, GS06, ST02…) in a small SQLite file.

Implements :class:`gateway.documents.ControlNumbers` until the daemon's store
lands: each ``(scope, counter)`` pair is a row whose value only ever goes up.
Allocation is one atomic ``INSERT … ON CONFLICT DO UPDATE … RETURNING``
statement in its own write transaction (WAL, ``synchronous=FULL``), so
several processes allocating at once never receive the same number and a
number handed out is never handed out again, even after a crash.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

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
