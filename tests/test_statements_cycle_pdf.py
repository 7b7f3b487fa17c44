"""Statements after insurance (statement cycles): what the PDF says, read
back with pypdf — every amount of every line, both insurers' payments, the
patient's share in plain words, credits, the dunning message, the final
notice and the aging counted from the first billed date."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from gateway_plugins.renderers.statements.layout import money, us_date

from gateway.app import Gateway
from gateway.cycles import AccountFacts, Decision, LedgerMismatch, account_lines, cycle_statement, finish
from gateway.documents import MemoryControlNumbers, RenderContext
from gateway.model import Address, Guarantor, Patient, PersonName, Statement
from tests.statements_pdfcheck import check_statement_pdf, pdf_text

D = Decimal
AS_OF = date(2026, 6, 1)
CREATED = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Adj:
    """An item's adjustment (gateway.store.accounts.ItemAdjustment's shape)."""

    payer_seq: int
    group: str
    reason: str
    amount: Decimal
    words: str


@dataclass
class Item:
    """An account item as AccountStore shows one (gateway.cycles.AccountItemLike)."""

    key: str
    service_date: date
    description: str
    charge: Decimal
    insurance_paid: Decimal
    adjustments: Decimal
    patient_paid: Decimal
    patient_balance: Decimal
    pending: Decimal = Decimal("0.00")
    kind: str = "claim"
    first_billed: date | None = None
    adjustment_detail: list[Adj] = field(default_factory=list)
    last_payer_seq: int | None = 2


def _pr(seq: int, *reasons: tuple[str, str, str]) -> list[Adj]:
    return [Adj(seq, "CO", "45", D("1.00"), "fee schedule")] + [Adj(seq, "PR", r, D(a), w) for r, w, a in reasons]


ITEMS = [
    # two insurers paid; the secondary (the last payer) left a deductible and coinsurance
    Item("V2001", date(2026, 3, 2), "Office visit, established patient", D("250.00"), D("170.00"), D("40.00"),
         D("20.00"), D("20.00"), first_billed=date(2026, 3, 25),
         adjustment_detail=_pr(1, ("1", "deductible", "60.00")) + _pr(2, ("1", "deductible", "25.00"),
                                                                        ("2", "coinsurance", "15.00"))),
    # one insurer; a copay collected at the visit; nothing left
    Item("V2002", date(2026, 4, 6), "Flu vaccine", D("80.00"), D("45.00"), D("10.00"), D("25.00"), D("0.00"),
         adjustment_detail=_pr(1, ("3", "copay", "25.00")), last_payer_seq=1),
    # a copay larger than the share: a credit on this claim
    Item("V2003", date(2026, 4, 20), "Office visit, new patient", D("180.00"), D("120.00"), D("40.00"),
         D("30.00"), D("-10.00"), first_billed=date(2026, 5, 10), adjustment_detail=_pr(1, ("3", "copay", "20.00")),
         last_payer_seq=1),
    # still at the insurer: shown, not due
    Item("V2004", date(2026, 5, 18), "Lab panel", D("95.00"), D("0.00"), D("0.00"), D("0.00"), D("0.00"),
         pending=D("95.00"), last_payer_seq=None),
]  # fmt: skip
PAID_BY = {
    "V2001": [(1, "Example Health Plan", D("150.00")), (2, "Example Medicaid", D("20.00"))],
    "V2002": [(1, "Example Health Plan", D("45.00"))],
    "V2003": [(1, "Example Health Plan", D("120.00"))],
}
WHO = PersonName(family="Rivera", given="Ana")


def _statement(gw: Gateway, items=ITEMS, decision: Decision | None = None, credit: str = "0.00") -> Statement:
    lines = account_lines(items, PAID_BY, AS_OF)
    patient = Patient(id="P77", name=WHO)
    home = Address(lines=["12 Elm Street"], city="Springfield", state="IL", postal_code="627010042")
    guarantor = Guarantor(name=WHO, address=home, relationship="self", account_number="G-5512")
    draft = cycle_statement("riverside", "G-5512", patient, guarantor, lines, AS_OF, 30, D(credit))
    return finish(draft, decision or Decision("statement", "first statement"))


def _pdf(gw: Gateway, st: Statement) -> bytes:
    renderer = gw.registries.renderers["pdf"][0]
    ctx = RenderContext(CREATED, gw.config, MemoryControlNumbers(), renderer.settings_model(), gw.clinics)
    (doc,) = renderer.render([st], ctx)
    return doc.content


def test_post_insurance_statement_reads_back_with_every_amount(example_gateway: Gateway) -> None:
    st = _statement(example_gateway)
    assert st.total_due == D("10.00") and st.total_pending == D("95.00")  # 20.00 + 0.00 - 10.00 credit
    text = check_statement_pdf(_pdf(example_gateway, st), st)
    # both insurers and the patient's share in plain words, with their amounts
    assert "Paid by: Example Health Plan 150.00; Example Medicaid 20.00" in text
    assert "Your share: deductible 25.00; coinsurance 15.00" in text  # the last payer's PR only
    assert "deductible 60.00" not in text
    assert "Your share: copay 25.00" in text and "Your share: copay 20.00" in text
    assert "-10.00" in text  # the credit on V2003 is printed, not absorbed
    assert "Lab panel (insurance pending)" in text and "Awaiting insurance $95.00" in text
    assert "Aging counts from the date you were first billed" in text
    # aging from first billed: V2001 billed 03/25 (68 days: 61-90), V2003 05/10 (22 days: current)
    assert (st.aging.current, st.aging.days_61_90) == (D("-10.00"), D("20.00"))
    aging = "Current -$10.00 31-60 days $0.00 61-90 days $20.00 Over 90 days $0.00 Total due $10.00"
    assert aging in text.replace("\n", " ")
    assert sum((st.aging.current, st.aging.days_31_60, st.aging.days_61_90, st.aging.over_90), D(0)) == st.total_due


def test_final_notice_with_dunning_message(example_gateway: Gateway) -> None:
    decision = Decision("final_notice", "95 days", 95, 2, "Second reminder: {amount_due} is now past due.")
    st = _statement(example_gateway, ITEMS[:1], decision)
    assert st.notice == "final"
    text = check_statement_pdf(_pdf(example_gateway, st), st)
    assert "FINAL NOTICE" in text
    assert f"Second reminder: ${money(st.total_due)} is now past due." in text
    assert f"If ${money(st.total_due)} is not paid by {us_date(st.due_date)}" in text
    assert "collection agency" in text


def test_an_account_credit_is_shown_and_nothing_is_asked(example_gateway: Gateway) -> None:
    st = _statement(example_gateway, ITEMS[1:3], credit="5.00")  # 0.00 - 10.00 - 5.00 unapplied
    assert st.total_due == D("-15.00") and st.amount_due == D("0.00")
    _, pages = pdf_text(_pdf(example_gateway, st))
    text = "\n".join(pages)
    assert "Credit on your account -$5.00" in text and "Total due $0.00" in text
    assert "You have a credit of $15.00 with us" in text


def test_a_line_that_disagrees_with_the_ledger_is_refused() -> None:
    bad = Item("V9", date(2026, 3, 2), "Visit", D("100.00"), D("60.00"), D("10.00"), D("0.00"), D("25.00"))
    with pytest.raises(
        LedgerMismatch, match=r"claim V9: .* = 30\.00, but the account ledger says 0\.00 pending and 25\.00"
    ):
        account_lines([bad], {}, AS_OF)
    unpaid = Item("V8", date(2026, 3, 2), "Visit", D("100.00"), D("60.00"), D("10.00"), D("0.00"), D("30.00"))
    with pytest.raises(LedgerMismatch, match="insurers' payments do not add up"):
        account_lines([unpaid], {"V8": [(1, "A", D("50.00"))]}, AS_OF)


def test_facts_are_a_value() -> None:
    assert AccountFacts(D("1.00"), None, "h") == AccountFacts(D("1.00"), None, "h")


def test_statements_json_carries_the_same_content(example_gateway: Gateway) -> None:
    st = _statement(example_gateway)
    renderer = example_gateway.registries.renderers["statements-json"][0]
    (doc,) = renderer.render([st], RenderContext(CREATED, example_gateway.config, MemoryControlNumbers()))
    (back,) = json.loads(doc.content)["statements"]
    assert Statement.model_validate(back) == st  # every amount survives, as two-decimal strings
    first = back["lines"][0]
    assert first["paid_by"] == [{"payer_seq": 1, "payer_name": "Example Health Plan", "amount": "150.00"},
                                {"payer_seq": 2, "payer_name": "Example Medicaid", "amount": "20.00"}]  # fmt: skip
    assert [(p["words"], p["amount"]) for p in first["patient_share"]] == [
        ("deductible", "25.00"),
        ("coinsurance", "15.00"),
    ]
    assert back["aging_from"] == "first_billed" and first["first_billed"] == "2026-03-25"
