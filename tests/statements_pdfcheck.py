"""Checks a statement PDF with a reader no one here wrote (pypdf).

Used by every statement test and the demo test: the text must name the
patient, show every line's amounts, the total due and the due date, and the
balances printed on the lines must add up to the printed total to the cent.
"""

from __future__ import annotations

import io
import re
from decimal import Decimal

from gateway_plugins.renderers.statements.layout import money, us_date
from pypdf import PdfReader

from gateway.model import Statement

AMOUNT = r"-?[\d,]+\.\d{2}"
ROW = re.compile(
    rf"^(\d{{2}}/\d{{2}}/\d{{4}}) (.+?) ({AMOUNT}) ({AMOUNT}) ({AMOUNT}) ({AMOUNT}) ({AMOUNT}|pending)$", re.M
)


def _dec(text: str) -> Decimal:
    return Decimal(text.replace(",", ""))


def pdf_text(pdf: bytes, password: str | None = None) -> tuple[PdfReader, list[str]]:
    reader = PdfReader(io.BytesIO(pdf))
    if reader.is_encrypted:
        assert password is not None, "PDF is encrypted"
        assert reader.decrypt(password)
    return reader, [page.extract_text() for page in reader.pages]


def check_statement_pdf(pdf: bytes, st: Statement, password: str | None = None) -> str:
    """Assert what a patient must see; returns the whole text."""
    reader, pages = pdf_text(pdf, password)
    text = "\n".join(pages)
    for name in {ln.patient_name for ln in st.lines if ln.patient_name} | {st.patient.name.display()}:
        assert name in text, "patient name missing"
    assert f"Total due ${money(st.total_due)}" in text
    assert us_date(st.due_date) in text and us_date(st.statement_date) in text
    assert st.account_number in text
    rows = ROW.findall(text)
    assert len(rows) == len(st.lines), f"{len(rows)} rows printed for {len(st.lines)} lines"
    printed_due = Decimal("0.00")
    expected = sorted(st.lines, key=lambda ln: (ln.service_date, ln.charge))
    got = sorted(rows, key=lambda r: (r[0][6:] + r[0][:5], _dec(r[2])))
    for line, row in zip(expected, got, strict=True):
        assert row[0] == us_date(line.service_date)
        assert [_dec(a) for a in row[2:6]] == [line.charge, line.insurance_paid, line.adjustments, line.patient_paid]
        if line.insurance_pending:
            assert row[6] == "pending"
        else:
            assert _dec(row[6]) == line.balance
            printed_due += _dec(row[6])
    printed_total = _dec(re.search(rf"Total due \$({AMOUNT})", text).group(1))
    assert printed_due == printed_total == st.total_due, "lines do not add up to the total due"
    aging = st.aging
    assert aging.current + aging.days_31_60 + aging.days_61_90 + aging.over_90 == st.total_due
    # metadata: no PHI
    meta = " ".join(str(v) for v in (reader.metadata or {}).values())
    for phi in (st.patient.name.family, st.guarantor.name.family, st.account_number):
        assert phi not in meta, "PHI in PDF metadata"
    # later pages repeat the heading with the account number
    for page in pages[1:]:
        assert "Statement (continued)" in page and st.account_number in page
        assert "Date Description Charge" in page
    return text
