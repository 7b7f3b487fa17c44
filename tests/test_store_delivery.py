"""The delivery half of the store interface on both backends: waiting items
per lane, cutting a batch (all or nothing), the outbox lease, deliveries,
failures, dead letters and operators' retries, with each item's events and
each message's status following."""

from __future__ import annotations

import time

import pytest

from gateway.documents import Document
from gateway.store import Store, open_store
from gateway.store.outbox import BatchCut
from tests.pg import store_url  # noqa: F401  (fixture: one URL per backend)
from tests.test_store_submissions import send


@pytest.fixture
def store(store_url: str) -> Store:  # noqa: F811
    s = open_store(store_url)
    yield s
    s.close()


def doc(name: str = "a.x12", content: bytes = b"ISA...") -> Document:
    return Document(name, content, "application/edi-x12", "claims", "riverside", refs=("V1",))


def test_cut_is_all_or_nothing_and_moves_items_and_messages(store: Store) -> None:
    done = [send(store, f"M{i}".encode(), clm01=f"V{i}") for i in range(3)]
    rows = [w.row for w in store.waiting("claims")]
    assert len(rows) == 3 and store.waiting("claims", "oneshot:/elsewhere") == []
    assert [b.row for b in store.batch_items("claims", rows)] == rows
    stored = store.cut(BatchCut("claims", "claims-out", [doc()], [(rows[0], 0), (rows[1], 0)], failed=[rows[2]]))
    assert stored is not None and [name for _, name in stored] == ["a.x12"]
    statuses = [s.status for i in range(3) for s in store.submissions("claims", "riverside", f"V{i}")]
    assert statuses == ["batched", "batched", "failed"]
    assert [store.message(d.message_id).status for d in done] == ["batched", "batched", "quarantined"]  # type: ignore[union-attr]
    assert [e.kind for e in store.events("claims", "riverside", "V0")] == ["created", "batched"]
    # an item that moved on meanwhile aborts the whole cut, and nothing of it is written
    again = store.cut(BatchCut("claims", "claims-out", [doc("b.x12", b"other")], [(rows[0], 0)]))
    assert again is None and [r.name for r in store.outbox_list()] == ["a.x12"]


def test_outbox_lease_failure_retry_dead_letter_and_delivery(store: Store) -> None:
    d = send(store, b"M", clm01="V1")
    (row,) = [w.row for w in store.waiting("claims")]
    ((oid, _),) = store.cut(BatchCut("claims", "claims-out", [doc()], [(row, 0)]))  # type: ignore[misc]
    assert store.outbox_pending() == 1 and store.outbox_pending("oneshot:/x") == 0
    assert store.outbox_claim("other-lane", 10, 60, lane="oneshot:/x") == []
    (item,) = store.outbox_claim("node-a", 10, 60)
    assert store.outbox_claim("node-b", 10, 60) == []  # leased
    assert store.outbox_holders() == ["node-a"]
    assert store.outbox_failed("node-a", item, "server down", dead=False, retry_in=0) == "pending"
    (item,) = store.outbox_claim("node-b", 10, 60)
    assert item.attempts == 1
    assert store.outbox_failed("node-b", item, "bad key", dead=True, retry_in=0) == "dead"
    assert store.outbox_row(oid).last_error == "bad key"  # type: ignore[union-attr]
    assert store.outbox_retry(None, "cli:alice") == [oid]
    (item,) = store.outbox_claim("node-c", 10, 60)
    assert not store.outbox_delivered("node-a", item, "x", already_present=False)  # not the holder
    assert store.outbox_delivered("node-c", item, "sftp://host/a.x12", already_present=False)
    assert store.message(d.message_id).status == "delivered"  # type: ignore[union-attr]
    assert [e.kind for e in store.events("claims", "riverside", "V1")] == ["created", "batched", "delivered"]
    assert store.outbox_counts() == [("claims-out", "delivered", 1)]
    assert store.outbox_oldest_pending() is None and store.outbox_content(oid) == b"ISA..."
    assert store.outbox_row(oid).items == 1  # type: ignore[union-attr]


def test_release_gives_rows_back_and_responses_are_recognised(store: Store) -> None:
    store.cut(BatchCut("claims", "claims-out", [doc(), doc("b.x12", b"B")], []))
    got = store.outbox_claim("node-a", 10, 60)
    assert len(got) == 2
    assert store.outbox_release("node-a", [got[0].id]) == 1
    assert store.outbox_release("node-a") == 1  # the rest it holds
    assert len(store.outbox_claim("node-b", 10, 60)) == 2
    assert store.outbox_oldest_pending() is not None and store.outbox_oldest_pending() <= time.time()  # type: ignore[operator]
    from gateway.store import NewMessage

    store.journal([NewMessage(b"999", "h", "responses:x", "responses:x", time.time(), name="999.x12")])
    assert store.response_known("responses:x", "999.x12", 3) and not store.response_known("responses:x", "999.x12", 4)
