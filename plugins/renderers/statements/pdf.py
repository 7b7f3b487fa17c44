"""Patient statements as PDF: the ``pdf`` and ``pdf-print-batch`` renderers.

``pdf`` renders one PDF per guarantor account (statements of one account are
merged first) and sets e-mail hints in ``Document.headers`` (``to`` when an
address is known, ``subject``, ``body``, ``message-key``, ``filename``) for
the SMTP transport. With the clinic's ``encryption.enabled`` the PDF is
AES-256 encrypted (pypdf) with the clinic's password rule.

``pdf-print-batch`` is for a print-and-mail vendor: one combined PDF per
batch (optionally padded for duplex printing) and an index CSV, plus the
single PDFs if asked. ``collections-csv`` is the collection agency's
export of accounts sent to collections
(:mod:`gateway_plugins.renderers.statements.collections`). The plugin also
answers ``gateway_statement_cycle`` from ``settings.statements.cycle``.
Layout: :mod:`gateway_plugins.renderers.statements.layout`; branding and
wording: :mod:`gateway_plugins.renderers.statements.settings`.

Output is deterministic: the same statements and ``ctx.created`` give the
same names and bytes (encrypted PDFs excepted: AES needs fresh random IVs).
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway_plugins.renderers.statements.settings import Branding, StatementSettings, branding
from pydantic import BaseModel, ConfigDict, Field

from gateway.claims import merge_statements
from gateway.config import Clinic, ClinicConfig
from gateway.documents import Document, RenderContext, Renderer
from gateway.hookspecs import hookimpl
from gateway.model import Address, Statement, StatementCycle

if TYPE_CHECKING:
    from gateway_plugins.renderers.statements.layout import WindowPlacement

# the PDF libraries (fpdf2 with its fonts, pypdf) load when the first statement
# is rendered, not when the plugin is registered

RESOURCE = "statements_pdf"
PDF = "application/pdf"


class WindowSettings(BaseModel):
    """Addressee block position for the envelope's window (inches)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)  # with PdfFormatSettings
    top_in: float = Field(2.5, ge=1.5, le=3.2)
    left_in: float = Field(1.0, ge=0.5, le=2.0)
    width_in: float = Field(3.25, ge=2.5, le=4.0)


class PdfFormatSettings(BaseModel):
    """``format_settings`` of a destination with ``format: pdf``."""

    # built when first validated: a destination's, checked when outputs are (not by `gateway inspect`)
    model_config = ConfigDict(extra="forbid", defer_build=True)
    #: merge statements of one guarantor account into one
    group_by_account: bool = True
    individual_pdfs: bool = True
    combined_pdf: bool = False
    index_csv: bool = False
    #: pad each statement to an even page count in the combined PDF
    duplex: bool = False
    window: WindowSettings = Field(default_factory=WindowSettings)


class PrintBatchSettings(PdfFormatSettings):
    """``format_settings`` of ``format: pdf-print-batch`` (combined PDF + index by default)."""

    individual_pdfs: bool = False
    combined_pdf: bool = True
    index_csv: bool = True


def _digest(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:12]


def statement_name(st: Statement) -> str:
    """Deterministic file name without identifiers a log should not hold."""
    return f"{st.clinic_id}-statement-{st.statement_date:%Y%m%d}-{_digest(st.clinic_id, st.id, st.account_number)}.pdf"


def recipient(st: Statement) -> str | None:
    """The guarantor's e-mail; the patient's only when they are their own guarantor."""
    if st.guarantor.email:
        return st.guarantor.email
    if st.guarantor.relationship in (None, "self", "18"):
        return st.patient.email
    return None


def password_for(st: Statement, rule: str) -> str:
    """The PDF password from the clinic's rule (raises ValueError, naming
    the missing field, when the statement lacks what the rule needs)."""
    postal = (st.guarantor.address.postal_code or "") if st.guarantor.address else ""
    birth = st.patient.birth_date
    values = {
        "account_number": st.account_number,
        "guarantor_postal_code": postal[:5],
        "patient_birth_date": birth.strftime("%Y%m%d") if birth else "",
    }
    missing = [k for k, v in values.items() if f"{{{k}}}" in rule and not v]
    if missing:
        raise ValueError(f"the password rule needs {', '.join(missing)}, which the statement lacks")
    return rule.format(**values)


