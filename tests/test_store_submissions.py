"""Claim identity in the store, on both backends: the migration from one row
per (clinic, CLM01) to submissions keyed by (clinic, CLM01, payer place,
version), keeping existing data."""

from __future__ import annotations

import json

import pytest

from gateway.store import EncounterOutcome, Outcome, Status, Store, migrations, open_store
from gateway.store.postgres import PostgresStore
from gateway.store.sqlite import SQLiteStore
from gateway.store.submissions import ResolveError
from tests.pg import pg_url, store_url  # noqa: F401  (fixtures)
from tests.test_store import claim_item, new
from tests.test_store_batch import statement_item


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
    assert old.migrate() == [m.version for m in migrations.MIGRATIONS if m.version > 4]  # type: ignore[attr-defined]
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


# -- the duplicate rule --------------------------------------------------------
@pytest.fixture
def store(store_url: str) -> Store:  # noqa: F811
    s = open_store(store_url)
    yield s
    s.close()


def send(store: Store, raw: bytes, clm01: str = "V10001", charge: str = "185.00", statement: str | None = None):
    """Journal ``raw`` and complete it with one encounter holding claim ``clm01``
    (its content varies with ``charge``) or, with ``statement``, a statement."""
    (j,) = store.journal([new(raw)])
    (m,) = store.claim("w", 1, 60)
    assert m.id == j.message_id
    body = {"id": clm01, "total_charge": charge}
    enc = EncounterOutcome(
        idx=0, clinic_id="riverside", visit=clm01, status=Status.CLAIMED, encounter="{}", findings=[],
        claims=[] if statement else [claim_item(clm01, body)],
        statements=[statement_item(statement, charge)] if statement else [],
    )  # fmt: skip
    (done,) = store.complete("w", [Outcome(m.id, Status.CLAIMED, clinic_id="riverside", encounters=[enc])])
    return done


def story(store: Store, clm01: str = "V10001", kind: str = "claims") -> list[tuple[int, str, str]]:
    return [(s.version, s.frequency_code, s.status) for s in store.submissions(kind, "riverside", clm01)]  # type: ignore[arg-type]


def test_an_identical_resend_is_not_billed_again_and_its_message_is_final(store: Store) -> None:
    first = send(store, b"A")
    again = send(store, b"B")  # other bytes, the same claim
    assert (first.claims, again.claims, again.duplicate_claims, again.status) == (1, 0, 1, "duplicate")
    assert story(store) == [(1, "1", "created")]
    (enc,) = store.encounters(again.message_id)
    assert enc["status"] == "duplicate" and enc["findings"][-1]["rule"] == "GW-RESENT-CLAIM"
    assert enc["findings"][-1]["severity"] == "info"
    assert [(e.kind, e.source) for e in store.events("claims", "riverside", "V10001")] == [
        ("created", f"message:{first.message_id}"),
        ("resent", f"message:{again.message_id}"),
    ]


def test_changed_content_for_a_claim_already_sent_is_held_with_a_finding_naming_the_command(store: Store) -> None:
    send(store, b"A")
    (row,) = [s.row for s in store.submissions("claims", "riverside", "V10001")]
    assert store.record_transition("claims", row, "delivered", status="delivered", source="outbox:1")
    changed = send(store, b"B", charge="250.00")
    assert (changed.claims, changed.held_claims, changed.status) == (0, 1, "quarantined")
    assert story(store) == [(1, "1", "delivered"), (2, "1", "held")]
    (enc,) = store.encounters(changed.message_id)
    (finding,) = [f for f in enc["findings"] if f["severity"] == "error"]
    assert enc["status"] == "quarantined" and finding["rule"] == "GW-DUPLICATE-CLAIM"
    assert "V10001" in finding["message"]
    assert "gateway claims resolve V10001 --clinic riverside --replace|--void|--discard" in finding["message"]
    third = send(store, b"C", charge="300.00")  # changed again before anyone decided: only the newest waits
    assert third.held_claims == 1
    assert story(store) == [(1, "1", "delivered"), (2, "1", "superseded"), (3, "1", "held")]
    assert send(store, b"D", charge="300.00").duplicate_claims == 1  # the held content resent: no second hold


