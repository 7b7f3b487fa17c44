"""PostgreSQL backend: one database shared by several gateway nodes.

The SQL is :mod:`gateway.store.sqlstore`'s, unchanged; every dialect
difference lives in this module:

* placeholders: the shared SQL writes ``?``, psycopg wants ``%s``
  (:func:`pg_sql`, cached per statement);
* claiming adds ``FOR UPDATE SKIP LOCKED`` to the subquery, so concurrent
  claimers on any node skip rows another transaction is taking instead of
  queueing behind it, and never take the same message; completing locks the
  worker's rows (``FOR UPDATE``) before checking it still holds them;
* statements with ``RETURNING`` run per row are sent pipelined
  (``executemany(returning=True)``): a batch's results cost a few round trips;
* reads run in autocommit (no ``BEGIN``/``COMMIT`` round trips);
* migrators are serialised with a transaction-scoped advisory lock keyed on the
  schema (two nodes starting at once);
* column types (``BIGSERIAL``, ``BYTEA``, ``DOUBLE PRECISION``) come from
  :data:`gateway.store.migrations.TYPES`.

Connections come from a :class:`psycopg_pool.ConnectionPool` (threads of one
process share it). A connection broken by a database restart or failover is
dropped by the pool, and the operation is retried on a fresh connection with
backoff for up to ``reconnect_timeout`` seconds: every operation is one
transaction, safe to run again (results are written only while the worker
holds the message; journaling deduplicates). At start the database is tried
once: if it cannot be reached, :class:`StoreUnavailable` names host, port,
database and user — never the password.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool

from gateway.store.base import StoreUnavailable
from gateway.store.sqlstore import SQLStore

__all__ = ["PostgresStore", "StoreUnavailable", "describe", "pg_sql"]

P = ParamSpec("P")
R = TypeVar("R")


@functools.lru_cache(maxsize=512)
def pg_sql(sql: str) -> str:
    """The shared SQL with psycopg placeholders (``?`` → ``%s``, ``%`` → ``%%``)."""
    return sql.replace("%", "%%").replace("?", "%s")


def describe(url: str) -> str:
    """``host:port/database as user`` for messages (the password is never included)."""
    try:
        info = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "an unparsable PostgreSQL URL"
    host = info.get("host") or info.get("hostaddr") or "local socket"
    return f"{host}:{info.get('port') or 5432}/{info.get('dbname') or '?'} as user {info.get('user') or '(default)'}"


def _reason(exc: BaseException, url: str) -> str:
    """The driver's last line, with any password from the URL blanked out."""
    text = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    try:
        password = conninfo_to_dict(url).get("password")
    except psycopg.ProgrammingError:
        password = None
    if password:
        text = text.replace(str(password), "***")
    return re.sub(r"password=\S+", "password=***", text)


class _Cursor:
    """A psycopg cursor that speaks the shared SQL's ``?`` placeholders."""

    __slots__ = ("_cur",)

    def __init__(self, cur: psycopg.Cursor[Any]) -> None:
        self._cur = cur

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> _Cursor:
        if params is None:
            self._cur.execute(sql)  # type: ignore[arg-type]
        else:
            self._cur.execute(pg_sql(sql), params)  # type: ignore[arg-type]
        return self

    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> None:
        self._cur.executemany(pg_sql(sql), params)  # type: ignore[arg-type]

    def fetchone(self) -> Any:
        return self._cur.fetchone()

    def fetchall(self) -> list[Any]:
        return self._cur.fetchall()

    @property
    def rowcount(self) -> int:
        return self._cur.rowcount


def _retrying(method: Callable[P, R]) -> Callable[P, R]:
    """Run ``method`` again on a fresh connection after a lost connection,
    a serialisation failure or a deadlock, until ``reconnect_timeout``."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        store: PostgresStore = args[0]  # type: ignore[assignment]
        deadline = time.monotonic() + store.reconnect_timeout
        delay = 0.05
        while True:
            try:
                return method(*args, **kwargs)
            except psycopg.OperationalError as exc:
                if store.closed or time.monotonic() + delay > deadline:
                    raise StoreUnavailable(
                        f"PostgreSQL at {describe(store.url)} is unavailable: {_reason(exc, store.url)}"
                    ) from exc
                time.sleep(delay)
                delay = min(delay * 2, 1.0)

    return wrapper


#: the store operations that run again after a lost connection (each is one transaction)
RETRIED = (
    "journal", "claim", "renew", "release", "complete", "get", "counts", "oldest_pending", "list_messages", "raw",
    "encounters", "encounter_json", "audit_trail", "reprocess", "add_audit", "claim_count", "latency_histogram",
    "try_lease", "release_lease", "leases", "next_number", "current_number", "schema_version",
)  # fmt: skip


class PostgresStore(SQLStore):
    """The store in a PostgreSQL database (``postgresql://user@host:port/db``;
    ``?options=-csearch_path%3Dname`` selects a schema)."""

    dialect = "postgresql"
    claim_subquery = SQLStore.claim_subquery + " FOR UPDATE SKIP LOCKED"
    lock_rows = " FOR UPDATE"

    def __init__(
        self,
        url: str,
        pool_min: int = 1,
        pool_max: int = 4,
        connect_timeout: float = 5.0,
        reconnect_timeout: float = 30.0,
        migrate: bool = True,
    ) -> None:
        self.url = url
        self.reconnect_timeout = reconnect_timeout
        self.closed = False
        kwargs: dict[str, Any] = {"connect_timeout": max(1, int(connect_timeout)), "autocommit": True}
        try:  # fail fast, and clearly, when the database is not there at start
            psycopg.connect(url, connect_timeout=kwargs["connect_timeout"]).close()
        except psycopg.Error as exc:
            raise StoreUnavailable(f"cannot connect to PostgreSQL at {describe(url)}: {_reason(exc, url)}") from None
        self._pool = ConnectionPool(
            url,
            min_size=pool_min,
            max_size=pool_max,
            kwargs=kwargs,
            timeout=connect_timeout,
            reconnect_timeout=reconnect_timeout,
            name="gateway-store",
            open=True,
        )
        if migrate:
            self.migrate()

    def _lock_schema(self, cur: Any) -> None:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext('gateway.migrate:' || current_schema()))")

    @contextmanager
    def write(self) -> Iterator[Any]:
        with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            yield _Cursor(cur)  # commits on a clean exit, rolls back otherwise

    @contextmanager
    def read(self) -> Iterator[Any]:
        with self._pool.connection() as conn, conn.cursor() as cur:
            yield _Cursor(cur)  # autocommit: one round trip per query, no BEGIN/COMMIT

    def _many_returning(self, cur: Any, sql: str, rows: list[tuple[Any, ...]]) -> list[Any]:
        if not rows:
            return []
        raw = cur._cur
        raw.executemany(pg_sql(sql), rows, returning=True)  # pipelined: one round trip for all
        out = [raw.fetchone()]
        while raw.nextset():
            out.append(raw.fetchone())
        return out

    def control_numbers(self) -> Any:
        """ISA13/GS06/ST02 from this database's ``control_numbers`` table: one
        sequence per scope shared by every node (the delivery batcher asks)."""
        from gateway.control_numbers import StoreControlNumbers

        return StoreControlNumbers(self)

    def close(self) -> None:
        self.closed = True
        self._pool.close()


for _name in RETRIED:
    if hasattr(PostgresStore, _name):
        setattr(PostgresStore, _name, _retrying(getattr(PostgresStore, _name)))