def encrypt(pdf: bytes, password: str, owner: str) -> bytes:
    """AES-256 encrypt a PDF (user password to open, owner password for permissions)."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.encrypt(user_password=password, owner_password=owner, algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def render_statement(st: Statement, brand: Branding, created: datetime, window: WindowPlacement) -> bytes:
    """One statement's PDF bytes (unencrypted)."""
    from gateway_plugins.renderers.statements.layout import StatementPdf

    return StatementPdf(st, brand, created, window).build()


def combine(pdfs: Sequence[bytes], created: datetime, title: str, duplex: bool) -> tuple[bytes, list[int]]:
    """One PDF of all ``pdfs`` and the page count each takes in it (with
    duplex, statements are padded with a blank page to start on a front side)."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    pages = []
    for pdf in pdfs:
        before = len(writer.pages)
        writer.append(PdfReader(io.BytesIO(pdf)))
        if duplex and (len(writer.pages) - before) % 2:
            writer.add_blank_page(612, 792)
        pages.append(len(writer.pages) - before)
    stamp = created.strftime("D:%Y%m%d%H%M%S")
    writer.add_metadata({"/Title": title, "/Producer": "billing-gateway (pypdf)", "/CreationDate": stamp})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue(), pages


INDEX_COLUMNS = (
    "sequence",
    "document",
    "first_page",
    "pages",
    "statement_id",
    "account_number",
    "statement_date",
    "due_date",
    "amount_due",
    "addressee",
    "address_1",
    "address_2",
    "city",
    "state",
    "postal_code",
)


def _postal(st: Statement) -> str:
    return (st.guarantor.address.postal_code or "") if st.guarantor.address else ""


def index_csv(rows: Sequence[tuple[Statement, str, int, int]]) -> bytes:
    """The print vendor's manifest: one row per statement in the combined PDF."""
    from gateway_plugins.renderers.statements.layout import money

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(INDEX_COLUMNS)
    for seq, (st, name, first, pages) in enumerate(rows, 1):
        addr = st.guarantor.address or Address()
        writer.writerow(
            [
                seq,
                name,
                first,
                pages,
                st.id,
                st.account_number,
                st.statement_date.isoformat(),
                st.due_date.isoformat(),
                money(st.total_due),
                st.guarantor.name.display(),
                addr.lines[0] if addr.lines else "",
                " ".join(addr.lines[1:]),
                addr.city or "",
                addr.state or "",
                addr.postal_code or "",
            ]
        )
    return out.getvalue().encode()


