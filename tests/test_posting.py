"""Posting (issue 13): claims out with `gateway process`, the payer
simulator's 999, 277CA and 835 back in through `gateway process` on the
same deployment store, and every claim's status, events and ledger checked
— balanced to the cent, against what the simulator decided and what
edi-835-parser reads from the same 835 files. Duplicates post once, a
correction keeps the ledger balanced, a reversal nets out, an out-of-balance
or truncated 835 posts nothing, unmatched answers are kept."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from gateway_plugins.inbound.x12_responses import read_responses
from gateway_plugins.inbound.x12_responses.codes import CLAIM_STATUS
from gateway_plugins.inbound.x12_responses.write import Party, ack999_segments, interchange

from gateway.cli import cli
from gateway.model import Ack999, AckSegmentError, Adjustment
from gateway.store import MessageFilter
from gateway.store.remits import RemitFilter, claim_money
from tests.edi835 import edi_view
from tests.posting_helpers import Loop, assert_balanced, claims_out, money, process, settled_status, write_remit
from tests.x12check import assert_valid_x12

ZERO = Decimal("0.00")


@pytest.fixture
def loop(tmp_path: Path) -> Loop:
    return claims_out(tmp_path, 12)


def post_all(loop: Loop) -> None:
    """The answers in the order they come: 999, 277CA, then the 835 runs."""
    for n, kind in enumerate(("999", "277CA", "835")):
        for f in loop.files(kind):
            assert_valid_x12(f.read_bytes(), kind.rstrip("CA"))
        process(loop.config, loop.root / f"answers-{n}", *loop.files(kind))


def test_the_whole_loop_posts_every_answer_and_every_ledger_balances(loop: Loop) -> None:
    post_all(loop)
    outcomes = loop.sim.outcomes
    assert set(outcomes.values()) >= {"denied", "reversed", "rejected_277", "deductible", "coinsurance", "copay"}
    # what edi-835-parser reads from the same 835 files: net paid per claim (a reversal and its new payment net)
    paid_by_edi: dict[str, Decimal] = {}
    for f in loop.files("835"):
        for c in edi_view(f):
            paid_by_edi[c["claim_id"]] = paid_by_edi.get(c["claim_id"], ZERO) + c["paid"]
    with loop.store() as store:
        for clm01, outcome in sorted(outcomes.items()):
            story = store.claim_story("riverside", clm01)
            assert story is not None
            kinds = [e.kind for e in story.events]
            status = story.submissions[-1].status
            total, lines = money(store, "riverside", clm01)
            assert "accepted_999" in kinds, (clm01, kinds)  # every claim's transaction set was accepted
            if outcome == "rejected_277":
                assert status == "rejected_277" and story.ledger == [] and "acknowledged_277" not in kinds
                (rej,) = [e for e in story.events if e.kind == "rejected_277"]
                assert any(r["category"] == "A7" and r["code"] == "164" for r in rej.detail["reasons"])
                continue
            assert "acknowledged_277" in kinds
            assert_balanced(total)
            for m in lines.values():
                assert_balanced(m)
            assert total.charge == Decimal(story.submissions[-1].total_charge)
            assert sum((m.charge for m in lines.values()), ZERO) == total.charge
            assert total.paid == paid_by_edi[clm01], clm01
            if outcome == "denied":
                assert status == "denied" and total.balance == total.charge and total.paid == 0
                assert [(g, r) for g, r, _ in total.denials] == [("CO", "96")]
                continue
            # the payer's part is closed; the claim is patient_due while the patient owes part of it (issue 14)
            view = store.account("riverside", store.account_of("riverside", clm01))
            (item,) = [i for i in view.items if i.key == clm01]
            assert item.patient_responsibility == total.patient_responsibility
            expected = settled_status(store, "riverside", clm01)
            assert expected == ("patient_due" if item.patient_balance > 0 else "closed")
            assert status == expected and total.balance == 0, (clm01, status, total)
            assert kinds[-1] == expected
            pr = {r: a for g, r, a in total.adjustments if g == "PR"}
            assert total.patient_responsibility == sum(pr.values(), ZERO)
            expect = {"deductible": "1", "coinsurance": "2", "copay": "3"}.get(outcome)
            if expect:
                assert set(pr) == {expect} and pr[expect] > 0
            if outcome == "reversed":
                assert kinds.count("paid") == 2 and "reversed" in kinds
                payer = [e for e in story.ledger if e.remit_id is not None and e.kind != "charge"]
                first = min(e.remit_id for e in payer)
                reversal = [e for e in payer if e.remit_id != first and e.amount < 0]
                assert reversal and sum(e.amount for e in reversal) == -sum(
                    e.amount for e in payer if e.remit_id == first
                )  # the reversal nets the first payment out exactly
        remits = store.list_remits(RemitFilter())
        assert {r.status for r in remits} == {"posted"} and all(r.unmatched_claims == 0 for r in remits)
        detail = store.remit(min(r.id for r in remits))
        assert detail is not None and detail.provider_adjustments and detail.provider_adjustments[0].reason == "L6"
        plb = sum((p.amount for p in detail.provider_adjustments), ZERO)
        assert detail.remit.amount == sum((c.paid for c in detail.claims), ZERO) - plb
        assert store.unmatched() == []
        # open balances: exactly the denied claim (the rejected one is not owed by this payer)
        owed = {(b.clm01, b.status, b.balance) for b in store.open_balances("riverside")}
        (denied,) = [c for c, o in outcomes.items() if o == "denied"]
        assert owed == {(denied, "denied", Decimal("148.00"))}
        assert all(b.delivered_at and b.last_response_at for b in store.open_balances(include_zero=True))


def test_claims_show_and_adjust_bring_a_denied_claim_to_zero(loop: Loop) -> None:
    post_all(loop)
    (denied,) = [c for c, o in loop.sim.outcomes.items() if o == "denied"]
    runner = CliRunner()
    show = ["claims", "show", denied, "--json", "--config", str(loop.config)]
    view = json.loads(runner.invoke(cli, show).output)
    assert (view["id"], view["clinic"], view["status"], view["charge"], view["paid"], view["balance"]) == (
        denied, "riverside", "denied", "148.00", "0.00", "148.00")  # fmt: skip
    assert set(view["lines"]) == {"1", "2"} and view["lines"]["1"]["charge"] == "110.00"
    assert all(e["at"].endswith("Z") for e in view["events"])
    bad = runner.invoke(cli, ["claims", "adjust", denied, "--amount", "1.234", "--reason", "x",
                              "--config", str(loop.config)])  # fmt: skip
    assert bad.exit_code == 2 and "two decimals" in bad.output
    args = ["claims", "adjust", denied, "--amount", "148.00", "--reason", "not appealable", "--group", "CO",
            "--config", str(loop.config), "--json"]  # fmt: skip
    done = runner.invoke(cli, args)
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["balance"] == "0.00" and json.loads(done.output)["status"] == "closed"
    view = json.loads(runner.invoke(cli, show).output)
    assert view["status"] == "closed" and view["balance"] == "0.00"
    assert {"group": "CO", "reason": "not appealable", "amount": "148.00"} in view["adjustments"]
    assert [e["kind"] for e in view["events"]][-2:] == ["adjusted", "closed"]
    listed = runner.invoke(cli, ["claims", "list", "--status", "closed", "--payer", "EXPAYER1", "--since",
                                 "2000-01-01", "--json", "--config", str(loop.config)])  # fmt: skip
    assert denied in {c["id"] for c in json.loads(listed.output)}


def test_the_same_835_twice_posts_once_by_content_and_by_trn(loop: Loop) -> None:
    post_all(loop)
    with loop.store() as store:
        before = {c: store.ledger("riverside", c) for c in loop.sim.outcomes}
    first = loop.files("835")[0]
    # the same bytes: the journal knows them
    again = process(loop.config, loop.root / "again", first)
    assert "already processed, skipped               1" in again
    # the same remit in another interchange (other ISA13/GS06): the content hash knows it
    remit = loop.sim.remits[0]
    copy = write_remit(loop.root / "copy.835.x12", [remit], control=777000001)
    process(loop.config, loop.root / "copy", copy)
    # the same TRN02 and payer with other content (another production date): the TRN knows it
    other = write_remit(loop.root / "other.835.x12", [remit.model_copy(update={"production_date": None})],
                        control=777000002)  # fmt: skip
    process(loop.config, loop.root / "other", other)
    with loop.store() as store:
        assert {c: store.ledger("riverside", c) for c in loop.sim.outcomes} == before
        dups = store.list_remits(RemitFilter(status="duplicate"))
        assert len(dups) == 2 and {d.duplicate_of for d in dups} == {
            min(r.id for r in store.list_remits(RemitFilter()))
        }
        msgs = {m.name: m for m in store.list_messages(MessageFilter(limit=50))}
        for name, why in (("copy.835.x12", "the same content"), ("other.835.x12", "TRN02")):
            m = msgs[name]
            assert m.status == "duplicate", (name, m.status)
            (f,) = m.findings
            assert f["rule"] == "GW-REMIT-DUPLICATE" and f["severity"] == "info" and why in f["message"]


def test_a_second_835_for_a_paid_claim_posts_as_a_correction_and_keeps_the_ledger_balanced(loop: Loop) -> None:
    post_all(loop)
    remit = loop.sim.remits[0]
    target = next(c for c in remit.claims if loop.sim.outcomes[c.claim_id] == "contractual")
    line = target.lines[0]
    co = line.adjustments[0]
    assert co.group == "CO" and co.amount > 5
    fixed_line = line.model_copy(
        update={
            "paid": line.paid + 5,
            "adjustments": [co.model_copy(update={"amount": co.amount - 5}), *line.adjustments[1:]],
        }
    )
    fixed = target.model_copy(update={"paid": target.paid + 5, "lines": [fixed_line, *target.lines[1:]]})
    payment = remit.payment.model_copy(update={"amount": fixed.paid, "trace_number": "CORR0001"})
    corr = remit.model_copy(update={"claims": [fixed], "payment": payment, "provider_adjustments": []})
    path = write_remit(loop.root / "correction.835.x12", [corr], control=778000001)
    assert_valid_x12(path.read_bytes(), "835")
    process(loop.config, loop.root / "corr", path)
    with loop.store() as store:
        total, lines = money(store, "riverside", target.claim_id)
        assert_balanced(total)
        assert total.paid == target.paid + 5 and total.balance == 0
        assert (
            lines[1].paid == line.paid + 5
            and dict(((g, r), a) for g, r, a in lines[1].adjustments)[("CO", "45")] == co.amount - 5
        )
        story = store.claim_story("riverside", target.claim_id)
        corrected = [e for e in story.events if e.kind == "corrected"]
        assert len(corrected) == 1 and corrected[0].detail["correction"] is True
        assert story.submissions[-1].status == "closed"
        assert [rc.outcome for rc in story.remit_claims] == ["posted", "correction"]


def test_an_out_of_balance_835_is_quarantined_naming_the_amounts_and_posts_nothing(loop: Loop) -> None:
    remit = loop.sim.remits[0]
    c0 = remit.claims[0]
    ln = c0.lines[0]
    wrong_line = ln.model_copy(
        update={
            "adjustments": [*ln.adjustments, Adjustment(group="OA", reason="23", amount=Decimal("1.00"), segment=0)]
        }
    )
    bad = remit.model_copy(
        update={"claims": [c0.model_copy(update={"lines": [wrong_line, *c0.lines[1:]]}), *remit.claims[1:]]}
    )
    path = write_remit(loop.root / "bad.835.x12", [bad], control=779000001)
    process(loop.config, loop.root / "bad", path, code=None)
    with loop.store() as store:
        (m,) = [m for m in store.list_messages(MessageFilter(limit=50)) if m.name == "bad.835.x12"]
        assert m.status == "quarantined"
        (q,) = store.list_remits(RemitFilter(status="quarantined"))
        rules = {f["rule"]: f for f in q.findings}
        assert {"X12-835-BALANCE-LINE", "X12-835-BALANCE-CLAIM"} <= set(rules)
        line_msg = rules["X12-835-BALANCE-LINE"]["message"]
        cas = sum((a.amount for a in ln.adjustments), ZERO) + 1
        for amount in (ln.charge, ln.paid, ln.charge - ln.paid, cas):  # named as X12 writes them
            assert format(amount.normalize(), "f") in line_msg, (amount, line_msg)
        assert rules["X12-835-BALANCE-LINE"]["location"].startswith("segment ")
        assert all(store.ledger("riverside", c) == [] for c in loop.sim.outcomes)
        assert store.list_remits(RemitFilter(status="posted")) == []


def test_a_truncated_835_is_stored_with_a_finding_at_its_last_segment_and_posts_nothing(loop: Loop) -> None:
    text = loop.files("835")[0].read_text()
    cut = text[: text.index("CLP*", len(text) // 2)]  # ends inside a claim: no SE, GE, IEA
    path = loop.root / "truncated.835.x12"
    path.write_text(cut)
    out = process(loop.config, loop.root / "trunc", path, code=None)
    assert "Traceback" not in out
    with loop.store() as store:
        (m,) = [m for m in store.list_messages(MessageFilter(limit=50)) if m.name == "truncated.835.x12"]
        assert m.status == "quarantined" and store.raw(m.id) == cut.encode()
        truncated = [f for f in m.findings if f["rule"] == "X12-TRUNCATED"]
        assert truncated and all(f["location"].startswith("segment ") for f in truncated)
        assert all(store.ledger("riverside", c) == [] for c in loop.sim.outcomes)
        (q,) = store.list_remits(RemitFilter())
        assert q.status == "quarantined"


def test_unmatched_answers_are_kept_and_reported_never_dropped(loop: Loop) -> None:
    remit = loop.sim.remits[0]
    stranger = remit.claims[0].model_copy(update={"claim_id": "NOSUCH0001"})
    mixed = remit.model_copy(update={"claims": [stranger, *remit.claims[1:]]})
    path = write_remit(loop.root / "mixed.835.x12", [mixed], control=780000001)
    # an 835 for a payee no clinic has
    elsewhere = remit.model_copy(update={
        "payee": remit.payee.model_copy(update={"npi": "1003000126", "id": "1003000126", "tax_id": None}),
        "payment": remit.payment.model_copy(update={"trace_number": "ELSEWHERE1"}),
    })  # fmt: skip
    stray = write_remit(loop.root / "stray.835.x12", [elsewhere], control=780000002)
    # a 999 for a group we never sent
    ack = loop.files("999")[0].read_text().replace("AK1*HC*1*", "AK1*HC*424242*")
    (loop.root / "stray.999.x12").write_text(ack)
    process(loop.config, loop.root / "un", path, stray, loop.root / "stray.999.x12")
    with loop.store() as store:
        found = store.unmatched()
        kinds = {(u.kind, u.reference) for u in found}
        assert ("835", "NOSUCH0001") in kinds and ("999", "424242") in kinds
        assert {u.reference for u in found if u.kind == "835"} >= {c.claim_id for c in elsewhere.claims}
        (posted,) = store.list_remits(RemitFilter(status="posted"))
        assert posted.unmatched_claims == 1 and posted.claims == len(remit.claims) - 1
        (un,) = store.list_remits(RemitFilter(status="unmatched"))
        assert un.clinic_id is None and un.payee_npi == "1003000126"
        msgs = {m.name: m for m in store.list_messages(MessageFilter(limit=50))}
        assert msgs["mixed.835.x12"].status == "parsed"
        assert [f["rule"] for f in msgs["mixed.835.x12"].findings] == ["GW-REMIT-UNMATCHED"]
        assert "NOSUCH0001" in msgs["mixed.835.x12"].findings[0]["message"]
        assert any(f["rule"] == "GW-ACK-UNMATCHED" and "424242" in f["message"] for f in msgs["stray.999.x12"].findings)
        (payee,) = [f for f in msgs["stray.835.x12"].findings if f["rule"] == "GW-REMIT-UNMATCHED"]
        assert payee["location"].startswith("segment ") and "ELSEWHERE1" in payee["message"]
        assert msgs["stray.835.x12"].status == "parsed"


def test_a_rejecting_999_marks_the_claims_of_that_transaction_set_with_the_reasons(tmp_path: Path) -> None:
    loop = claims_out(tmp_path, 3)
    (ack,) = read_responses(loop.files("999")[0].read_bytes()).documents
    assert isinstance(ack, Ack999) and ack.status == "A"
    error = AckSegmentError(segment_id="CLM", position=12, code="8", description="", segment=0)
    sets = [t.model_copy(update={"status": "R", "codes": ["5"], "errors": [error]}) for t in ack.transactions]
    bad = ack.model_copy(update={"status": "R", "sets_accepted": 0, "transactions": sets})
    text = interchange("999", [ack999_segments(bad)], sender=Party(ack.control.sender),
                       receiver=Party(ack.control.receiver), control=990000001, created=datetime(2026, 12, 1, 8, 0))  # fmt: skip
    assert_valid_x12(text.encode(), "999")
    (tmp_path / "reject.999.x12").write_text(text)
    process(loop.config, tmp_path / "r", tmp_path / "reject.999.x12")
    with loop.store() as store:
        for clm01 in ("BH0000000", "BH0000001", "BH0000002"):
            story = store.claim_story("riverside", clm01)
            assert story.submissions[-1].status == "rejected_999"
            (ev,) = [e for e in story.events if e.kind == "rejected_999"]
            assert ev.source.startswith("999:") and any(r.get("segment_id") == "CLM" for r in ev.detail["reasons"])
        assert store.open_balances("riverside") == []  # rejected: never accepted, nothing owed


def test_claim_status_codes_used_in_events_are_known() -> None:
    assert {"1", "4", "22"} <= set(CLAIM_STATUS)


def test_kill_9_while_posting_a_1000_claim_835_then_a_rerun_posts_every_claim_exactly_once(tmp_path: Path) -> None:
    loop = claims_out(tmp_path, 1000)
    (big, _) = loop.files("835")
    assert big.read_text().count("CLP*") >= 999
    args = [sys.executable, "-m", "gateway.cli", "process", "--config", str(loop.config), "--out",
            str(tmp_path / "posting"), str(big)]  # fmt: skip
    before_commit = 0
    db = loop.config.parent / "state" / "gateway.sqlite"
    for delay in (0.4, 0.9, 1.3, 1.6, 1.9, 2.6):  # after a worker took the 835 (reading and posting take ~2 s)
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline and not _held(db, big.name, proc.pid):
            time.sleep(0.005)
        time.sleep(delay)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        with loop.store() as store:  # whole or nothing, whenever the kill came
            posted = store.list_remits(RemitFilter(status="posted"))
            paid = sum(1 for c in loop.sim.outcomes if any(e.kind != "charge" for e in store.ledger("riverside", c)))
            assert (len(posted), paid) in (
                (0, 0),
                (1, len([o for o in loop.sim.outcomes.values() if o != "rejected_277"])),
            )
            before_commit += not posted
        if posted:
            break
    process(loop.config, tmp_path / "posting", big, code=None)
    print(f"kill -9 while posting: {before_commit} kills before the commit")
    edi = {c["claim_id"]: c["paid"] for c in edi_view(big)}
    with loop.store() as store:
        (posted,) = store.list_remits(RemitFilter(status="posted"))
        detail = store.remit(posted.id)
        assert len(detail.claims) == len(edi) and {c.outcome for c in detail.claims} == {"posted"}
        for clm01, paid in edi.items():
            story = store.claim_story("riverside", clm01)
            assert len(story.remit_claims) == 1, clm01  # posted exactly once
            total, _ = claim_money(story.ledger)
            assert total.paid == paid and len([e for e in story.ledger if e.kind == "charge"]) == 2
            assert_balanced(total)


def _held(db: Path, name: str, pid: int) -> bool:
    """Whether a worker of process ``pid`` holds the message ``name`` (it is being read and posted)."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
        row = conn.execute("SELECT claimed_by FROM messages WHERE name = ? AND status = 'received'", (name,)).fetchone()
    return bool(row and row[0] and f":{pid}:" in row[0])


