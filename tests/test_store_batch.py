"""A worker's batch completed in one go (set-based on PostgreSQL, row by row
on SQLite): the same results on both backends — lost leases, claims and
statements first-wins, records last-wins, message fields and audit."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.messages import RecordUpdate
from gateway.store import EncounterOutcome, Outcome, Status, Store, open_store
from gateway.store.submissions import NewStatement, content_digest
from tests.pg import store_url  # noqa: F401  (fixture: one URL per backend)
from tests.test_store import claim_item, new


def statement_item(statement_id: str, body: str) -> NewStatement:
    text = json.dumps({"id": statement_id, "body": body})
    return NewStatement(statement_id, text, content_digest("statements", text))


@pytest.fixture
def store(store_url: str) -> Store:  # noqa: F811
    s = open_store(store_url)
    yield s
    s.close()


def result(mid: int, clm01: str, body: str, statement: str | None = None, mrn_value: Any = None) -> Outcome:
    enc = EncounterOutcome(
        idx=0,
        clinic_id="riverside",
        visit=f"V{mid}",
        status=Status.CLAIMED,
        encounter=json.dumps({"visit": f"V{mid}", "note": 'quotes " and \\ backslashes'}),
        findings=[{"severity": "info", "rule": "T-1", "message": "m", "plugin": "t"}],
        claims=[claim_item(clm01, {"id": clm01, "body": body})],
        statements=[statement_item(statement, body)] if statement else [],
    )
    return Outcome(
        message_id=mid,
        status=Status.CLAIMED,
        findings=[{"severity": "warning", "rule": "T-2", "message": "w", "plugin": "t"}],
        clinic_id="riverside",
        format="canonical-json",
        sender=None,  # unknown: the journaled value stays
        control_id=f"C{mid}",
        message_type="ENC",
        encounters=[enc],
        updates=[RecordUpdate("patient", "MRN1", mrn_value)] if mrn_value is not None else [],
    )


def column(store: Store, sql: str, *params: Any) -> list[Any]:
    with store.read() as cur:  # type: ignore[attr-defined]
        cur.execute(sql, params)
        return [r[0] for r in cur.fetchall()]


def test_batch_writes_only_held_messages_first_claim_and_last_record_win(store: Store) -> None:
    store.journal([new(f"M{i}".encode()) for i in range(5)])
    a, b, c, d, e = store.claim("w", 5, 60)
    store.release("w", [c.id])  # c's lease is lost: its result must not be written
    done = store.complete(
        "w",
        [
            result(a.id, "CLM1", "first", statement="S1", mrn_value={"v": 1}),
            result(b.id, "CLM1", "first", statement="S1", mrn_value={"v": 2}),  # identical: a resend
            result(c.id, "CLM3", "lost", mrn_value={"v": 3}),
            result(d.id, "CLM4", "fourth"),
            result(e.id, "CLM1", "changed", statement="S1"),  # changed content: held for an operator
        ],
    )
    assert [(x.message_id, x.claims, x.duplicate_claims, x.held_claims) for x in done] == [
        (a.id, 1, 0, 0), (b.id, 0, 1, 0), (d.id, 1, 0, 0), (e.id, 0, 0, 1),
    ]  # fmt: skip
    assert column(store, "SELECT claim FROM claims WHERE clm01 = 'CLM1' ORDER BY version") == [
        json.dumps({"id": "CLM1", "body": "first"}),
        json.dumps({"id": "CLM1", "body": "changed"}),
    ]
    assert column(store, "SELECT status FROM claims WHERE clm01 = 'CLM1' ORDER BY version") == ["created", "held"]
    assert column(store, "SELECT message_id FROM statements WHERE statement_id = 'S1' ORDER BY version") == [a.id, e.id]
    assert column(store, "SELECT COUNT(*) FROM claims WHERE clm01 = 'CLM3'") == [0]
    assert store.get("riverside", "patient", "MRN1") == {"v": 2}  # the later message of the batch wins
    assert store.encounters(c.id) == []
    assert [x["status"] for x in store.encounters(b.id)] == ["duplicate"]
    assert [x["status"] for x in store.encounters(e.id)] == ["quarantined"]
    assert (store.message(b.id).status, store.message(e.id).status) == ("duplicate", "quarantined")  # type: ignore[union-attr]
    assert store.encounter_json(a.id, 0) == {
        "visit": f"V{a.id}",
        "note": 'quotes " and \\ backslashes',
    }
    row = store.message(a.id)
    assert row is not None
    assert (row.status, row.format, row.sender, row.control_id, row.message_type, row.claimed_by) == (
        "claimed", "canonical-json", None, f"C{a.id}", "ENC", None,
    )  # fmt: skip
    assert row.findings == [{"severity": "warning", "rule": "T-2", "message": "w", "plugin": "t"}]
    lost = store.message(c.id)
    assert lost is not None and lost.status == "received" and lost.processed_at is None
    assert [t.action for t in store.audit_trail(a.id)] == ["received", "processed"]
    assert [t.detail for t in store.audit_trail(d.id)][-1] == {"status": "claimed"}
    assert [t.action for t in store.audit_trail(c.id)] == ["received"]
    # completing again (a retried transaction, a late duplicate) writes nothing
    assert store.complete("w", [result(a.id, "CLM9", "again")]) == []
    assert column(store, "SELECT COUNT(*) FROM claims") == [3]


def test_claim_already_billed_by_an_earlier_batch_is_a_duplicate_or_held(store: Store) -> None:
    store.journal([new(b"A"), new(b"B"), new(b"C")])
    (a,) = store.claim("w", 1, 60)
    store.complete("w", [result(a.id, "CLM1", "first")])
    (b,) = store.claim("w", 1, 60)
    (done,) = store.complete("w", [result(b.id, "CLM1", "first")])
    assert (done.claims, done.duplicate_claims) == (0, 1)
    (c,) = store.claim("w", 1, 60)
    (done,) = store.complete("w", [result(c.id, "CLM1", "second")])
    assert (done.claims, done.duplicate_claims, done.held_claims) == (0, 0, 1)
    assert store.encounters(b.id)[0]["findings"][-1]["rule"] == "GW-RESENT-CLAIM"
    assert store.encounters(c.id)[0]["findings"][-1]["rule"] == "GW-DUPLICATE-CLAIM"