class StatementPdfRenderer:
    """Statements of one clinic → PDF documents (see the module docstring)."""

    kind = "statements"

    def __init__(self, name: str, settings_model: type[PdfFormatSettings], encrypts: bool) -> None:
        self.name = name
        self.settings_model = settings_model
        self.encrypts = encrypts

    def branding(self, clinic_id: str, ctx: RenderContext) -> Branding:
        clinic = ctx.clinics.get(clinic_id)
        if clinic is not None and RESOURCE in clinic.resources:
            return clinic.resources[RESOURCE]
        # no run-time clinic given: branding from the config alone (no logo/wording file)
        configs = getattr(ctx.config, "clinics", [])
        config = next((c for c in configs if c.id == clinic_id), None)
        if config is None:
            raise ValueError(f"clinic {clinic_id} is not configured")
        return branding(config)

    def email_headers(self, st: Statement, brand: Branding, name: str) -> dict[str, str]:
        from gateway_plugins.renderers.statements.layout import StatementPdf, WindowPlacement

        pdf = StatementPdf(st, brand, datetime(2000, 1, 1), WindowPlacement())
        values = pdf.values()
        hint = brand.text("password_hint", **values) if brand.encryption.enabled and self.encrypts else ""
        values["password_hint"] = hint
        headers = {
            "subject": brand.text("email_subject", **values),
            "body": brand.text("email_body", **values),
            "message-key": f"{st.clinic_id}.{st.id}.{st.statement_date:%Y%m%d}",
            "filename": f"statement-{st.statement_date:%Y-%m-%d}.pdf",
        }
        to = recipient(st)
        if to:
            headers["to"] = to
        return headers

    def render(self, items: Sequence[Statement], ctx: RenderContext) -> list[Document]:  # type: ignore[override]
        if not items:
            return []
        settings = ctx.settings if isinstance(ctx.settings, PdfFormatSettings) else self.settings_model()
        statements = merge_statements(items) if settings.group_by_account else list(items)
        from gateway_plugins.renderers.statements.layout import WindowPlacement

        window = WindowPlacement(**settings.window.model_dump())
        docs: list[Document] = []
        rendered: list[tuple[Statement, str, bytes]] = []
        for st in statements:
            brand = self.branding(st.clinic_id, ctx)
            pdf = render_statement(st, brand, ctx.created, window)
            name = statement_name(st)
            rendered.append((st, name, pdf))
            if not settings.individual_pdfs:
                continue
            headers = self.email_headers(st, brand, name)
            if self.encrypts and brand.encryption.enabled:
                try:
                    password = password_for(st, brand.encryption.password_rule)
                except ValueError as exc:
                    headers.pop("to", None)
                    headers["hold"] = f"not e-mailed: {exc}"
                    password = None
                if password is not None and len(password) < brand.encryption.min_length:
                    headers.pop("to", None)
                    headers["hold"] = "not e-mailed: the password rule gives too short a password"
                    password = None
                if password is not None:
                    owner = brand.owner_password or hashlib.sha256(f"owner|{password}|{st.id}".encode()).hexdigest()
                    pdf = encrypt(pdf, password, owner)
            docs.append(Document(name, pdf, PDF, "statements", st.clinic_id, (st.id,), headers))
        if settings.combined_pdf or settings.index_csv:
            docs += self.batch_documents(rendered, ctx.created, settings)
        return docs

    def batch_documents(
        self, rendered: list[tuple[Statement, str, bytes]], created: datetime, settings: PdfFormatSettings
    ) -> list[Document]:
        """Combined PDF and index CSV, sorted by ZIP code then account (mail presort)."""
        rendered = sorted(
            rendered,
            key=lambda r: (
                (r[0].guarantor.address.postal_code or "") if r[0].guarantor.address else "",
                r[0].account_number,
            ),
        )
        clinic_id = rendered[0][0].clinic_id
        ids = tuple(st.id for st, _, _ in rendered)
        stem = f"{clinic_id}-print-{created:%Y%m%d}-{_digest(clinic_id, *ids)}"
        combined, pages = combine([pdf for _, _, pdf in rendered], created, "Statement print batch", settings.duplex)
        docs = []
        if settings.combined_pdf:
            docs.append(Document(f"{stem}.pdf", combined, PDF, "statements", clinic_id, ids))
        if settings.index_csv:
            rows, first = [], 1
            for (st, name, _), n in zip(rendered, pages, strict=True):
                rows.append((st, name, first, n))
                first += n
            docs.append(Document(f"{stem}.csv", index_csv(rows), "text/csv", "statements", clinic_id, ids))
        return docs


@hookimpl
def gateway_register_settings(register: Callable[[str, type[BaseModel]], None]) -> None:
    register("statements", StatementSettings)


@hookimpl
def gateway_statement_terms(clinic: Clinic) -> int | None:
    settings = clinic.settings.get("statements")
    return settings.terms_days if isinstance(settings, StatementSettings) else None


@hookimpl
def gateway_statement_cycle(clinic: Clinic) -> StatementCycle | None:
    settings = clinic.settings.get("statements")
    if isinstance(settings, StatementSettings) and settings.cycle is not None:
        return settings.cycle.policy()
    return None


@hookimpl
def gateway_register_renderers(register: Callable[[Renderer], None]) -> None:
    register(StatementPdfRenderer("pdf", PdfFormatSettings, encrypts=True))
    register(StatementPdfRenderer("pdf-print-batch", PrintBatchSettings, encrypts=False))
    from gateway_plugins.renderers.statements.collections import CollectionsCsvRenderer

    register(CollectionsCsvRenderer())


@hookimpl
def gateway_load_clinic(clinic: ClinicConfig, base_dir: Path) -> dict[str, Any] | None:
    """Read the clinic's logo, wording file and owner password once at start-up."""
    return {RESOURCE: branding(clinic, base_dir)}
