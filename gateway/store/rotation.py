"""``gateway store rotate-key``: re-seal every sealed column under the current key.

Rows are taken in id order, a batch per transaction: a value sealed with an
older key, or stored in plaintext (written before encryption was switched on),
is opened and sealed again under the current key; a value already under it is
left alone. An update only applies when the value is still the one read, so a
row changed meanwhile is looked at again in another pass. Killing the command
loses at most the batch in flight (rolled back); running it again carries on
(what is done is skipped). When a pass finds nothing left to re-seal, every
other key is marked retired in ``store_keys``: from then on it need not be
configured.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.store.codec import HASHED_TEXT, StoreKeyError, key_id_of, ref


@dataclass(frozen=True)
class Sealed:
    """A table with sealed columns: ``purpose`` is ``name.column``; ``row_key``
    the columns of the associated data (:func:`gateway.store.codec.ref`), read
    from ``parent`` (joined on its ``id`` = this table's ``key``) when given."""

    name: str
    columns: tuple[str, ...]
    row_key: tuple[str, ...]
    table: str = ""
    key: str = "id"
    parent: str | None = None

    @property
    def stored_in(self) -> str:
        return self.table or self.name


#: every table with sealed columns and an id (records are keyed by a hash: see :func:`_records`);
#: a message's raw bytes live in ``message_raw`` (migration 21) under the purpose ``messages.raw``
ROTATIONS: list[Sealed] = [
    Sealed("messages", ("raw",), ("scope", "sha256"), table="message_raw", key="message_id", parent="messages"),
    Sealed("encounters", ("encounter",), ("message_id", "idx")),
    Sealed("claims", ("claim", "rendered"), ("clinic_id", "clm01", "payer_seq", "version")),
    Sealed("statements", ("statement",), ("clinic_id", "statement_id", "version")),
    Sealed("outbox", ("content", "headers"), ("destination", "name")),
]


@dataclass
class Counts:
    rows: int = 0
    resealed: int = 0
    current: int = 0


@dataclass
class Rotation:
    """What a run did, per table."""

    key_id: str
    tables: dict[str, Counts] = field(default_factory=dict)
    retired: list[str] = field(default_factory=list)
    passes: int = 0


def rotate(store: Any, actor: str, batch: int = 200, progress: Callable[[str, Counts], None] | None = None) -> Rotation:
    """Re-seal every row of ``store`` (a SQL store with encryption on) under its
    current key; audited ``store-rotate-key`` with the counts."""
    codec = store.codec
    if not codec.enabled:
        raise StoreKeyError("store.encryption is not configured: there is no key to rotate to")
    out = Rotation(codec.current)
    store.add_audit(None, actor, "store-rotate-key-started", {"key_id": codec.current})
    while True:
        out.passes += 1
        raced = 0
        for spec in ROTATIONS:
            counts = out.tables.setdefault(spec.name, Counts())
            raced += _table(store, spec, counts, batch, progress, first=out.passes == 1)
        counts = out.tables.setdefault("records", Counts())
        raced += _records(store, counts, batch, progress, first=out.passes == 1)
        if not raced:
            break
    with store.write() as cur:
        cur.execute("SELECT key_id FROM store_keys WHERE key_id <> ? AND retired_at IS NULL", (codec.current,))
        out.retired = sorted(r[0] for r in cur.fetchall())
        cur.execute("UPDATE store_keys SET retired_at = ? WHERE key_id <> ? AND retired_at IS NULL",
                    (time.time(), codec.current))  # fmt: skip
        detail = {"key_id": codec.current, "retired": out.retired, "passes": out.passes,
                  "tables": {t: vars(c) for t, c in out.tables.items()}}  # fmt: skip
        store._audit(cur, None, actor, "store-rotate-key", detail)
    if store.dialect == "sqlite":  # the re-sealed pages into the file, the WAL emptied
        with store.read() as cur:
            cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return out


def _needs(value: Any, current: str) -> bool:
    """A stored value not sealed under ``current`` (empty values stay empty)."""
    return value is not None and len(value) > 0 and key_id_of(value) != current


def _table(store: Any, spec: Sealed, counts: Counts, batch: int, progress: Any, first: bool) -> int:
    """One pass over ``spec``'s rows; how many changed under it meanwhile."""
    current = store.codec.current
    keyed = "p" if spec.parent else "t"
    cols = ", ".join((*(f"t.{c}" for c in spec.columns), *(f"{keyed}.{c}" for c in spec.row_key)))
    join = f" JOIN {spec.parent} p ON p.id = t.{spec.key}" if spec.parent else ""
    last, raced = 0, 0
    while True:
        with store.write() as cur:
            cur.execute(
                f"SELECT t.{spec.key}, {cols} FROM {spec.stored_in} t{join} WHERE t.{spec.key} > ? "
                f"ORDER BY t.{spec.key} LIMIT ?",
                (last, batch),
            )
            rows = cur.fetchall()
            if not rows:
                break
            for row in rows:
                last = int(row[0])
                values = row[1 : 1 + len(spec.columns)]
                where = ref(*row[1 + len(spec.columns) :])
                todo = [(c, v) for c, v in zip(spec.columns, values, strict=True) if _needs(v, current)]
                if first:
                    counts.rows += 1
                if not todo:
                    counts.current += 1 if first else 0
                    continue
                sets, args, checks = [], [], []
                for column, value in todo:
                    purpose = f"{spec.name}.{column}"
                    sets.append(f"{column} = ?")
                    args.append(store.seal(purpose, store.open(purpose, value, where), where))
                    checks.append(value)
                cur.execute(
                    f"UPDATE {spec.stored_in} SET {', '.join(sets)} WHERE {spec.key} = ? "
                    + "".join(f" AND {c} = ?" for c, _ in todo),
                    (*args, last, *checks),
                )
                if cur.rowcount == 1:
                    counts.resealed += 1
                else:
                    raced += 1
        if progress is not None:
            progress(spec.name, counts)
    return raced


def _records(store: Any, counts: Counts, batch: int, progress: Any, first: bool) -> int:
    """Records whose key is not hashed under the current key: each is read
    (its key comes out of the sealed value), written under the current key,
    and the old row removed (of two rows for one key the newer value wins)."""
    prefix = f"{HASHED_TEXT}{store.codec.current}:"
    raced = 0
    after: tuple[str, str, str] = ("", "", "")
    if first:
        with store.read() as cur:
            cur.execute("SELECT COUNT(*) FROM records")
            counts.rows = int(cur.fetchone()[0])
    while True:
        with store.write() as cur:
            cur.execute(
                "SELECT clinic_id, kind, key, value, message_id, updated_at FROM records "
                f"WHERE substr(key, 1, {len(prefix)}) <> ? AND (clinic_id, kind, key) > (?, ?, ?) "
                "ORDER BY clinic_id, kind, key LIMIT ?",
                (prefix, *after, batch),
            )
            rows = cur.fetchall()
            if not rows:
                break
            for clinic, kind, old_key, old_value, message_id, updated in rows:
                after = (clinic, kind, old_key)
                key, value = store._record_opened(clinic, kind, old_key, old_value)
                new_key, new_value = store._record_sealed(clinic, kind, key, value)
                cur.execute(
                    "SELECT updated_at FROM records WHERE clinic_id = ? AND kind = ? AND key = ?",
                    (clinic, kind, new_key),
                )
                there = cur.fetchone()
                if there is None:
                    cur.execute(
                        "UPDATE records SET key = ?, value = ? WHERE clinic_id = ? AND kind = ? AND key = ? "
                        "AND value = ?",
                        (new_key, new_value, clinic, kind, old_key, old_value),
                    )
                    if cur.rowcount != 1:
                        raced += 1
                        continue
                else:
                    if float(there[0]) < float(updated):  # the older row holds the newer value
                        cur.execute(
                            "UPDATE records SET value = ?, message_id = ?, updated_at = ? "
                            "WHERE clinic_id = ? AND kind = ? AND key = ?",
                            (new_value, message_id, updated, clinic, kind, new_key),
                        )
                    cur.execute(
                        "DELETE FROM records WHERE clinic_id = ? AND kind = ? AND key = ?", (clinic, kind, old_key)
                    )
                counts.resealed += 1
        if progress is not None:
            progress("records", counts)
    if first:
        counts.current = counts.rows - counts.resealed
    return raced