def test_a_claim_the_payer_rejected_goes_out_again_as_a_new_original(store: Store) -> None:
    send(store, b"A")
    (v1,) = store.submissions("claims", "riverside", "V10001")
    for status in ("batched", "delivered", "rejected_999"):
        assert store.record_transition("claims", v1.row, status, status=status, actor="test")
    assert not store.record_transition("claims", v1.row, "paid", status="paid", expect=frozenset({"delivered"}))
    fixed = send(store, b"B", charge="190.00")
    assert (fixed.claims, fixed.held_claims, fixed.status) == (1, 0, "claimed")
    assert story(store) == [(1, "1", "rejected_999"), (2, "1", "created")]
    created = store.events("claims", "riverside", "V10001")[-1]
    assert (created.version, created.kind, created.detail["after"]) == (
        2,
        "created",
        {"version": 1, "status": "rejected_999"},
    )


def test_held_content_after_a_later_rejection_is_replaced_as_a_new_original_without_an_icn(store: Store) -> None:
    send(store, b"A")
    (v1,) = store.submissions("claims", "riverside", "V10001")
    store.record_transition("claims", v1.row, "delivered", status="delivered")
    send(store, b"B", charge="250.00")  # held: the payer had not answered yet
    store.record_transition("claims", v1.row, "rejected_277", status="rejected_277", source="277:9")  # now it has
    done = store.resolve("claims", "riverside", "V10001", "replace", "cli:alice")
    assert (done.held.status, done.held.frequency_code, done.earlier.status) == ("created", "1", "rejected_277")  # type: ignore[union-attr]


def test_replace_of_an_earlier_claim_never_batched_supersedes_it(store: Store) -> None:
    first = send(store, b"A")
    held = send(store, b"B", charge="250.00")
    assert held.held_claims == 1
    done = store.resolve("claims", "riverside", "V10001", "replace", "cli:alice", reason="charge corrected")
    assert (done.held.status, done.held.frequency_code, done.earlier.status) == ("created", "1", "superseded")  # type: ignore[union-attr]
    assert story(store) == [(1, "1", "superseded"), (2, "1", "created")]
    assert store.message(first.message_id).status == "duplicate"  # type: ignore[union-attr]
    assert store.message(held.message_id).status == "claimed"  # type: ignore[union-attr]
    assert store.encounters(held.message_id)[0]["status"] == "claimed"
    assert ("cli:alice", "claim-replace") in [(a.actor, a.action) for a in store.audit_trail(held.message_id)]
    with pytest.raises(ResolveError, match="no held claim V10001"):
        store.resolve("claims", "riverside", "V10001", "replace", "cli:alice")


def test_replace_after_delivery_needs_the_payers_icn_and_writes_frequency_7(store: Store) -> None:
    send(store, b"A")
    (v1,) = store.submissions("claims", "riverside", "V10001")
    store.record_transition("claims", v1.row, "delivered", status="delivered")
    send(store, b"B", charge="250.00")
    with pytest.raises(ResolveError, match="--icn"):
        store.resolve("claims", "riverside", "V10001", "replace", "cli:alice")
    assert story(store) == [(1, "1", "delivered"), (2, "1", "held")]  # nothing changed
    done = store.resolve("claims", "riverside", "V10001", "replace", "cli:alice", icn="ICN-2026-0001")
    assert (done.held.frequency_code, done.held.original_reference, done.held.status) == (
        "7",
        "ICN-2026-0001",
        "created",
    )
    assert done.earlier.payer_claim_id == "ICN-2026-0001" and done.earlier.status == "delivered"  # type: ignore[union-attr]
    (claim,) = [b.body for b in store.batch_items("claims", [done.held.row])]
    assert json.loads(claim)["frequency_code"] == "7" and json.loads(claim)["original_reference"] == "ICN-2026-0001"
    kinds = [(e.version, e.kind) for e in store.events("claims", "riverside", "V10001")]
    assert kinds[-2:] == [(2, "replacement"), (1, "replaced")]


