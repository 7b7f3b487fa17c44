"""Posting on the daemon's path (`gateway run`: journal → workers → store)
on SQLite and PostgreSQL, and two PostgreSQL nodes posting different
remits for the same claims at once without a lost update."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from pathlib import Path

from gateway_plugins.inbound.x12_responses.simulate import simulate_payer

from gateway.app import Gateway
from gateway.daemon.journal import Journal
from gateway.delivery.batcher import Batcher
from gateway.delivery.dispatcher import Dispatcher
from gateway.messages import MessageMeta
from gateway.store import Store, open_store
from gateway.store.remits import RemitFilter, claim_money
from gateway.worker import Worker, WorkerSettings
from tests.delivery_helpers import deployment, hl7_visit
from tests.pg import pg_url, store_url  # noqa: F401  (fixtures)
from tests.posting_helpers import assert_balanced, settled_status, write_remit


def journal(gw: Gateway, store: Store, raws: Iterable[tuple[str, bytes]]) -> None:
    j = Journal(gw, store, store)
    try:
        msgs = [
            j.prepare(raw, MessageMeta(source="test", name=name, today=date.today()), None)[0] for name, raw in raws
        ]
        store.journal(msgs)
    finally:
        j.close()


def bill(config: Path, url: str, visits: int) -> tuple[Gateway, Store, list[Path]]:
    """Visits through a daemon's worker, batcher and dispatcher into the claims folder."""
    gw = Gateway.from_config(config)
    store = open_store(url)
    journal(gw, store, ((f"v{i}.hl7", hl7_visit(i)) for i in range(visits)))
    worker = Worker(gw.pipeline, store, "node-a")
    while worker.run_once():
        pass
    Batcher(gw, store).tick(force=True)
    dispatcher = Dispatcher(gw, store)
    while store.outbox_pending():
        dispatcher.run_once()
    dispatcher.close_idle(everything=True)
    out = sorted((config.parent / "outbox" / "claims").glob("*.x12"))
    assert out
    return gw, store, out


def test_the_daemons_workers_post_the_answers_on_either_store(tmp_path: Path, store_url: str) -> None:  # noqa: F811
    config = deployment(tmp_path / "dep")
    gw, store, x12 = bill(config, store_url, 8)
    sim = simulate_payer(x12, tmp_path / "answers")
    names = sorted(sim.files, key=lambda n: (".835." in n, ".277CA." in n, n))  # 999, 277CA, 835 runs
    journal(gw, store, ((n, (tmp_path / "answers" / n).read_bytes()) for n in names))
    worker = Worker(gw.pipeline, store, "node-a")
    while worker.run_once():
        pass
    for clm01, outcome in sim.outcomes.items():
        story = store.claim_story("riverside", clm01)
        status = story.submissions[-1].status
        if outcome == "rejected_277":
            assert status == "rejected_277"
            continue
        total, _ = claim_money(story.ledger)
        assert_balanced(total)
        expected = "denied" if outcome == "denied" else settled_status(store, "riverside", clm01)
        assert status == expected, (clm01, outcome, status)
        assert {"accepted_999", "acknowledged_277"} <= {e.kind for e in story.events}
    assert {r.status for r in store.list_remits(RemitFilter())} == {"posted"}
    store.close()


def test_two_nodes_posting_different_remits_for_the_same_claims_at_once_lose_no_update(
    tmp_path: Path,
    pg_url: str,  # noqa: F811
) -> None:
    config = deployment(tmp_path / "dep")
    gw, store, x12 = bill(config, pg_url, 12)
    sim = simulate_payer(x12, tmp_path / "answers")
    remit = sim.remits[0]
    claims = [
        c for c in remit.claims
        if c.status == "1" and c.lines[0].adjustments and c.lines[0].adjustments[0].group == "CO"
        and c.lines[0].adjustments[0].amount > 3
    ]  # fmt: skip
    assert len(claims) >= 3
    # two payments for each claim (the second a correction of the first, whichever posts first), each in
    # a remit of its own, each remit in a file of its own: a node takes one file, the other node the other
    files: list[tuple[str, bytes]] = []
    for n, delta in enumerate((Decimal("0.00"), Decimal("3.00"))):
        mine = []
        for c in claims:
            ln = c.lines[0]
            co = ln.adjustments[0]
            line = ln.model_copy(
                update={
                    "paid": ln.paid + delta,
                    "adjustments": [co.model_copy(update={"amount": co.amount - delta}), *ln.adjustments[1:]],
                }
            )
            mine.append(c.model_copy(update={"paid": c.paid + delta, "lines": [line, *c.lines[1:]]}))
        pay = remit.payment.model_copy(update={"amount": sum(c.paid for c in mine), "trace_number": f"NODE{n}"})
        r = remit.model_copy(update={"claims": mine, "payment": pay, "provider_adjustments": []})
        path = write_remit(tmp_path / f"node{n}.835.x12", [r], control=660000001 + n)
        files.append((path.name, path.read_bytes()))
    journal(gw, store, files)
    nodes = [open_store(pg_url), open_store(pg_url)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def node(i: int) -> None:
        try:
            w = Worker(gw.pipeline, nodes[i], f"node-{i}", WorkerSettings(batch=1))
            barrier.wait()
            while w.run_once():
                pass
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=node, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    posted = store.list_remits(RemitFilter(status="posted"))
    assert len(posted) == 2
    for c in claims:
        story = store.claim_story("riverside", c.claim_id)
        total, _ = claim_money(story.ledger)
        assert_balanced(total)
        charges = [e for e in story.ledger if e.kind == "charge"]
        assert len(charges) == len(c.lines)  # charged once, not by each node
        assert total.balance == 0 and total.paid in (c.paid, c.paid + 3)
        assert sorted(rc.outcome for rc in story.remit_claims) == ["correction", "posted"]
        assert [e.kind for e in story.events].count("corrected") == 1
    # an operator's adjustments on PostgreSQL: reopened, then written off to zero and closed again
    clm01 = claims[0].claim_id
    reopened = store.adjust("riverside", clm01, Decimal("-2.00"), "refund owed back", "tester", group="OA")
    assert reopened.balance == Decimal("2.00")
    story = store.claim_story("riverside", clm01)
    last_835 = [
        e.status for e in story.events
        if e.source and e.source.startswith("835:") and e.status not in ("closed", "patient_due")
    ]  # fmt: skip
    assert story.submissions[-1].status == last_835[-1] and story.events[-1].kind == "reopened"
    assert (clm01, Decimal("2.00")) in {(b.clm01, b.balance) for b in store.open_balances("riverside")}
    closed = store.adjust("riverside", clm01, Decimal("2.00"), "small balance", "tester", group="CO")
    status = store.claim_story("riverside", clm01).submissions[-1].status
    assert closed.balance == 0 and status == settled_status(store, "riverside", clm01)  # the patient may still owe
    assert_balanced(closed)
    for s in (store, *nodes):
        s.close()
