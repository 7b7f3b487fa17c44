"""The statement-cycle part of the store (gateway/store/sql_cycles.py, migration
15) on SQLite and PostgreSQL: what each account was sent, documents in the
outbox in the same transaction, runs recorded per clinic and date, each
insurer's payments, and the account's patient and guarantor from the stored
encounter."""

from __future__ import annotations

import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from gateway.documents import Document
from gateway.store import open_store
from gateway.store.cycles import CycleEntry
from gateway.store.remits import RemitFilter
from gateway.store.retry import RETRIED
from tests.pg import store_url  # noqa: F401  (fixture)
from tests.remits_helpers import closed_loop

DAY = date(2026, 6, 1)


def _doc(name: str, body: bytes) -> Document:
    return Document(name, body, "application/pdf", "statements", "riverside", (name,))


def test_cycle_rows_and_their_documents(store_url: str, tmp_path: Path) -> None:  # noqa: F811
    store = open_store(store_url, tmp_path)
    assert store.last_cycle("riverside", "A1") is None
    entries = [
        CycleEntry("A1", "S-A1", "statement", Decimal("40.00"), "h1", "first statement", 0, 0),
        CycleEntry("A2", "S-A2", "final", Decimal("12.50"), "h2", "95 days", 2, 1),
        CycleEntry("A3", "S-A3", "statement", Decimal("-3.00"), "h3", "credit balance", 0, None),
    ]  # fmt: skip
    docs = [_doc("a1.pdf", b"%PDF a1"), _doc("a2.pdf", b"%PDF a2")]
    stored = store.record_cycle("riverside", DAY, entries, docs, "statements-out", "test")
    assert [name for _, name in stored] == ["a1.pdf", "a2.pdf"]
    rows = {r.account: r for r in store.cycle_history("riverside")}
    assert rows["A1"].document == "a1.pdf" and rows["A2"].notice == "final" and rows["A3"].outbox_id is None
    assert rows["A2"].total_due == Decimal("12.50") and rows["A2"].dunning_level == 2
    assert store.outbox_content(stored[1][0]) == b"%PDF a2"
    a2 = store.last_cycle("riverside", "A2")
    assert a2 is not None and (a2.run_date, a2.content_hash, a2.final_notice_on, a2.collections_on) == (
        DAY, "h2", DAY, None)  # fmt: skip
    assert store.last_cycle("riverside", "A3") is not None and store.last_cycle("lakeside", "A1") is None

    # the same run again (a crash before it was marked done): nothing new, no second document
    again = store.record_cycle("riverside", DAY, entries, [_doc("a1.pdf", b"%PDF other")], "statements-out", "test")
    assert again == [] and len(store.cycle_history("riverside")) == 3
    assert len(store.outbox_list(destination="statements-out")) == 2

    # a later statement is the last one; collections are remembered (the last statement stays the final notice)
    later = DAY + timedelta(days=30)
    store.record_cycle("riverside", later, [
        CycleEntry("A1", "S-A1b", "statement", Decimal("30.00"), "h1b", "balance changed", 1, None),
        CycleEntry("A2", "S-A2b", "collections", Decimal("12.50"), "h2", "30 days since the final notice"),
    ], actor="test")  # fmt: skip
    a1 = store.last_cycle("riverside", "A1")
    assert a1 is not None and (a1.run_date, a1.content_hash, a1.dunning_level) == (later, "h1b", 1)
    a2 = store.last_cycle("riverside", "A2")
    assert a2 is not None and a2.collections_on == later and a2.run_date == DAY
    assert [r.account for r in store.cycle_history("riverside", "A1")] == ["A1", "A1"]
    store.close()


def test_a_run_is_taken_once_and_taken_over_when_stale(store_url: str, tmp_path: Path) -> None:  # noqa: F811
    store = open_store(store_url, tmp_path)
    assert store.begin_statement_run("riverside", DAY, "node-a", stale_after=3600)
    assert store.begin_statement_run("riverside", DAY, "node-a", stale_after=3600)  # its own, again (restart)
    assert not store.begin_statement_run("riverside", DAY, "node-b", stale_after=3600)  # another live owner
    assert store.begin_statement_run("lakeside", DAY, "node-b", stale_after=3600)  # another clinic
    time.sleep(0.05)
    assert store.begin_statement_run("riverside", DAY, "node-b", stale_after=0.01)  # node-a died: taken over
    store.finish_statement_run("riverside", DAY, "node-b", {"statement": 2})
    assert not store.begin_statement_run("riverside", DAY, "node-b", stale_after=0)  # done: never again
    runs = {(r.clinic_id, r.run_date): r for r in store.statement_runs()}
    assert runs[("riverside", DAY)].status == "done" and runs[("riverside", DAY)].summary == {"statement": 2}
    assert runs[("lakeside", DAY)].status == "running" and runs[("lakeside", DAY)].owner == "node-b"
    store.close()


def test_parties_and_payers_from_a_billed_and_paid_loop(store_url: str, tmp_path: Path) -> None:  # noqa: F811
    loop = closed_loop(tmp_path, store_url)  # billed, answered by the payer simulator, 835s posted
    with loop.open() as store:
        with store.read() as cur:
            cur.execute("SELECT clinic_id, clm01 FROM claims ORDER BY id")
            claims = cur.fetchall()
            cur.execute("SELECT clinic_id, statement_id FROM statements ORDER BY id LIMIT 1")
            st_clinic, statement_id = cur.fetchone()
        clinic, clm01 = claims[0]
        found = store.account_parties(clinic, [clm01], [])
        assert found["patient"]["name"]["family"] and found["guarantor"]["name"]["family"]
        by_statement = store.account_parties(st_clinic, [], [statement_id])
        assert by_statement["patient"]["id"] and by_statement["guarantor"]["name"]
        assert store.account_parties(clinic, ["NOSUCH"], []) == {}
        payers = {r.payer_id: r.payer_name for r in store.list_remits(RemitFilter())}
        checked = 0
        for clinic, clm01 in claims:
            paid = store.payers_paid(clinic, [clm01]).get(clm01, [])
            ledger = [e for e in store.ledger(clinic, clm01) if e.kind == "payment"]
            assert sum((a for _, _, a in paid), Decimal(0)) == sum((e.amount for e in ledger), Decimal(0))
            for seq, name, _ in paid:
                assert seq == 1 and name in payers.values()
                checked += 1
        assert checked > 0, "no claim was paid"


def test_every_cycle_operation_is_retried() -> None:
    assert {"last_cycle", "payers_paid", "record_cycle", "cycle_history", "begin_statement_run", "finish_statement_run",
            "statement_runs", "account_parties"} <= RETRIED  # fmt: skip
