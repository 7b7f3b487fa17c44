"""The ``pdf`` and ``pdf-print-batch`` renderers: every PDF is read back
with pypdf (tests/statements_pdfcheck.py), output is deterministic, the
clinic's branding and wording apply, encryption follows the password rule."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from gateway_plugins.renderers.statements.pdf import PdfFormatSettings, PrintBatchSettings, password_for, statement_name
from pypdf import PdfReader

from gateway.app import Gateway
from gateway.claims import merge_statements
from gateway.config import ConfigError
from gateway.documents import Document, MemoryControlNumbers, RenderContext
from gateway.model import PersonName, Statement
from gateway.oneshot import Run
from tests.conftest import FIXTURES, TODAY
from tests.statements_pdfcheck import check_statement_pdf, pdf_text

CREATED = datetime(2026, 11, 27, 6, 30, tzinfo=UTC)
INPUTS = ("riverside-selfpay-long.json", "riverside-insured-selfpay-line.json", "lakeside-selfpay.json")
INPUTS += ("lakeside-family-selfpay.json",)


def statements(gw: Gateway) -> dict[str, list[Statement]]:
    run = Run(gateway=gw, today=TODAY)
    for name in INPUTS:
        run.process_bytes((FIXTURES / "encounters" / name).read_bytes(), name)
    return run.statements


def render(gw: Gateway, items: list[Statement], fmt: str = "pdf", **settings: object) -> list[Document]:
    renderer = gw.registries.renderers[fmt][0]
    ctx = RenderContext(
        created=CREATED,
        config=gw.config,
        control_numbers=MemoryControlNumbers(),
        settings=renderer.settings_model.model_validate(settings),
        clinics=gw.clinics,
    )
    return renderer.render(items, ctx)


def with_statement_settings(config: Path, clinic: int, block: str) -> Path:
    """Add lines to clinic number ``clinic``'s ``settings.statements``."""
    anchor = "      statements:"
    text = config.read_text()
    parts = text.split(anchor)
    assert len(parts) == 3
    head, rest = parts[clinic + 1].split("\n", 1)
    parts[clinic + 1] = head + "\n" + block + rest
    config.write_text(anchor.join(parts))
    return config


def test_every_statement_pdf_reads_back_correctly(example_gateway: Gateway) -> None:
    pages = {}
    for items in statements(example_gateway).values():
        merged = {st.id: st for st in merge_statements(items)}
        for doc in render(example_gateway, items):
            (ref,) = doc.refs
            text = check_statement_pdf(doc.content, merged[ref])
            pages[ref] = len(PdfReader(io.BytesIO(doc.content)).pages)
            assert doc.name == statement_name(merged[ref]) and doc.media_type == "application/pdf"
            assert merged[ref].account_number not in doc.name
            assert "Page 1 of" in text
    assert len(pages) == 4  # the family's two visits are one statement
    assert pages["SV10077"] >= 2  # 64 lines run onto a second page with the heading repeated


def test_clinic_branding_and_wording(example_gateway: Gateway) -> None:
    by_clinic = statements(example_gateway)
    (river, *_) = render(example_gateway, by_clinic["riverside"])
    _, pages = pdf_text(river.content)
    assert "Riverside Family Practice - Payments" in pages[0] and "PO Box 4100" in pages[0]  # remit-to
    assert "Pay online at https://pay.riverside.example" in pages[-1]  # from the clinic's wording file
    assert "(555) 555-0191" in pages[-1]  # billing contact
    reader = PdfReader(io.BytesIO(river.content))
    assert reader.pages[0].images, "logo missing"
    (lake, _) = render(example_gateway, by_clinic["lakeside"])
    assert "with your child's care" in "\n".join(pdf_text(lake.content)[1])


def test_output_is_deterministic(example_gateway: Gateway) -> None:
    items = statements(example_gateway)["riverside"]
    first = [(d.name, d.sha256, d.headers) for d in render(example_gateway, items)]
    again = [(d.name, d.sha256, d.headers) for d in render(example_gateway, items)]
    assert first == again
    later = RenderContext(
        created=datetime(2026, 11, 28, tzinfo=UTC),
        config=example_gateway.config,
        control_numbers=MemoryControlNumbers(),
    )
    other = example_gateway.registries.renderers["pdf"][0].render(items, later)
    assert [d.name for d in other] == [n for n, _, _ in first]  # names depend on the statements only


def test_email_hints_for_the_smtp_transport(example_gateway: Gateway) -> None:
    docs = {d.refs[0]: d for items in statements(example_gateway).values() for d in render(example_gateway, items)}
    assert docs["SV10077"].headers["to"] == "quincy.placeholder@example.com"
    assert docs["AACCT-2002-20261127"].headers["to"] == "jordan.fakename@example.org"
    assert "to" not in docs["SLV2001"].headers  # no address known: the print channel's job
    h = docs["SV10077"].headers
    assert h["subject"] == "Your statement from Riverside Family Practice is ready"
    assert h["message-key"] == "riverside.SV10077.20261127" and h["filename"] == "statement-2026-11-27.pdf"
    assert "Quincy" not in h["body"] and "Placeholder" not in h["body"]  # no PHI unless the clinic adds it
    assert "https://pay.riverside.example" in h["body"]


