"""The example deployment renders statements as PDF: every statement the
demo writes passes the pypdf checks, and `gateway demo` writes them."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from gateway_plugins.renderers.statements.pdf import statement_name
from pypdf import PdfReader

from gateway.app import Gateway
from gateway.claims import merge_statements
from gateway.cli import cli
from gateway.examples import demo_inputs
from gateway.oneshot import Run, process_files
from tests.conftest import TODAY
from tests.statements_pdfcheck import check_statement_pdf


def test_demo_statement_pdfs_pass_pypdf_checks(example_gateway: Gateway, tmp_path: Path) -> None:
    run = Run(gateway=example_gateway, today=TODAY)
    for path in demo_inputs():
        run.process_bytes(path.read_bytes(), path.name)
    process_files(example_gateway, demo_inputs(), tmp_path, today=TODAY)
    expected = {statement_name(st): st for items in run.statements.values() for st in merge_statements(items)}
    written = sorted((tmp_path / "statements-out").glob("*.pdf"))
    assert {p.name for p in written} == set(expected) and len(written) >= 4
    for pdf in written:
        check_statement_pdf(pdf.read_bytes(), expected[pdf.name])
        assert pdf.stat().st_mode & 0o777 == 0o600


def test_gateway_demo_writes_readable_statement_pdfs(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path)])
    assert result.exit_code in (0, 3), result.output
    pdfs = sorted((tmp_path / "statements-out").glob("*.pdf"))
    assert len(pdfs) >= 4
    for pdf in pdfs:
        text = "\n".join(page.extract_text() for page in PdfReader(pdf).pages)
        assert "PATIENT STATEMENT" in text and "Total due $" in text