def test_void_sends_frequency_8_of_the_earlier_claim_and_drops_the_held_one(store: Store) -> None:
    send(store, b"A")
    (v1,) = store.submissions("claims", "riverside", "V10001")
    store.record_transition("claims", v1.row, "ack", payer_claim_id="ICN-77")  # as a 277CA would
    store.record_transition("claims", v1.row, "delivered", status="delivered")
    send(store, b"B", charge="250.00")
    done = store.resolve("claims", "riverside", "V10001", "void", "cli:alice")
    assert done.created is not None and (done.created.version, done.created.frequency_code) == (3, "8")
    assert story(store) == [(1, "1", "voided"), (2, "1", "discarded"), (3, "8", "created")]
    (body,) = [json.loads(b.body) for b in store.batch_items("claims", [done.created.row])]
    assert body["total_charge"] == "185.00" and body["original_reference"] == "ICN-77"  # the earlier content


def test_discard_drops_the_held_claim_and_its_message_ends_final(store: Store) -> None:
    send(store, b"A")
    (v1,) = store.submissions("claims", "riverside", "V10001")
    store.record_transition("claims", v1.row, "delivered", status="delivered")
    held = send(store, b"B", charge="250.00")
    store.resolve("claims", "riverside", "V10001", "discard", "cli:alice", reason="sent by mistake")
    assert story(store) == [(1, "1", "delivered"), (2, "1", "discarded")]
    assert store.message(held.message_id).status == "duplicate"  # type: ignore[union-attr]
    assert store.encounters(held.message_id)[0]["status"] == "discarded"


def test_a_changed_statement_is_held_and_can_be_replaced_not_voided(store: Store) -> None:
    first = send(store, b"A", statement="S1")
    changed = send(store, b"B", charge="99.00", statement="S1")
    assert changed.status == "quarantined" and first.status == "claimed"
    (enc,) = store.encounters(changed.message_id)
    assert enc["findings"][-1]["rule"] == "GW-DUPLICATE-STATEMENT"
    assert "gateway statements resolve S1 --clinic riverside --replace|--discard" in enc["findings"][-1]["message"]
    with pytest.raises(ResolveError, match="not possible for statements"):
        store.resolve("statements", "riverside", "S1", "void", "cli:alice")
    store.resolve("statements", "riverside", "S1", "replace", "cli:alice")
    assert story(store, "S1", "statements") == [(1, "", "superseded"), (2, "", "created")]


def test_reprocess_drops_what_never_left_and_rebuilds_it(store: Store) -> None:
    send(store, b"A")
    (v1,) = store.submissions("claims", "riverside", "V10001")
    store.record_transition("claims", v1.row, "delivered", status="delivered")
    held = send(store, b"B", charge="250.00")
    assert store.reprocess(held.message_id, "cli:alice", "payer asked")
    assert story(store) == [(1, "1", "delivered")]
    assert not store.reprocess(1, "cli:alice")  # its claim was sent: never rebuilt


def test_two_nodes_completing_the_same_claims_at_once_take_each_version_once(pg_url: str) -> None:  # noqa: F811
    import random
    import threading

    keys = [f"K{i:03d}" for i in range(60)]
    errors: list[BaseException] = []

    def node(name: str, seed: int) -> None:
        store = open_store(pg_url)
        order = keys[:]
        random.Random(seed).shuffle(order)
        try:
            for start in range(0, len(order), 6):
                part = order[start : start + 6]
                store.journal([new(f"{name}-{k}".encode()) for k in part])
                held = store.claim(name, 6, 60)
                by_id = dict(zip(sorted(m.id for m in held), part, strict=True))
                outcomes = []
                for m in held:
                    k = by_id[m.id]
                    enc = EncounterOutcome(0, "riverside", k, Status.CLAIMED, "{}", [],
                                           claims=[claim_item(k, {"id": k, "node": name})])  # fmt: skip
                    outcomes.append(Outcome(m.id, Status.CLAIMED, clinic_id="riverside", encounters=[enc]))
                store.complete(name, outcomes)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=node, args=(n, s)) for n, s in (("node-a", 1), ("node-b", 2))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    store = open_store(pg_url)
    for k in keys:
        assert [(s.version, s.status) for s in store.submissions("claims", "riverside", k)] == [
            (1, "created"), (2, "held"),
        ]  # fmt: skip
    store.close()
