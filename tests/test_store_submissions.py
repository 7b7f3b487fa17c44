"""Claim identity in the store, on both backends: the migration from one row
per (clinic, CLM01) to submissions keyed by (clinic, CLM01, payer place,
version), keeping existing data."""

from __future__ import annotations

import json

import pytest

from gateway.store import Store, migrations, open_store
from gateway.store.postgres import PostgresStore
from gateway.store.sqlite import SQLiteStore
from tests.pg import store_url  # noqa: F401  (fixture: one URL per backend)


def _at_version_4(url: str) -> Store:
    store = PostgresStore(url, migrate=False) if "://" in url else SQLiteStore(url, migrate=False)  # type: ignore[arg-type]
    assert store.migrate(upto=4) == [1, 2, 3, 4]
    return store


def test_migration_5_keeps_claims_statements_and_outbox_links(store_url: str) -> None:  # noqa: F811
    old = _at_version_4(store_url)
    claim = json.dumps({"id": "V1", "coverage": {"order": 2}})
    with old.write() as cur:  # type: ignore[attr-defined]
        cur.execute(
            "INSERT INTO messages (scope, sha256, raw, size, source, status, received_at, updated_at) "
            "VALUES ('riverside', 'h1', ?, 1, 'test', 'batched', 1.0, 1.0)",
            (b"x",),
        )
        cur.execute(
            "INSERT INTO encounters (message_id, idx, clinic_id, status, encounter, findings, created_at) "
            "VALUES (1, 0, 'riverside', 'claimed', '{}', '[]', 1.0)"
        )
        cur.execute(
            "INSERT INTO outbox (destination, kind, clinic_id, name, media_type, content, sha256, size, status, "
            "next_attempt, created_at, updated_at) VALUES ('claims-out', 'claims', 'riverside', 'a.x12', 'x', ?, 's', "
            "1, 'pending', 1.0, 1.0, 1.0)",
            (b"ISA",),
        )
        for clm01, status, outbox in (("V1", "batched", 1), ("V2", "claimed", None)):
            cur.execute(
                "INSERT INTO claims (clinic_id, clm01, encounter_row, message_id, payer_id, total_charge, status, "
                "claim, created_at, updated_at, outbox_id) VALUES ('riverside', ?, 1, 1, 'P', '10.00', ?, ?, 2.0, "
                "2.0, ?)",
                (clm01, status, claim if clm01 == "V1" else json.dumps({"id": clm01}), outbox),
            )
        cur.execute(
            "INSERT INTO statements (clinic_id, statement_id, encounter_row, message_id, status, statement, "
            "created_at) VALUES ('riverside', 'S1', 1, 1, 'claimed', '{}', 3.0)"
        )
    assert old.migrate() == [5, 6]  # type: ignore[attr-defined]
    with old.read() as cur:  # type: ignore[attr-defined]
        cur.execute("SELECT id, clm01, payer_seq, version, frequency_code, status, outbox_id FROM claims ORDER BY id")
        assert [tuple(r) for r in cur.fetchall()] == [
            (1, "V1", 2, 1, "1", "batched", 1),
            (2, "V2", 1, 1, "1", "created", None),
        ]
        cur.execute("SELECT statement_id, version, status, updated_at FROM statements")
        assert [tuple(r) for r in cur.fetchall()] == [("S1", 1, "created", 3.0)]
        cur.execute("SELECT claim_row, kind, status, source FROM claim_events ORDER BY claim_row")
        assert [tuple(r) for r in cur.fetchall()] == [
            (1, "created", "batched", "message:1"),
            (2, "created", "created", "message:1"),
        ]
    with old.write() as cur:  # type: ignore[attr-defined]  # the key now has room for later versions
        cur.execute(
            "INSERT INTO claims (clinic_id, clm01, payer_seq, version, frequency_code, encounter_row, message_id, "
            "total_charge, status, claim, created_at, updated_at) VALUES ('riverside', 'V2', 1, 2, '7', 1, 1, '1', "
            "'held', '{}', 4.0, 4.0)"
        )
    with pytest.raises(Exception, match=r"(?i)unique"), old.write() as cur:  # type: ignore[attr-defined]
        cur.execute(
            "INSERT INTO claims (clinic_id, clm01, payer_seq, version, frequency_code, encounter_row, message_id, "
            "total_charge, status, claim, created_at, updated_at) VALUES ('riverside', 'V2', 1, 2, '7', 1, 1, '1', "
            "'held', '{}', 4.0, 4.0)"
        )
    old.close()
    reopened = open_store(store_url)
    assert reopened.schema_version() == migrations.latest()  # type: ignore[attr-defined]
    reopened.close()
