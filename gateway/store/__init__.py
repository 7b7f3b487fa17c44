"""The gateway's durable store: journal, work queue, results, records, audit.

:class:`Store` is the one interface; :func:`open_store` picks the backend
from a URL: a path or ``sqlite:///path`` for the embedded SQLite default
or ``postgresql://…`` for several nodes sharing one database
(:mod:`gateway.store.postgres`, every operation retried through
:class:`gateway.store.retry.RetryingStore`). Control numbers are the store's
(:mod:`gateway.control_numbers`).
"""

from __future__ import annotations

from pathlib import Path

from gateway.store.base import (
    IN_PROGRESS,
    NEEDS_PERSON,
    PROCESSED,
    AuditEntry,
    ClaimedMessage,
    Completed,
    EncounterOutcome,
    Journaled,
    Lease,
    MessageFilter,
    MessageReport,
    MessageRow,
    NewMessage,
    Outcome,
    Pruned,
    Status,
    Store,
    StoreUnavailable,
)
from gateway.store.codec import Codec, StoreKeyError, codec_for
from gateway.store.sqlite import FILE_NAME, SQLiteStore

__all__ = [
    "FILE_NAME",
    "IN_PROGRESS",
    "NEEDS_PERSON",
    "PROCESSED",
    "AuditEntry",
    "ClaimedMessage",
    "Codec",
    "Completed",
    "EncounterOutcome",
    "Journaled",
    "Lease",
    "MessageFilter",
    "MessageReport",
    "MessageRow",
    "NewMessage",
    "Outcome",
    "Pruned",
    "SQLiteStore",
    "Status",
    "Store",
    "StoreKeyError",
    "StoreUnavailable",
    "codec_for",
    "is_postgres",
    "open_store",
]


def is_postgres(url: str | Path | None) -> bool:
    """Whether ``url`` names a PostgreSQL store."""
    return str(url or "").startswith(("postgresql://", "postgres://"))


def open_store(
    url: str | Path, base_dir: Path | None = None, state_dir: Path | None = None, codec: Codec | None = None
) -> Store:
    """Open (and migrate) the store at ``url``: a file path, ``sqlite:///path``
    or ``postgresql://user@host:port/database`` (raises
    :class:`gateway.store.postgres.StoreUnavailable` when it cannot be reached).
    ``codec``: encryption at rest (:func:`gateway.store.codec.codec_for`);
    keys that do not match the store raise :class:`StoreKeyError` before
    anything is written.
    With ``state_dir``, control numbers still kept in the deployment's legacy
    ``control-numbers.sqlite`` are carried over (:mod:`gateway.store.legacy`)."""
    text = str(url)
    store: Store
    if is_postgres(text):
        from gateway.store.postgres import PostgresStore, retrying  # psycopg is imported only when used

        store = retrying(PostgresStore(text, codec=codec))
    else:
        if text.startswith("sqlite:///"):
            text = text[len("sqlite:///") :]
        path = Path(text)
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        store = SQLiteStore(path, codec=codec)
    if state_dir is not None:
        from gateway.store.legacy import import_control_numbers

        import_control_numbers(store, state_dir)
    return store
