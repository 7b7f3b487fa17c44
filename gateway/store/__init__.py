"""The gateway's durable store: journal, work queue, results, records, audit.

:class:`Store` is the one interface; :func:`open_store` picks the backend
from a URL: a path or ``sqlite:///path`` for the embedded SQLite default
(PostgreSQL, ``postgresql://…``, is the scale-out backend's). Control numbers
stay in :mod:`gateway.control_numbers` (their own small file), reused as is.
"""

from __future__ import annotations

from pathlib import Path

from gateway.store.base import (
    NEEDS_PERSON,
    PROCESSED,
    AuditEntry,
    ClaimedMessage,
    Completed,
    EncounterOutcome,
    Journaled,
    MessageFilter,
    MessageRow,
    NewMessage,
    Outcome,
    Status,
    Store,
)
from gateway.store.sqlite import FILE_NAME, SQLiteStore

__all__ = [
    "FILE_NAME",
    "NEEDS_PERSON",
    "PROCESSED",
    "AuditEntry",
    "ClaimedMessage",
    "Completed",
    "EncounterOutcome",
    "Journaled",
    "MessageFilter",
    "MessageRow",
    "NewMessage",
    "Outcome",
    "SQLiteStore",
    "Status",
    "Store",
    "open_store",
]


def open_store(url: str | Path, base_dir: Path | None = None) -> Store:
    """Open (and migrate) the store at ``url``: a file path or ``sqlite:///path``."""
    text = str(url)
    if text.startswith(("postgresql://", "postgres://")):
        raise NotImplementedError("the PostgreSQL backend is not built yet (issue 10); use SQLite")
    if text.startswith("sqlite:///"):
        text = text[len("sqlite:///") :]
    path = Path(text)
    if base_dir is not None and not path.is_absolute():
        path = base_dir / path
    return SQLiteStore(path)
