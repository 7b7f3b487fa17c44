"""The ``collections-csv`` renderer: accounts sent to collections, as a CSV
file for the clinic's collection agency.

One file per clinic and run (``<clinic>-collections-<yyyymmdd>-<hash>.csv``,
CRLF lines, a header row). It holds what an agency needs to collect a debt
and nothing more: the account, the amount, the dates that show the debt was
billed and noticed, and the responsible party's name, postal address and
phone. No patient name or date of birth, no diagnoses, procedures or service
descriptions, no insurers or member ids, no e-mail (docs/statements.md,
"The collections export").
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Sequence

from gateway.documents import Document, RenderContext
from gateway.model import Address, Statement

#: the export's columns, in order (documented in docs/statements.md)
COLUMNS = (
    "clinic",
    "account",
    "export_date",
    "amount_due",
    "first_billed",
    "last_service_date",
    "final_notice_date",
    "open_claims",
    "responsible_party",
    "address_1",
    "address_2",
    "city",
    "state",
    "postal_code",
    "phone",
)


def row(st: Statement) -> list[str]:
    """One account's row."""
    due = [ln for ln in st.lines if not ln.insurance_pending and ln.balance > 0]
    billed = min((ln.first_billed for ln in due if ln.first_billed), default=None)
    addr = st.guarantor.address or Address()
    return [
        st.clinic_id,
        st.account_number,
        st.statement_date.isoformat(),
        f"{st.amount_due:.2f}",
        billed.isoformat() if billed else "",
        max((ln.service_date for ln in due), default=st.statement_date).isoformat(),
        st.final_notice_on.isoformat() if st.final_notice_on else "",
        str(len(due)),
        st.guarantor.name.display(),
        addr.lines[0] if addr.lines else "",
        " ".join(addr.lines[1:]),
        addr.city or "",
        addr.state or "",
        addr.postal_code or "",
        st.guarantor.phone or "",
    ]


class CollectionsCsvRenderer:
    """Statements of accounts sent to collections → one CSV per clinic."""

    name = "collections-csv"
    kind = "statements"
    settings_model = None

    def render(self, items: Sequence[Statement], ctx: RenderContext) -> list[Document]:  # type: ignore[override]
        by_clinic: dict[str, list[Statement]] = {}
        for st in items:
            by_clinic.setdefault(st.clinic_id, []).append(st)
        docs = []
        for clinic_id, group in by_clinic.items():
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\r\n")
            writer.writerow(COLUMNS)
            for st in sorted(group, key=lambda s: s.account_number):
                writer.writerow(row(st))
            ids = tuple(st.id for st in group)
            digest = hashlib.sha256("|".join((clinic_id, *ids)).encode()).hexdigest()[:12]
            day = max(st.statement_date for st in group)
            name = f"{clinic_id}-collections-{day:%Y%m%d}-{digest}.csv"
            docs.append(Document(name, out.getvalue().encode(), "text/csv", "statements", clinic_id, ids))
        return docs
