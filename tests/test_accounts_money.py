"""No money is created or lost on the patient side (issue 14): random
adjudications (first answers and corrections, with PR deductible,
coinsurance and copay), visit copays, payment imports (oldest first or to a
named claim, some twice) and small-balance write-offs, on a real store.
After every operation the whole account ledger moved by exactly what the
operation says, every account balance is charges + responsibilities −
payments − write-offs (+ refunds), every claim's whole view adds up, and
each claim's patient responsibility is its payer's PR."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gateway.store import Store, open_store
from gateway.store.accounts import PatientPayment
from tests.accounts_helpers import CLINIC, Books, D, assert_account_balances, ledger_total
from tests.pg import pg_schema

CENTS = st.integers(min_value=0, max_value=20_000).map(lambda c: D(c) / 100)


@dataclass
class Bill:
    clm01: str
    account: str
    charges: list[Decimal]
    copay: Decimal


@dataclass
class Answer:
    clm01: str
    #: shares of the charge in 1/100: paid, CO, PR (the rest of 100 goes to CO)
    paid: int
    pr: int
    reason: str


@dataclass
class Reverse:
    """The payer takes its last answer for the claim back (CLP02 = 22)."""

    clm01: str


@dataclass
class Pay:
    account: str
    amount: Decimal
    reference: str
    claim: str | None


@dataclass
class WriteOff:
    threshold: Decimal


CLAIMS = ("A1", "A2", "B1", "B2")


def _ops() -> st.SearchStrategy[list[object]]:
    """Every claim billed first, then random answers, reversals, payments and write-offs."""
    bills = st.tuples(*(st.builds(
        Bill, clm01=st.just(c), account=st.just(""), charges=st.lists(CENTS.filter(lambda c: c > 0), min_size=1,
                                                                      max_size=3),
        copay=st.sampled_from([D("0.00"), D("10.00"), D("25.00"), D("60.00")]),
    ) for c in CLAIMS))  # fmt: skip
    answers = st.builds(
        Answer, clm01=st.sampled_from(CLAIMS), paid=st.integers(0, 100), pr=st.integers(0, 100),
        reason=st.sampled_from(["1", "2", "3"]),
    )  # fmt: skip
    pays = st.builds(
        Pay, account=st.sampled_from(["ACC-A", "ACC-A", "ACC-B", "NOBODY"]),
        amount=st.integers(1, 8000).map(lambda c: D(c) / 100),
        reference=st.sampled_from(["R1", "R2", "R3", "R4", "R5"]), claim=st.sampled_from([None, None, "A1", "B2"]),
    )  # fmt: skip
    offs = st.builds(WriteOff, threshold=st.sampled_from([D("0.00"), D("5.00"), D("50.00")]))
    reversals = st.builds(Reverse, clm01=st.sampled_from(CLAIMS))
    rest = st.lists(st.one_of(answers, answers, answers, pays, pays, offs, reversals), min_size=1, max_size=14)
    return st.tuples(bills, rest).map(lambda t: [*t[0], *t[1]])


class Run:
    """Operations on one store, each checked against what it must move."""

    def __init__(self, store: Store) -> None:
        self.books = Books(store)
        self.store = store
        self.billed: dict[str, Bill] = {}
        self.copaid: set[str] = set()
        self.responsibility: dict[str, Decimal] = {}
        self.refs: set[str] = set()
        #: each claim's payer answer standing (paid, adjustments), for a reversal
        self.answered: dict[str, tuple[Decimal, list[tuple[str, str, Decimal]]]] = {}

    def apply(self, op: object) -> None:
        before = ledger_total(self.store)
        expected = D("0.00")
        if isinstance(op, Bill):
            if op.clm01 in self.billed:
                return
            op.account = "ACC-A" if op.clm01.startswith("A") else "ACC-B"
            self.books.bill(op.clm01, op.charges, op.account, op.copay or None)
            self.billed[op.clm01] = op
        elif isinstance(op, Answer):
            bill = self.billed.get(op.clm01)
            if bill is None:
                return
            charge = sum(bill.charges, D("0.00"))
            paid = (charge * op.paid / 100).quantize(D("0.01"))
            pr = min((charge * op.pr / 100).quantize(D("0.01")), charge - paid)
            co = charge - paid - pr
            adjustments = [(g, r, a) for g, r, a in (("CO", "45", co), ("PR", op.reason, pr)) if a]
            self.books.remit(op.clm01, paid, adjustments)
            self.answered[op.clm01] = (paid, adjustments)
            if not paid and not pr:  # a denial: the patient owes nothing (what they paid stays, a credit)
                expected = -self.responsibility.pop(op.clm01, D("0.00"))
            else:
                expected = pr - self.responsibility.get(op.clm01, D("0.00"))
                self.responsibility[op.clm01] = pr
                if op.clm01 not in self.copaid:
                    self.copaid.add(op.clm01)
                    expected -= bill.copay
        elif isinstance(op, Reverse):
            if op.clm01 not in self.answered:
                return
            paid, adjustments = self.answered.pop(op.clm01)
            charge = sum(self.billed[op.clm01].charges, D("0.00"))
            self.books.remit(op.clm01, -paid, [(g, r, -a) for g, r, a in adjustments], status="22", charge=-charge)
            expected = -self.responsibility.pop(op.clm01, D("0.00"))
            assert self.books.status(op.clm01) == "reversed"
            item = self.store.claim_view(CLINIC, op.clm01)
            assert item is not None and item.pending == charge and item.patient_responsibility == 0
        elif isinstance(op, Pay):
            known = any(b.account == op.account for b in self.billed.values())
            claim_ok = op.claim is None or (op.claim in self.billed and self.billed[op.claim].account == op.account)
            row = PatientPayment(2, CLINIC, op.account, date(2026, 11, 20), op.amount, "check", op.reference, op.claim)
            if not (known and claim_ok):
                with pytest.raises(Exception, match="line 2"):
                    self.store.post_payments([row], "prop")
            else:
                result = self.store.post_payments([row], "prop")
                if op.reference in self.refs:
                    assert result.posted == [] and result.duplicates == [row]
                else:
                    assert sum((a for _, a in result.posted[0].parts), D("0")) == op.amount
                    expected = -op.amount
                    self.refs.add(op.reference)
        elif isinstance(op, WriteOff):
            done = self.store.write_off_small(CLINIC, op.threshold, "prop", date(2026, 11, 30))
            assert all(0 < w.amount <= op.threshold for w in done)
            expected = -sum((w.amount for w in done), D("0.00"))
        assert ledger_total(self.store) - before == expected, op
        event(f"{type(op).__name__} moved money" if expected else f"{type(op).__name__} moved nothing")
        self.check()

    def check(self) -> None:
        for account in sorted({b.account for b in self.billed.values()}):
            view = self.store.account(CLINIC, account, date(2026, 11, 30))
            assert view is not None
            assert_account_balances(view)
            kinds: dict[str, Decimal] = {}
            for e in view.entries:
                kinds[e.kind] = kinds.get(e.kind, D("0")) + e.amount
            g = kinds.get
            z = D("0")
            assert view.balance == (g("charge", z) + g("responsibility", z) - g("payment", z) - g("write_off", z)
                                    + g("refund", z))  # fmt: skip
            for item in view.items:
                assert item.patient_responsibility == self.responsibility.get(item.key, D("0.00"))
                status = self.books.status(item.key)
                if item.key in self.responsibility:
                    assert status == ("patient_due" if item.patient_balance > 0 else "closed"), (item, status)
        credits = {c.account: c.credit for c in self.store.credits(CLINIC)}
        for account, credit in credits.items():
            view = self.store.account(CLINIC, account, date(2026, 11, 30))
            assert view is not None and view.balance == -credit


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=_ops())
def test_money_is_conserved_on_sqlite(tmp_path_factory: pytest.TempPathFactory, ops: list[object]) -> None:
    path: Path = tmp_path_factory.mktemp("money") / "gateway.sqlite"
    with open_store(path) as store:
        run = Run(store)
        for op in ops:
            run.apply(op)


@settings(max_examples=6, deadline=None)
@given(ops=_ops())
def test_money_is_conserved_on_postgresql(ops: list[object]) -> None:
    with pg_schema() as url, open_store(url) as store:
        run = Run(store)
        for op in ops:
            run.apply(op)


def test_the_same_import_run_twice_at_once_on_postgresql_posts_once() -> None:
    with pg_schema() as url:
        with open_store(url) as store:
            books = Books(store)
            books.bill("P1", [D("100.00")], "ACC-P")
            books.remit("P1", D("50.00"), [("PR", "1", D("50.00"))])
        rows = [PatientPayment(i + 2, CLINIC, "ACC-P", date(2026, 11, 20), D("7.00"), "portal", f"WEB{i}")
                for i in range(5)]  # fmt: skip
        results: list[object] = []
        barrier = threading.Barrier(4)

        def node() -> None:
            with open_store(url) as s:
                barrier.wait()
                results.append(s.post_payments(rows, "node"))

        threads = [threading.Thread(target=node) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(results) == 4
        assert sorted(len(r.posted) for r in results) == [0, 0, 0, 5]  # type: ignore[attr-defined]
        with open_store(url) as store:
            assert ledger_total(store) == D("50.00") - D("35.00")
            (item,) = store.account(CLINIC, "ACC-P").items
            assert item.patient_paid == D("35.00") and item.patient_balance == D("15.00")