def test_a_response_message_reprocessed_posts_nothing_twice_and_reports_once(loop: Loop) -> None:
    post_all(loop)
    remit = loop.sim.remits[0]
    elsewhere = remit.model_copy(update={
        "payee": remit.payee.model_copy(update={"npi": "1003000126", "id": "1003000126", "tax_id": None}),
        "payment": remit.payment.model_copy(update={"trace_number": "ELSEWHERE2"}),
    })  # fmt: skip
    stray = write_remit(loop.root / "stray.835.x12", [elsewhere], control=781000001)
    process(loop.config, loop.root / "stray", stray)
    with loop.store() as store:
        before = {c: store.ledger("riverside", c) for c in loop.sim.outcomes}
        msgs = {m.name: m.id for m in store.list_messages(MessageFilter(limit=50))}
        unmatched = len(store.unmatched())
    runner = CliRunner()
    first_835 = loop.files("835")[0].name
    for name in (first_835, "stray.835.x12"):
        args = ["messages", "reprocess", str(msgs[name]), "--config", str(loop.config)]
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, result.output
    for out in ("answers-2", "stray"):  # each run takes up its own lane's reprocessed messages
        process(loop.config, loop.root / out)
    with loop.store() as store:
        assert {c: store.ledger("riverside", c) for c in loop.sim.outcomes} == before
        rows = {m.name: m for m in store.list_messages(MessageFilter(limit=50))}
        assert rows[first_835].status == "duplicate"
        assert [f["rule"] for f in rows[first_835].findings] == ["GW-RESPONSE-POSTED"]
        assert len(store.unmatched()) == unmatched  # the stray remit's claims are reported once, not twice
        assert len(store.list_remits(RemitFilter(status="unmatched"))) == 1
