"""What every part of the SQL store shares: the transactions a backend
provides, compact JSON, and the writes several operations make — audit rows,
claim/statement events, and a message's status derived from its items."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from gateway.money import CENT
from gateway.store.codec import PLAIN, Codec, StoreKeyError, key_id_of
from gateway.store.submissions import Kind, message_status


def money_text(value: Decimal) -> str:
    """An amount as the store keeps it: text with two decimals. Most amounts
    have at most two already: their text gets the zeros it lacks
    (``quantize``, which the others take, is several times dearer)."""
    text = str(value)
    dot = text.find(".")
    if dot < 0:
        if "E" not in text:
            return text + ".00"
    elif dot == len(text) - 3:  # (scientific text never has "." there)
        return text
    elif dot == len(text) - 2 and "E" not in text:
        return text + "0"
    return str(value.quantize(CENT))


def _json_default(o: Any) -> Any:
    if hasattr(o, "model_dump"):
        return o.model_dump(mode="json", exclude_none=True)
    if hasattr(o, "isoformat"):
        return o.isoformat()
    return str(o)


#: one encoder for every call (``json.dumps`` with options builds one per call)
_ENCODER = json.JSONEncoder(separators=(",", ":"), default=_json_default)


def to_json(value: Any) -> str:
    """Compact JSON; pydantic models and dates are dumped in JSON mode."""
    return _ENCODER.encode(value)


def lane_clause(lane: str | None, column: str = "lane") -> tuple[str, tuple[Any, ...]]:
    """``column IS NULL`` (the daemon's work) or ``column = ?`` and its parameter."""
    return (f"{column} IS NULL", ()) if lane is None else (f"{column} = ?", (lane,))


def chunks(ids: Sequence[Any], size: int = 500) -> list[Sequence[Any]]:
    """``ids`` in slices of ``size`` (bounded ``IN (…)`` lists)."""
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def marks(n: int) -> str:
    return ", ".join("?" * n)


#: what the check value of a key seals (store_keys)
_CHECK = b"billing-gateway store key check"
#: message statuses that follow from the message's claims and statements
_SETTLEABLE = frozenset({"claimed", "batched", "delivered", "quarantined", "duplicate"})
#: (row, event kind, new status or None, source, actor, detail)
Event = tuple[int, str, str | None, str | None, str, dict[str, Any]]


class SQLBase:
    """Transactions (a backend provides ``read``/``write``) and shared writes."""

    dialect: str
    #: seals and opens every column that can hold patient data (:mod:`gateway.store.codec`)
    codec: Codec = PLAIN

    def seal(self, purpose: str, value: Any, row: str = "") -> Any:
        """``value`` (bytes or text) as the column ``purpose`` (``table.column``)
        stores it: sealed under the current key when encryption is on. ``row``:
        the row's natural key (:func:`gateway.store.codec.ref`)."""
        return self.codec.seal(purpose, value, row)

    def open(self, purpose: str, value: Any, row: str = "") -> Any:
        """The plaintext of a value read from column ``purpose`` (None stays None)."""
        return None if value is None else self.codec.open(purpose, value, row)

    def _check_keys(self) -> None:
        """Refuse to run with keys that do not match the store, before anything
        is written: every configured key that sealed rows here must open its
        check value, and every key that sealed rows still in use must be
        configured. Then the current key is registered (``store_keys``)."""
        with self.read() as cur:
            cur.execute("SELECT key_id, check_value FROM store_keys WHERE retired_at IS NULL ORDER BY created_at")
            live = [(k, v) for k, v in cur.fetchall()]
        for kid, check in live:
            if kid not in self.codec.key_ids:
                raise StoreKeyError(
                    f"rows of this store (table store_keys) are sealed with key '{kid}', which is not configured: "
                    + ("set store.encryption" if not self.codec.enabled else "add it to store.encryption.previous_keys")
                    + " (or run `gateway store rotate-key` while it is still configured)"
                )
            try:
                ok = key_id_of(check) == kid and self.codec.open("store_keys.check", check, kid) == _CHECK
            except StoreKeyError:
                ok = False
            if not ok:
                raise StoreKeyError(
                    f"store.encryption key '{kid}' is not the key that sealed this store's rows (its check value in "
                    "table store_keys does not open): wrong key? Nothing was read or changed"
                )
        if self.codec.current is not None and self.codec.current not in {k for k, _ in live}:
            import time

            with self.write() as cur:  # a retired id may be used again, for a new key
                cur.execute(
                    "INSERT INTO store_keys (key_id, check_value, created_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (key_id) DO UPDATE SET retired_at = NULL, check_value = excluded.check_value, "
                    "created_at = excluded.created_at WHERE store_keys.retired_at IS NOT NULL",
                    (self.codec.current, self.codec.seal("store_keys.check", _CHECK, self.codec.current), time.time()),
                )
            self._check_keys()  # another node may have registered the same id first, with its key

    @contextmanager
    def write(self) -> Iterator[Any]:  # pragma: no cover - a backend provides it
        """A cursor in a write transaction (committed on a clean exit)."""
        raise NotImplementedError
        yield

    @contextmanager
    def read(self) -> Iterator[Any]:  # pragma: no cover - a backend provides it
        """A cursor for reads."""
        raise NotImplementedError
        yield

    def _audit(self, cur: Any, message_id: int | None, actor: str, action: str, detail: dict[str, Any]) -> None:
        import time

        cur.execute(
            "INSERT INTO audit (message_id, at, actor, action, detail) VALUES (?, ?, ?, ?, ?)",
            (message_id, time.time(), actor, action, to_json(detail)),
        )

    def _events(self, cur: Any, kind: Kind, events: Iterable[Event], at: float) -> None:
        """Append events to the claims' (statements') timelines."""
        table, column = ("claim_events", "claim_row") if kind == "claims" else ("statement_events", "statement_row")
        cur.executemany(
            f"INSERT INTO {table} ({column}, at, kind, status, source, actor, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(row, at, k, status, source, actor, to_json(detail)) for row, k, status, source, actor, detail in events],
        )

    def _settle_messages(
        self, cur: Any, message_ids: Sequence[int], actor: str, now: float, detail: dict[str, Any] | None = None
    ) -> None:
        """Bring each message's status in line with its claims, statements and
        encounters (:func:`gateway.store.submissions.message_status`), audited
        with the new status as the action."""
        for part in chunks(sorted(set(message_ids))):
            m = marks(len(part))
            cur.execute(f"SELECT id, status FROM messages WHERE id IN ({m})", part)
            current = {int(i): s for i, s in cur.fetchall()}
            cur.execute(
                f"SELECT DISTINCT message_id, status FROM claims WHERE message_id IN ({m}) "
                f"UNION SELECT DISTINCT message_id, status FROM statements WHERE message_id IN ({m})",
                (*part, *part),
            )
            items: dict[int, set[str]] = {}
            for mid, status in cur.fetchall():
                items.setdefault(int(mid), set()).add(status)
            cur.execute(f"SELECT DISTINCT message_id, status FROM encounters WHERE message_id IN ({m})", part)
            encounters: dict[int, list[str]] = {}
            for mid, status in cur.fetchall():
                encounters.setdefault(int(mid), []).append(status)
            changes = []
            for mid in part:
                old = current.get(mid)
                if old not in _SETTLEABLE or mid not in items:
                    continue
                new = message_status(items[mid], encounters.get(mid, []))
                if new != old:
                    changes.append((new, now, mid, old))
            if changes:
                cur.executemany("UPDATE messages SET status = ?, updated_at = ? WHERE id = ? AND status = ?", changes)
                cur.executemany(
                    "INSERT INTO audit (message_id, at, actor, action, detail) VALUES (?, ?, ?, ?, ?)",
                    [(mid, now, actor, new, to_json(detail or {})) for new, _, mid, _ in changes],
                )
