"""Guarantor accounts end to end: claims out with `gateway process`, the
payer simulator's real 835s (checked by pyx12) back in, the patient's share
on each guarantor account; then `gateway payments import` and the account
commands on the same store."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli import cli as main
from gateway.store import FILE_NAME, Store, open_store
from tests.accounts_helpers import D, assert_account_balances
from tests.posting_helpers import Loop, claims_out, process
from tests.x12check import assert_valid_x12

CLINIC = "riverside"


@pytest.fixture(scope="module")
def posted(tmp_path_factory: pytest.TempPathFactory) -> Loop:
    """Seven visits billed and every answer posted (999, 277CA, 835)."""
    loop = claims_out(tmp_path_factory.mktemp("accounts"), 7)
    for n, kind in enumerate(("999", "277CA", "835")):
        for f in loop.files(kind):
            assert_valid_x12(f.read_bytes(), kind.rstrip("CA"))
        process(loop.config, loop.root / f"answers-{n}", *loop.files(kind))
    return loop


def _pr(store: Store, clm01: str) -> Decimal:
    return sum((e.amount for e in store.ledger(CLINIC, clm01) if e.kind == "adjustment" and e.group == "PR"),
               Decimal("0.00"))  # fmt: skip


def test_every_claim_left_with_a_patient_share_is_billed_to_its_guarantor_account(posted: Loop) -> None:
    with posted.store() as store:
        outcomes = posted.sim.outcomes
        shared = [c for c, o in outcomes.items() if o in ("coinsurance", "deductible", "copay") and _pr(store, c) > 0]
        assert shared, outcomes  # the simulator's run shows patient shares
        for clm01 in outcomes:
            account = store.account_of(CLINIC, clm01)
            assert account, clm01  # stored with the claim
            view = store.account(CLINIC, account)
            assert_account_balances(view)
            (item,) = [i for i in view.items if i.key == clm01]
            status = store.submissions("claims", CLINIC, clm01)[-1].status
            if clm01 in shared:
                assert item.patient_responsibility == _pr(store, clm01)
                assert status == "patient_due" and item.patient_balance == item.patient_responsibility
                assert item.pending == 0
            elif outcomes[clm01] in ("contractual", "paid_in_full"):
                assert status == "closed" and item.patient_responsibility == 0
        due = {d.account: d.balance for d in store.accounts_due(CLINIC)}
        assert sum(due.values()) == sum((_pr(store, c) for c in shared), Decimal("0.00"))


def test_the_accounts_hold_no_names(posted: Loop) -> None:
    with posted.store() as store, store.read() as cur:
        cur.execute("SELECT * FROM account_ledger")
        text = repr(cur.fetchall())
    for name in ("DOE", "Doe", "JANE", "Jane"):
        assert name not in text


def cli(loop: Loop, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, [*args, "--config", str(loop.config)])
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result.output


def test_claims_show_gives_the_whole_claim_and_keeps_the_submission_fields(posted: Loop) -> None:
    with posted.store() as store:
        (clm01,) = [c for c, o in sorted(posted.sim.outcomes.items()) if o == "coinsurance"][:1]
        pr = _pr(store, clm01)
    out = json.loads(cli(posted, "claims", "show", clm01, "--json"))
    whole = out["whole_claim"]
    assert (
        out["status"] == "patient_due" and out["patient_responsibility"] == f"{pr:.2f}"
    )  # the submission's, as before
    assert whole["patient_responsibility"] == f"{pr:.2f}" and whole["patient_balance"] == f"{pr:.2f}"
    assert D(whole["insurance_paid"]) == D(out["paid"]) and whole["pending_at_insurer"] == "0.00"
    assert {a["words"] for a in whole["adjustment_detail"] if a["group"] == "PR"} == {"coinsurance"}
    assert D(whole["charge"]) == D(whole["insurance_paid"]) + D(whole["adjustments"]) + D(whole["patient_balance"])
    assert f"patient balance {pr:.2f}" in cli(posted, "claims", "show", clm01)


def test_ar_has_a_patient_column_and_says_what_it_ages_from(posted: Loop) -> None:
    with posted.store() as store:
        owed = sum((d.balance for d in store.accounts_due(CLINIC)), D("0.00"))
    report = json.loads(cli(posted, "ar", "--format", "json"))
    assert report["ages_from"] == "delivered" and "delivered date" in report["note"]
    (total,) = [r for r in report["rows"] if r["payer"] == "*" and r["clinic"] == CLINIC]
    assert D(total["patient"]) == owed > 0
    text = cli(posted, "ar")
    assert "age from the claim's delivered date" in text and f"{owed:.2f}" in text


def test_payments_import_oldest_first_named_claim_bad_rows_and_twice(posted: Loop, tmp_path: Path) -> None:
    with posted.store() as store:
        (due,) = store.accounts_due(CLINIC)
        view = store.account(CLINIC, due.account)
    owing = [i for i in view.items if i.patient_balance > 0]
    assert len(owing) >= 2, view.items
    first, second = owing[0], owing[-1]
    bad = tmp_path / "bad.csv"
    bad.write_text("clinic,account,date,amount,method,reference,claim\n"
                   f"{CLINIC},{due.account},2026-11-20,5.00,check,CHK-1,\n"
                   f"{CLINIC},NO-SUCH,2026-11-20,5.00,check,CHK-2,\n"
                   f"{CLINIC},{due.account},2026-13-01,abc,check,CHK-3,\n")  # fmt: skip
    err = cli(posted, "payments", "import", str(bad), code=1)
    assert "nothing posted" in err and "bad.csv: line 4: amount 'abc' is not a positive amount" in err
    assert "; date '2026-13-01' is not a date (YYYY-MM-DD)" in err
    bad.write_text("clinic,account,date,amount,method,reference\n"
                   f"{CLINIC},NO-SUCH,2026-11-20,5.00,check,CHK-2\n")  # fmt: skip
    err = cli(posted, "payments", "import", str(bad), code=1)
    assert f"bad.csv: line 2: clinic {CLINIC} has no account NO-SUCH" in err
    with posted.store() as store:
        assert store.account(CLINIC, due.account).payments == view.payments  # nothing posted
    # oldest first: the first item's whole balance and 1.00 of the next; then 2.00 to the named (last) claim
    good = tmp_path / "lockbox.csv"
    amount = first.patient_balance + D("1.00")
    good.write_text("clinic,account,date,amount,method,reference,claim\n"
                    f"{CLINIC},{due.account},2026-11-20,{amount},check,CHK-10,\n"
                    f"{CLINIC},{due.account},2026-11-21,2.00,portal,WEB-11,{second.key}\n")  # fmt: skip
    out = json.loads(cli(posted, "payments", "import", str(good), "--json"))
    assert [(a["item"], D(a["amount"])) for a in out["posted"][0]["applied"]] == [
        (first.key, first.patient_balance),
        (owing[1].key, D("1.00")),
    ]
    assert out["posted"][1]["applied"] == [{"item": second.key, "amount": "2.00"}]
    assert {"clinic": CLINIC, "claim": first.key} in out["closed"]
    again = json.loads(cli(posted, "payments", "import", str(good), "--json"))
    assert again["posted"] == [] and [d["reference"] for d in again["duplicates"]] == ["CHK-10", "WEB-11"]
    assert "posted before, skipped" in cli(posted, "payments", "import", str(good))
    shown = json.loads(cli(posted, "accounts", "show", due.account, "--clinic", CLINIC, "--json"))
    assert D(shown["balance"]) == due.balance - amount - D("2.00")
    assert sorted(p["reference"] for p in shown["payments"]) == ["CHK-10", "CHK-10", "WEB-11"]
    text = json.dumps(shown) + cli(posted, "accounts", "show", due.account, "--clinic", CLINIC)
    assert "TESTPATIENT" not in text and "Vendor Plaza" not in text  # ids and amounts only
    with posted.store() as store:
        assert store.submissions("claims", CLINIC, first.key)[-1].status == "closed"
        assert_account_balances(store.account(CLINIC, due.account))
        with store.read() as cur:
            cur.execute("SELECT detail FROM audit WHERE action = 'payments-import' ORDER BY id")
            audit = [json.loads(r[0]) for r in cur.fetchall()]
    assert [(a["posted"], a["duplicates"]) for a in audit] == [(2, []), (0, ["CHK-10", "WEB-11"]),
                                                               (0, ["CHK-10", "WEB-11"])]  # fmt: skip
    assert cli(posted, "accounts", "credits").startswith("no account in credit")
    assert "small balances off" in cli(posted, "accounts", "write-off-small")


def test_write_off_small_uses_the_clinics_small_balance_setting(posted: Loop) -> None:
    with posted.store() as store:
        (due,) = store.accounts_due(CLINIC)
        owing = [i.key for i in store.account(CLINIC, due.account).items if i.patient_balance > 0]
    assert 0 < due.balance <= 1000 and owing
    text = posted.config.read_text()
    anchor = "        logo: statements/riverside-logo.png\n"
    assert anchor in text
    below = due.balance - D("0.01")
    posted.config.write_text(text.replace(anchor, anchor + f'        cycle:\n          small_balance: "{below}"\n'))
    assert f"at or under {below}: 0 item(s)" in cli(posted, "accounts", "write-off-small", "--clinic", CLINIC)
    posted.config.write_text(
        text.replace(anchor, anchor + f'        cycle:\n          small_balance: "{due.balance}"\n')
    )
    out = json.loads(cli(posted, "accounts", "write-off-small", "--clinic", CLINIC, "--json"))
    assert out["thresholds"] == {CLINIC: f"{due.balance:.2f}"}
    assert sum((D(w["amount"]) for w in out["written_off"]), D("0")) == due.balance
    assert sorted(w["item"] for w in out["written_off"]) == sorted(owing)
    with posted.store() as store:
        view = store.account(CLINIC, due.account)
        assert view.balance == 0 and store.accounts_due(CLINIC) == []
        assert {store.submissions("claims", CLINIC, k)[-1].status for k in owing} == {"closed"}
        assert_account_balances(view)
        with store.read() as cur:
            cur.execute("SELECT detail FROM audit WHERE action = 'account-write-off'")
            (audit,) = [json.loads(r[0]) for r in cur.fetchall()]
    assert audit["amount"] == f"{due.balance:.2f}" and audit["account_number"] == due.account
    posted.config.write_text(text)


def test_a_copay_split_between_the_self_pay_statement_and_the_claim_is_posted_once(tmp_path: Path) -> None:
    """An insured visit with a self-pay line and a copay above the insured line's charge: the copay shows on
    the insured line first, the rest on the self-pay line (the statement made at intake posts that rest), so
    the claim applies only its own part. Every cent of the copay lands on the account once."""
    from gateway_plugins.inbound.x12_responses.simulate import simulate_payer

    from gateway.examples import FIXTURES, write_example_deployment

    data = json.loads((FIXTURES / "encounters" / "riverside-insured-selfpay-line.json").read_text())
    (enc,) = data["encounters"]
    copay = D("180.00")  # insured line 165.00 + 15.00 of the 25.00 self-pay line
    encounters = []
    for n in range(6):  # the simulator answers one with a 277CA rejection, then denied, reversed, deductible, ...
        e = json.loads(json.dumps(enc))
        e["id"], e["patient"]["id"], e["patient_paid"] = f"V1000{n}", f"MRN-COPAY-{n}", str(copay)
        encounters.append(e)
    data["encounters"] = encounters
    visit = tmp_path / "visits" / "copay.json"
    visit.parent.mkdir()
    visit.write_text(json.dumps(data))
    config = write_example_deployment(tmp_path / "deploy")
    process(config, tmp_path / "out", visit)
    x12 = sorted((tmp_path / "out" / "claims-out").glob("*.x12"))
    sim = simulate_payer(x12, tmp_path / "responses")
    for n, kind in enumerate(("999", "277CA", "835")):
        process(config, tmp_path / f"answers-{n}", *sorted((tmp_path / "responses").glob(f"*.{kind}.*")))
    answered = [c for c, o in sim.outcomes.items() if o in ("deductible", "coinsurance")]
    assert len(answered) >= 2, sim.outcomes
    with open_store(config.parent / "state" / FILE_NAME) as store:
        for clm01 in answered:
            view = store.account(CLINIC, store.account_of(CLINIC, clm01))
            assert_account_balances(view)
            visit_paid = sum((e.amount for e in view.entries if e.kind == "payment" and e.source == "visit"), D("0"))
            assert visit_paid == copay, [(e.kind, e.amount, e.reference, e.note) for e in view.entries]
            (statement,) = [i for i in view.items if i.kind == "self_pay"]
            assert statement.patient_paid == D("15.00") and statement.patient_balance == D("10.00")
            (claim,) = [i for i in view.items if i.key == clm01]
            # the claim's part of the copay (165.00) pays its patient share; what is above it is a credit
            assert claim.patient_responsibility > 0 and claim.patient_paid == min(
                D("165.00"), claim.patient_responsibility
            )
            assert view.balance == statement.patient_balance + claim.patient_balance - (
                D("165.00") - claim.patient_paid
            )