def test_encrypted_statement_opens_with_the_rule_password_only(example_config: Path) -> None:
    with_statement_settings(example_config, 0, "        encryption: {enabled: true}\n")
    gw = Gateway.from_config(example_config)
    items = statements(gw)["riverside"]
    docs = {d.refs[0]: d for d in render(gw, items)}
    long = next(st for st in items if st.id == "SV10077")
    doc = docs["SV10077"]
    password = password_for(long, "{account_number}{guarantor_postal_code}")
    assert password == "RFP-7700162704"
    assert PdfReader(io.BytesIO(doc.content)).is_encrypted
    assert not PdfReader(io.BytesIO(doc.content)).decrypt("19710214")  # the date of birth does not open it
    check_statement_pdf(doc.content, long, password=password)
    assert "account number" in doc.headers["body"]  # the password hint from the wording file
    print_docs = render(gw, items, "pdf-print-batch")
    assert not PdfReader(io.BytesIO(print_docs[0].content)).is_encrypted  # the print vendor gets plain PDFs


def test_statement_without_what_the_password_needs_is_held(example_config: Path) -> None:
    rule = "        encryption: {enabled: true, password_rule: '{account_number}{patient_birth_date}'}\n"
    with_statement_settings(example_config, 0, rule)
    gw = Gateway.from_config(example_config)
    items = statements(gw)["riverside"]
    items = [st.model_copy(update={"patient": st.patient.model_copy(update={"birth_date": None})}) for st in items]
    (doc, *_) = render(gw, items)
    assert "to" not in doc.headers and "patient_birth_date" in doc.headers["hold"]


@pytest.mark.parametrize(
    ("block", "error"),
    [
        ("        wording: {message: 'Pay {amount_owed}'}\n", "unknown field(s) ['amount_owed']"),
        ("        wording: {mesage: 'Hi'}\n", "unknown wording key 'mesage'"),
        ("        encryption: {enabled: true, password_rule: '{patient_birth_date}'}\n", "combine {account_number}"),
        ("        logo: statements/riverside-wording.yaml\n", "not a PNG or JPEG"),
    ],
)
def test_bad_statement_settings_are_start_up_errors(example_config: Path, block: str, error: str) -> None:
    config = example_config.read_text().replace("        logo: statements/riverside-logo.png\n", "", 1)
    example_config.write_text(config)
    with_statement_settings(example_config, 0, block)
    with pytest.raises(ConfigError) as exc:
        Gateway.from_config(example_config)
    assert error in str(exc.value) and "clinics[0]" in str(exc.value)


def test_print_batch_combined_pdf_and_index(example_gateway: Gateway) -> None:
    items = statements(example_gateway)["lakeside"]
    pdf, index = render(example_gateway, items, "pdf-print-batch", duplex=True)
    assert pdf.name.endswith(".pdf") and index.name == pdf.name.replace(".pdf", ".csv")
    rows = list(csv.DictReader(io.StringIO(index.content.decode())))
    assert [r["account_number"] for r in rows] == ["ACCT-2001", "ACCT-2002"]  # ZIP order
    assert [int(r["pages"]) for r in rows] == [2, 2]  # one page each, padded for duplex
    assert [int(r["first_page"]) for r in rows] == [1, 3]
    assert len(PdfReader(io.BytesIO(pdf.content)).pages) == 4
    assert rows[1]["postal_code"] == "625650300" and rows[1]["addressee"] == "Jordan Fakename"
    merged = {st.account_number: st for st in merge_statements(items)}
    _, pages = pdf_text(pdf.content)
    for row in rows:
        first = pages[int(row["first_page"]) - 1]
        assert f"Total due ${row['amount_due']}" in first and row["account_number"] in first
        assert merged[row["account_number"]].guarantor.name.display() in first
    assert render(example_gateway, items, "pdf-print-batch", duplex=True)[0].sha256 == pdf.sha256
    both = render(example_gateway, items, "pdf", combined_pdf=True, index_csv=True)
    assert [d.media_type for d in both] == ["application/pdf"] * 3 + ["text/csv"]


def test_names_outside_latin1_are_printed(example_gateway: Gateway) -> None:
    (st, *_) = statements(example_gateway)["lakeside"]
    name = PersonName(family="Nguyễn", given="Łucja")
    st = st.model_copy(update={"guarantor": st.guarantor.model_copy(update={"name": name})})
    (doc,) = render(example_gateway, [st])
    assert "Lucja Nguyen" in "\n".join(pdf_text(doc.content)[1])


def test_format_settings_are_validated(example_gateway: Gateway) -> None:
    with pytest.raises(ValueError):
        PdfFormatSettings.model_validate({"window": {"top_in": 5}})
    assert PrintBatchSettings().combined_pdf and not PdfFormatSettings().combined_pdf
