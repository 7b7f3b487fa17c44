"""Guarantor accounts (gateway/store/accounts.py) against both backends:
the patient's share billed when the last payer answers, visit copays,
credits, self-pay statements, the whole-claim view, payments and write-offs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from gateway.store import Store, open_store
from gateway.store.accounts import AccountError, PatientPayment
from tests.accounts_helpers import CLINIC, SERVICE, Books, D, assert_account_balances, ledger_total
from tests.pg import store_url  # noqa: F401  (fixture: one URL per backend)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:  # noqa: F811
    s = open_store(store_url)
    yield s
    s.close()


@pytest.fixture
def books(store: Store) -> Books:
    return Books(store)


def pay(line: int, account: str, amount: str, reference: str, claim: str | None = None) -> PatientPayment:
    return PatientPayment(line, CLINIC, account, date(2026, 11, 20), D(amount), "check", reference, claim)


def test_a_primary_835_with_pr_coinsurance_and_no_other_coverage_bills_the_patient(books: Books) -> None:
    books.bill("C1", [D("100.00"), D("50.00")])
    books.remit("C1", D("96.00"), [("CO", "45", D("30.00")), ("PR", "2", D("24.00"))])
    assert books.status("C1") == "patient_due"
    view = books.store.account(CLINIC, "ACC1")
    assert view is not None
    (item,) = view.items
    assert (item.key, item.kind, item.service_date) == ("C1", "claim", SERVICE)
    assert item.charge == D("150.00") and item.insurance_paid == D("96.00")
    assert item.patient_responsibility == D("24.00") and item.patient_balance == D("24.00")
    assert item.adjustments == D("30.00") and item.pending == 0 and item.first_billed is None
    words = {(a.group, a.reason): a.words for a in item.adjustment_detail}
    assert words[("PR", "2")] == "coinsurance" and "fee" in words[("CO", "45")]
    assert [(e.kind, e.amount) for e in view.entries] == [("responsibility", D("24.00"))]
    assert view.balance == D("24.00") and view.due == D("24.00")
    assert_account_balances(view)
    story = books.store.claim_story(CLINIC, "C1")
    assert [e.status for e in story.events if e.status][-1] == "patient_due"
    due = books.store.accounts_due(CLINIC)
    assert [(d.account, d.balance, d.unbilled) for d in due] == [("ACC1", D("24.00"), True)]


def test_no_patient_share_closes_the_claim_and_bills_nobody(books: Books) -> None:
    books.bill("C2", [D("80.00")])
    books.remit("C2", D("60.00"), [("CO", "45", D("20.00"))])
    assert books.status("C2") == "closed"
    view = books.store.account(CLINIC, "ACC1")
    assert view.entries == [] and view.balance == 0
    (item,) = view.items
    assert item.insurance_paid == D("60.00") and item.adjustments == D("20.00") and item.patient_balance == 0


def test_a_claim_not_answered_yet_is_pending_at_the_insurer_not_due(books: Books) -> None:
    books.bill("C3", [D("120.00")])
    view = books.store.account(CLINIC, "ACC1")
    (item,) = view.items
    assert item.pending == D("120.00") and item.patient_balance == 0 and view.due == 0
    assert books.store.accounts_due(CLINIC) == []
    assert_account_balances(view)


def test_a_copay_larger_than_the_final_share_leaves_a_credit_that_is_listed(books: Books) -> None:
    books.bill("C4", [D("100.00")], copay=D("40.00"))
    books.remit("C4", D("75.00"), [("CO", "45", D("10.00")), ("PR", "3", D("15.00"))])
    assert books.status("C4") == "closed"
    view = books.store.account(CLINIC, "ACC1")
    (item,) = view.items
    assert item.patient_responsibility == D("15.00") and item.patient_paid == D("15.00") and item.patient_balance == 0
    assert view.balance == D("-25.00") and view.credit == D("25.00") and view.unapplied == D("-25.00")
    assert [(e.kind, e.clm01, e.source, e.amount) for e in view.entries] == [
        ("responsibility", "C4", view.entries[0].source, D("15.00")),
        ("payment", "C4", "visit", D("15.00")),
        ("payment", None, "visit", D("25.00")),
    ]
    assert view.entries[0].source.startswith("835:") and view.entries[2].reference == "C4"
    assert [(c.account, c.credit) for c in books.store.credits(CLINIC)] == [("ACC1", D("25.00"))]
    assert_account_balances(view)


def test_a_copay_smaller_than_the_share_is_applied_once_even_when_the_payer_corrects(books: Books) -> None:
    books.bill("C5", [D("200.00")], copay=D("20.00"))
    books.remit("C5", D("150.00"), [("PR", "1", D("50.00"))])
    books.remit("C5", D("170.00"), [("PR", "1", D("30.00"))])  # a second 835: a correction
    view = books.store.account(CLINIC, "ACC1")
    (item,) = view.items
    assert item.patient_responsibility == D("30.00") and item.patient_paid == D("20.00")
    assert item.patient_balance == D("10.00") and item.insurance_paid == D("170.00")
    assert [e.kind for e in view.entries].count("payment") == 1
    assert books.status("C5") == "patient_due"
    assert_account_balances(view)


def test_a_self_pay_statement_posts_its_charges_and_visit_payment_once(books: Books) -> None:
    books.self_pay("S1", "ACC2", [(D("90.00"), D("30.00")), (D("10.00"), D("0.00"))])
    view = books.store.account(CLINIC, "ACC2")
    (item,) = view.items
    assert item.kind == "self_pay" and item.charge == D("100.00") and item.patient_paid == D("30.00")
    assert item.patient_balance == D("70.00") and item.first_billed == date(2026, 11, 5)
    assert [s.statement_id for s in view.statements] == ["S1"]
    assert_account_balances(view)


def test_payments_apply_oldest_first_or_to_the_named_claim_and_the_rest_is_a_credit(books: Books) -> None:
    books.bill("OLD", [D("100.00")], service=date(2026, 10, 1))
    books.bill("NEW", [D("100.00")], service=date(2026, 11, 1))
    books.remit("NEW", D("80.00"), [("PR", "2", D("20.00"))])
    books.remit("OLD", D("70.00"), [("PR", "1", D("30.00"))])
    result = books.store.post_payments([pay(2, "ACC1", "35.00", "CHK1")], "tester")
    assert [p for a in result.posted for p in a.parts] == [("OLD", D("30.00")), ("NEW", D("5.00"))]
    assert result.closed == [(CLINIC, "OLD")] and books.status("OLD") == "closed"
    result = books.store.post_payments([pay(2, "ACC1", "25.00", "CHK2", claim="NEW")], "tester")
    assert [p for a in result.posted for p in a.parts] == [("NEW", D("15.00")), (None, D("10.00"))]
    assert books.status("NEW") == "closed"
    view = books.store.account(CLINIC, "ACC1")
    assert view.balance == D("-10.00") and view.credit == D("10.00")
    assert_account_balances(view)


def test_a_bad_row_rejects_the_whole_import_with_line_numbers(books: Books) -> None:
    books.bill("C6", [D("100.00")])
    books.remit("C6", D("80.00"), [("PR", "2", D("20.00"))])
    before = ledger_total(books.store)
    with pytest.raises(AccountError) as err:
        books.store.post_payments(
            [pay(2, "ACC1", "5.00", "R1"), pay(3, "NOPE", "5.00", "R2"), pay(4, "ACC1", "5.00", "R3", claim="ZZ")],
            "tester",
        )
    assert err.value.problems == [
        f"line 3: clinic {CLINIC} has no account NOPE",
        f"line 4: clinic {CLINIC} has no claim ZZ",
    ]
    assert ledger_total(books.store) == before == D("20.00")


def test_the_same_payments_twice_post_once(books: Books) -> None:
    books.bill("C7", [D("100.00")])
    books.remit("C7", D("80.00"), [("PR", "2", D("20.00"))])
    rows = [pay(2, "ACC1", "5.00", "R1"), pay(3, "ACC1", "6.00", "R2")]
    first = books.store.post_payments(rows, "tester")
    again = books.store.post_payments(rows, "tester")
    assert len(first.posted) == 2 and first.duplicates == []
    assert again.posted == [] and [p.reference for p in again.duplicates] == ["R1", "R2"]
    assert ledger_total(books.store) == D("9.00")


def test_small_balances_are_written_off_and_audited(books: Books) -> None:
    books.bill("C8", [D("100.00")])
    books.remit("C8", D("96.00"), [("PR", "2", D("4.00"))])
    books.bill("C9", [D("100.00")], account="ACC9")
    books.remit("C9", D("50.00"), [("PR", "1", D("50.00"))])
    assert books.store.write_off_small(CLINIC, D("0.00"), "tester") == []
    done = books.store.write_off_small(CLINIC, D("5.00"), "tester")
    assert [(w.account, w.item, w.amount) for w in done] == [("ACC1", "C8", D("4.00"))]
    assert books.status("C8") == "closed" and books.status("C9") == "patient_due"
    view = books.store.account(CLINIC, "ACC1")
    (item,) = view.items
    assert item.written_off == D("4.00") and item.patient_balance == 0 and item.adjustments == D("4.00")
    assert_account_balances(view)


def test_mark_billed_sets_the_first_billed_day_once(books: Books) -> None:
    books.bill("C10", [D("100.00")])
    books.remit("C10", D("90.00"), [("PR", "2", D("10.00"))])
    assert books.store.mark_billed(CLINIC, "ACC1", ["C10"], "ST-1", date(2026, 12, 2)) == 1
    assert books.store.mark_billed(CLINIC, "ACC1", ["C10"], "ST-2", date(2026, 12, 9)) == 0
    view = books.store.account(CLINIC, "ACC1")
    assert view.items[0].first_billed == date(2026, 12, 2)
    assert [(s.statement_id, s.on) for s in view.statements] == [("ST-1", date(2026, 12, 2))]
    (due,) = books.store.accounts_due(CLINIC)
    assert due.first_billed == date(2026, 12, 2) and not due.unbilled


def test_accounts_are_read_as_of_a_day(books: Books) -> None:
    books.bill("C11", [D("100.00")])
    books.remit("C11", D("90.00"), [("PR", "2", D("10.00"))])
    assert books.store.account(CLINIC, "ACC1", date(2000, 1, 1)) is None
    assert books.store.account(CLINIC, "NOBODY") is None
    assert books.store.account_of(CLINIC, "C11") == "ACC1"


def test_a_reversal_takes_the_patients_share_back_and_leaves_what_they_paid_as_a_credit(books: Books) -> None:
    books.bill("C13", [D("100.00")])
    books.remit("C13", D("80.00"), [("PR", "2", D("20.00"))])
    books.store.post_payments([pay(2, "ACC1", "5.00", "R13")], "tester")
    books.remit("C13", D("-80.00"), [("PR", "2", D("-20.00"))], status="22", charge=D("-100.00"))
    assert books.status("C13") == "reversed"
    item = books.store.claim_view(CLINIC, "C13")
    assert item.patient_responsibility == 0 and item.patient_paid == D("5.00") and item.patient_balance == D("-5.00")
    assert item.pending == D("100.00") and item.insurance_paid == 0  # back at the payer: shown, not due
    view = books.store.account(CLINIC, "ACC1")
    assert view.balance == D("-5.00") and [c.credit for c in books.store.credits(CLINIC)] == [D("5.00")]
    assert [(e.kind, e.amount, e.note) for e in view.entries if e.kind == "responsibility"] == [
        ("responsibility", D("20.00"), None), ("responsibility", D("-20.00"), "reversed by the payer")
    ]  # fmt: skip
    assert_account_balances(view)


def test_a_replaced_self_pay_statement_moves_the_account_by_the_differences(books: Books) -> None:
    books.self_pay("S2", "ACC3", [(D("90.00"), D("30.00"))])
    (s,) = books.store.submissions("statements", CLINIC, "S2")
    books.store.record_transition("statements", s.row, "delivered", status="delivered")
    books.self_pay("S2", "ACC3", [(D("70.00"), D("30.00")), (D("15.00"), D("5.00"))])  # changed: held
    assert [x.status for x in books.store.submissions("statements", CLINIC, "S2")] == ["delivered", "held"]
    assert books.store.account(CLINIC, "ACC3").balance == D("60.00")  # held content moves nothing
    books.store.resolve("statements", CLINIC, "S2", "replace", "cli:alice")
    view = books.store.account(CLINIC, "ACC3")
    (item,) = view.items
    assert item.charge == D("85.00") and item.patient_paid == D("35.00") and view.balance == D("50.00")
    assert [(e.kind, e.amount) for e in view.entries][-2:] == [("charge", D("-5.00")), ("payment", D("5.00"))]
    assert_account_balances(view)
