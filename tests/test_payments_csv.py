"""Reading a patient payment CSV (gateway/payments.py, pure): every bad line
named at once, nothing returned when there is one."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from gateway.payments import read_payments
from gateway.reports import ar_aging
from gateway.store.accounts import AccountError

CLINICS = {"riverside", "lakeside"}


def problems(text: str) -> list[str]:
    with pytest.raises(AccountError) as err:
        read_payments(text, "pay.csv", CLINICS)
    return err.value.problems


def test_a_good_file_in_any_column_order_with_a_bom_and_an_optional_claim() -> None:
    rows = read_payments(
        "\ufeffReference,Amount,Clinic,Account,Date,Method,Claim\n"
        "CHK-1,35.00,riverside,G1,2026-12-01,check,\n"
        "WEB-2,5.5,lakeside,G2,2026-12-02,portal,BH1\n",
        "pay.csv", CLINICS,
    )  # fmt: skip
    assert [(r.line, r.clinic_id, r.account, r.on, r.amount, r.method, r.reference, r.claim) for r in rows] == [
        (2, "riverside", "G1", date(2026, 12, 1), Decimal("35.00"), "check", "CHK-1", None),
        (3, "lakeside", "G2", date(2026, 12, 2), Decimal("5.50"), "portal", "WEB-2", "BH1"),
    ]


def test_missing_and_unknown_columns_are_named_on_line_1() -> None:
    assert problems("clinic,account,date,amount,reference,memo\n") == [
        "pay.csv: line 1: missing column(s) method",
        "pay.csv: line 1: unknown column(s) memo (columns: clinic, account, date, amount, method, reference, claim)",
    ]
    assert problems("") == ["pay.csv: line 1: an empty file (the header must name clinic, account, date, amount, "
                            "method, reference)"]  # fmt: skip


def test_every_bad_line_is_named_with_its_csv_line_number() -> None:
    text = (
        "clinic,account,date,amount,method,reference\n"
        "riverside,G1,2026-12-01,10.00,check,OK-1\n"
        "mars,G1,2026-12-01,10.00,check,R2\n"
        'riverside,"G\n1",2026-12-01,-3,check,R3\n'  # a quoted field over two lines: the next row is line 6
        "riverside,G1,01/12/2026,1.005,check,R4\n"
        "riverside,,2026-12-01,1.00,,R5\n"
        "riverside,G1,2026-12-01\n"
    )
    assert problems(text) == [
        "pay.csv: line 3: unknown clinic mars",
        "pay.csv: line 5: amount '-3' is not a positive amount with at most two decimals",
        "pay.csv: line 6: amount '1.005' is not a positive amount with at most two decimals; "
        "date '01/12/2026' is not a date (YYYY-MM-DD)",
        "pay.csv: line 7: empty account; empty method",
        "pay.csv: line 8: 3 fields, the header has 6",
    ]


def test_a_header_alone_is_refused() -> None:
    assert problems("clinic,account,date,amount,method,reference\n\n") == ["pay.csv: no payment rows after the header"]


def test_ar_aging_sums_what_patients_owe_per_payer_and_clinic() -> None:
    report = ar_aging([], date(2026, 12, 1), [("riverside", "P1", Decimal("10.00")), ("riverside", "P2",
                                              Decimal("5.25")), ("riverside", "P1", Decimal("0.00"))])  # fmt: skip
    assert [(r.payer_id, r.patient, r.claims, r.total) for r in report.rows] == [
        ("P1", Decimal("10.00"), 0, Decimal("0.00")), ("P2", Decimal("5.25"), 0, Decimal("0.00"))
    ]  # fmt: skip
    (total,) = report.clinic_totals()
    assert total.patient == Decimal("15.25")
