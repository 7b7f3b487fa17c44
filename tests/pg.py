"""PostgreSQL for the tests: every test gets its own schema, created and dropped.

The store tests run against SQLite and PostgreSQL. PostgreSQL is expected at
``GATEWAY_TEST_PG`` (default ``postgresql://postgres@127.0.0.1:5432/test``,
trust auth). When it cannot be reached the tests FAIL with a message saying
so — they are never skipped, so a green run means both backends were tested.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

from gateway.store.postgres import describe

PG_URL = os.environ.get("GATEWAY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgresql"]


def admin() -> psycopg.Connection:
    """An autocommit connection to the test database, or a loud failure."""
    try:
        return psycopg.connect(PG_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {describe(PG_URL)} ({str(exc).strip().splitlines()[-1]}). "
            "The store tests run against SQLite AND PostgreSQL: start PostgreSQL (trust auth, database `test`) "
            "or point GATEWAY_TEST_PG at one, e.g. GATEWAY_TEST_PG=postgresql://postgres@127.0.0.1:5432/test",
            pytrace=False,
        )


def schema_url(schema: str, base: str = PG_URL) -> str:
    """``base`` with ``search_path`` set to ``schema`` (libpq ``options``)."""
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options={quote(f'-csearch_path={schema}')}"


def _drop_orphans(conn: psycopg.Connection, prefix: str) -> None:
    """Drop schemas left by killed test runs on this machine (their pid is gone)."""
    for (name,) in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (f"{prefix}\\_%",)):
        pid = name.split("_")[1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@contextmanager
def pg_schema(prefix: str = "gwtest") -> Iterator[str]:
    """A fresh schema for one test (dropped afterwards); yields its store URL."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    with admin() as conn:
        _drop_orphans(conn, prefix)
        conn.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield schema_url(name)
    finally:
        with admin() as conn:
            conn.execute(f'DROP SCHEMA "{name}" CASCADE')


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL store URL on a schema of its own."""
    with pg_schema() as url:
        yield url


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store URL for each backend: a SQLite file, a PostgreSQL schema."""
    if request.param == "sqlite":
        yield str(tmp_path / "gateway.sqlite")
    else:
        with pg_schema() as url:
            yield url
