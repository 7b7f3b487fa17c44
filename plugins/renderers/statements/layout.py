"""Page layout of a patient statement (fpdf2), US Letter, in points.

Page 1, top third (above the fold at 11in/3): the practice's logo and return
address; the responsible party's address placed for a #10 window envelope;
the tear-off payment stub on the right, clear of the window. Below the
dashed tear line: the statement heading, the lines by date of service, the
totals, the aging and the clinic's message and billing contact. Following
pages repeat a heading and the table's column headings; every page has a
footer with the account number and "Page n of N". Measurements and the
window calculation are in docs/statements.md.
"""

from __future__ import annotations

import hashlib
import io
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from fpdf import FPDF
from fpdf.image_parsing import RasterImageInfo, get_img_info
from gateway_plugins.renderers.statements.settings import Branding

from gateway.model import Address, Statement, StatementLine

PT = 72.0  # points per inch
PAGE_W, PAGE_H = 8.5 * PT, 11 * PT
MARGIN = 0.5 * PT
CONTENT_W = PAGE_W - 2 * MARGIN
FOLD_Y = PAGE_H / 3
FOOTER_Y = PAGE_H - 0.45 * PT
BODY_BOTTOM = PAGE_H - 0.75 * PT
STUB_X = 5.5 * PT
ROW_H = 13.0
#: (wording key, width in points, alignment) of the lines table
COLUMNS = (
    ("col_date", 56.0, "L"),
    ("col_description", 176.0, "L"),
    ("col_charge", 60.0, "R"),
    ("col_insurance", 60.0, "R"),
    ("col_adjustments", 62.0, "R"),
    ("col_patient_paid", 60.0, "R"),
    ("col_balance", 66.0, "R"),
)
GREY = (232, 232, 232)
DARK = (90, 90, 90)


@dataclass(frozen=True)
class WindowPlacement:
    """Where the addressee block goes (inches from the page's top-left)."""

    top_in: float = 2.5
    left_in: float = 1.0
    width_in: float = 3.25


#: letters outside Latin-1 that do not decompose into a base letter
_SPELLED = str.maketrans({"Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "Œ": "OE", "œ": "oe", "ı": "i", "–": "-", "—": "-"})
_SPELLED.update({ord("\u2018"): "'", ord("\u2019"): "'", ord("\u201c"): '"', ord("\u201d"): '"'})


def text(value: str) -> str:
    """Text the PDF core fonts can show (Latin-1): accents are kept when
    Latin-1 has them, other characters are transliterated or become '?'."""
    if value.isascii():  # NFKC and the table change no ASCII character
        return value
    value = unicodedata.normalize("NFKC", value).translate(_SPELLED)
    out = []
    for ch in value:
        if ord(ch) < 256:
            out.append(ch)
        else:
            base = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
            out.append(base or "?")
    return "".join(out)


def money(amount: Decimal) -> str:
    """``Decimal("1234.5")`` → ``1,234.50`` (rounded half-up to the cent)."""
    return f"{amount.quantize(Decimal('0.01')):,.2f}"


def dollars(amount: Decimal) -> str:
    """``$1,234.50``; a credit ``-$10.00``."""
    return f"-${money(-amount)}" if amount < 0 else f"${money(amount)}"


def us_date(d: date) -> str:
    return d.strftime("%m/%d/%Y")


def phone(number: str | None) -> str:
    """``5555550101`` → ``(555) 555-0101``; other forms as given."""
    if not number:
        return ""
    digits = "".join(c for c in number if c.isdigit())
    return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}" if len(digits) == 10 else number


def address_lines(address: Address | None) -> list[str]:
    """Street lines and ``City, ST 12345-6789``."""
    if address is None:
        return []
    zip_code = address.postal_code or ""
    if len(zip_code) == 9 and zip_code.isdigit():
        zip_code = f"{zip_code[:5]}-{zip_code[5:]}"
    last = ", ".join(p for p in (address.city, f"{address.state or ''} {zip_code}".strip()) if p)
    return [*address.lines, *([last] if last else [])]


#: the logo as fpdf2 decoded it (PNG → compressed image data), by its MD5: the
#: decoding and re-compression cost more than the rest of a one-page statement
_LOGOS: dict[str, RasterImageInfo] = {}


def _reuse_logo(pdf: FPDF, logo: bytes) -> None:
    """Put the logo, decoded once per process, in ``pdf``'s image cache, where
    ``FPDF.image`` finds it by the same MD5 name it computes itself."""
    name = hashlib.md5(logo.strip(), usedforsecurity=False).hexdigest()
    info = _LOGOS.get(name)
    if info is None:
        info = get_img_info(name, io.BytesIO(logo), pdf.image_cache.image_filter)
        if len(_LOGOS) < 16:
            _LOGOS[name] = info
    cache = pdf.image_cache.images
    if name not in cache:
        mine = RasterImageInfo(info)
        mine["i"], mine["usages"] = len(cache) + 1, 0
        cache[name] = mine


class StatementPdf(FPDF):
    """One statement as a PDF; :meth:`build` returns the bytes."""

    def __init__(self, statement: Statement, brand: Branding, created: datetime, window: WindowPlacement) -> None:
        super().__init__(unit="pt", format="letter")
        self.st = statement
        self.brand = brand
        self.window = window
        self.set_auto_page_break(False)
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.alias_nb_pages()
        self.set_creation_date(created)
        # metadata names the practice and the kind of document only: no PHI
        self.set_title(text(f"{brand.practice_name} - {brand.wording['title'].title()}"))
        self.set_author(text(brand.practice_name))
        self.set_creator("billing-gateway")
        self.set_producer("billing-gateway (fpdf2)")
        self.patients = sorted({ln.patient_name for ln in statement.lines if ln.patient_name})

    # -- helpers -------------------------------------------------------------
    def get_string_width(self, s: str, normalized: bool = False, markdown: bool = False) -> float:
        """fpdf2's width of ``s``, computed directly for the core fonts this
        layout uses (fpdf2 builds styled fragments, copying the graphics
        state, on every call: a third of a page's cost)."""
        font = self.current_font
        if font is not None and font.type == "core" and not markdown and not self.char_spacing:
            try:
                w = sum(map(font.cw.__getitem__, s)) * self.font_size_pt * 0.001
            except KeyError:  # not Latin-1: fpdf2 says what is wrong
                pass
            else:
                return w * self.font_stretching * 0.01 / self.k
        return super().get_string_width(s, normalized, markdown)

    def say(self, key: str, **values: str) -> str:
        return text(self.brand.text(key, **values))

    def values(self) -> dict[str, str]:
        c = self.brand.contact
        return {
            "practice_name": self.brand.practice_name,
            "practice_phone": phone(self.brand.phone),
            "statement_date": us_date(self.st.statement_date),
            "due_date": us_date(self.st.due_date),
            "amount_due": f"${money(self.st.amount_due)}",
            "credit": f"${money(-self.st.total_due)}" if self.st.total_due < 0 else "",
            "account_number": self.st.account_number,
            "guarantor_name": self.st.guarantor.name.display(),
            "billing_phone": phone(c.phone),
            "billing_email": c.email or "",
            "billing_hours": c.hours,
            "portal_url": self.brand.portal_url or "",
            "payable_to": self.brand.payable_to,
        }

    def put(
        self, x: float, y: float, value: str, size: float = 9, style: str = "", w: float = 0, align: str = "L",
        h: float | None = None,
    ) -> None:  # fmt: skip
        """One line of text in a box ``w`` wide (0: to the right margin) and
        ``h`` high (default ``size + 2``) at (x, y), placed exactly as
        ``cell(w, h, value, align=align)``
        would, with :meth:`text` (several times cheaper); the page-count
        alias goes through ``cell`` (its width is known only at output)."""
        self.set_font("Helvetica", style, size)
        self.set_xy(x, y)
        value = text(value)
        h = size + 2 if h is None else h
        if self.str_alias_nb_pages in value:
            self.cell(w, h, value, align=align)
            return
        width = w or self.w - self.r_margin - x
        if align == "R":
            left = x + width - self.c_margin - self.get_string_width(value)
        elif align == "C":
            left = x + (width - self.get_string_width(value)) / 2
        else:
            left = x + self.c_margin
        if value:
            self.text(left, y + h / 2 + 0.3 * self.font_size, value)
        self.x = x + width

    def paragraph(self, w: float, h: float, value: str, align: str = "L") -> None:
        """``multi_cell(w, h, value, align=align)`` for plain text (words
        between single spaces, ``\n`` breaks), placed the same way: lines
        broken at the last space that fits ``w`` less the cell margins, each
        drawn with :meth:`text`; x ends at the right edge, y below the last
        line. fpdf2's line breaker re-measures the line at every character,
        which made the stub and the closing message half of a page's cost.
        Other text (a word wider than the box, tabs, soft hyphens, runs of
        spaces) goes to ``multi_cell``."""
        value = text(value)
        room = w - 2 * self.c_margin
        width = self.get_string_width
        if any(c in value for c in "\t\r\xad") or "  " in value or value != value.strip(" "):
            self.multi_cell(w, h, value, align=align)
            return
        lines: list[str] = []
        for para in value.split("\n"):
            line = ""
            for word in para.split(" "):
                if width(word) > room:
                    self.multi_cell(w, h, value, align=align)
                    return
                joined = f"{line} {word}" if line else word
                if line and width(joined) > room:
                    lines.append(line)
                    line = word
                else:
                    line = joined
            lines.append(line)
        x, y = self.x, self.y
        for line in lines:
            left = x + (w - width(line)) / 2 if align == "C" else x + self.c_margin
            if line:
                self.text(left, y + h / 2 + 0.3 * self.font_size, line)
            y += h
        self.set_xy(x + w, y)

    def fit(self, value: str, width: float) -> str:
        value = text(value)
        if self.get_string_width(value) <= width:
            return value
        while value and self.get_string_width(value + "...") > width:
            value = value[:-1]
        return value + "..."

    # -- page furniture ------------------------------------------------------
    def header(self) -> None:
        if self.page_no() == 1:
            return
        self.put(MARGIN, MARGIN, self.brand.practice_name, 11, "B")
        self.put(MARGIN, MARGIN, self.say("continued"), 11, "B", w=CONTENT_W, align="R")
        info = (
            f"{self.say('account_number')}: {self.st.account_number}    "
            f"{self.say('statement_date')}: {us_date(self.st.statement_date)}    "
            f"{self.say('patient')}: {self.st.patient.name.display()}"
        )
        self.put(MARGIN, MARGIN + 16, info, 8.5)
        self.set_draw_color(*DARK)
        self.line(MARGIN, MARGIN + 32, PAGE_W - MARGIN, MARGIN + 32)
        self.set_y(MARGIN + 40)

    def footer(self) -> None:
        self.set_text_color(*DARK)
        left = f"{self.brand.practice_name}  |  {self.say('account_number')} {self.st.account_number}"
        self.put(MARGIN, FOOTER_Y, left, 7.5)
        page = f"{self.say('page')} {self.page_no()} {self.say('of')} {{nb}}"
        self.put(MARGIN, FOOTER_Y, page, 7.5, w=CONTENT_W, align="R")
        self.set_text_color(0, 0, 0)

    # -- page 1 top third ----------------------------------------------------
    def return_address(self) -> None:
        x, y = MARGIN, MARGIN
        if self.brand.logo:
            _reuse_logo(self, self.brand.logo)
            info = self.image(io.BytesIO(self.brand.logo), x=x, y=y, h=40)
            x += float(info.rendered_width) + 8
        self.put(x, y, self.brand.practice_name, 12, "B")
        y += 15
        for line in [*address_lines(self.brand.address), phone(self.brand.phone)]:
            if line:
                self.put(x, y, line, 8.5)
                y += 10.5

    def addressee(self) -> None:
        g = self.st.guarantor
        x, y = self.window.left_in * PT, self.window.top_in * PT
        width = self.window.width_in * PT
        lines = [g.name.display(), *address_lines(g.address)]
        for i, line in enumerate(lines[:5]):
            self.set_font("Helvetica", "B" if i == 0 else "", 10)
            self.put(x, y, self.fit(line, width), 10, "B" if i == 0 else "", w=width, h=11)
            y += 11.5

    def stub(self) -> None:
        v = self.values()
        x, y, width = STUB_X, MARGIN, PAGE_W - MARGIN - STUB_X
        top = y
        x += 6
        width -= 12
        self.set_font("Helvetica", "B", 7)
        self.set_xy(x, y + 5)
        self.paragraph(width, 8.5, self.say("stub_heading"), align="C")
        y = self.get_y() + 5
        rows = (
            ("account_number", self.st.account_number, ""),
            ("statement_date", v["statement_date"], ""),
            ("due_date", v["due_date"], "B"),
            ("amount_due", v["amount_due"], "B"),
        )
        for key, value, style in rows:
            self.put(x, y, self.say(key), 8)
            self.put(x, y, value, 10 if key == "amount_due" else 8.5, style, w=width, align="R")
            y += 14
        self.put(x, y + 2, self.say("amount_enclosed"), 8, "B")
        self.set_fill_color(255, 255, 255)
        self.rect(x + width - 80, y, 80, 16)
        self.put(x + width - 78, y + 3, "$", 9)
        y += 26
        self.put(x, y, self.say("remit_to"), 7.5, "B")
        y += 10
        for line in [self.brand.remit_to.name, *address_lines(self.brand.remit_to.address)]:
            self.set_font("Helvetica", "", 8.5)
            self.put(x, y, self.fit(line, width), 8.5, w=width, h=10)
            y += 10
        self.set_font("Helvetica", "", 7)
        self.set_xy(x, y + 3)
        self.paragraph(width, 8, self.say("payable_to", **v))
        if self.brand.portal_url:
            self.set_font("Helvetica", "B", 7.5)
            self.set_xy(x, self.get_y() + 4)
            self.paragraph(width, 9, self.say("pay_online", **v))
        self.set_draw_color(*DARK)
        bottom = min(self.get_y() + 6, FOLD_Y - 14)
        self.rect(STUB_X, top, PAGE_W - MARGIN - STUB_X, bottom - top)

    def tear_line(self) -> None:
        self.set_draw_color(*DARK)
        self.set_dash_pattern(dash=3, gap=2)
        self.line(MARGIN / 2, FOLD_Y, PAGE_W - MARGIN / 2, FOLD_Y)
        self.set_dash_pattern()
        self.set_text_color(*DARK)
        self.put(MARGIN, FOLD_Y + 2, self.say("tear_line"), 7, "I", w=CONTENT_W, align="C")
        self.set_text_color(0, 0, 0)

    def heading(self) -> None:
        y = FOLD_Y + 18
        title = "final_notice_title" if self.st.notice != "statement" else "title"
        self.put(MARGIN, y, self.say(title), 15, "B")
        self.put(MARGIN, y + 20, self.brand.practice_name, 9)
        rows = [
            ("statement_date", us_date(self.st.statement_date)),
            ("account_number", self.st.account_number),
            ("patient", ", ".join(self.patients) or self.st.patient.name.display()),
            ("guarantor", self.st.guarantor.name.display()),
            ("due_date", us_date(self.st.due_date)),
        ]
        lx, vx = 3.6 * PT, 4.9 * PT
        for key, value in rows:
            self.put(lx, y, self.say(key) + ":", 8.5)
            self.set_font("Helvetica", "B", 8.5)
            self.put(vx, y, self.fit(value, PAGE_W - MARGIN - vx), 8.5, "B", w=PAGE_W - MARGIN - vx, h=10.5)
            y += 12
        self.set_y(y + 10)

    # -- the lines -----------------------------------------------------------
    def table_header(self) -> None:
        self.set_fill_color(*GREY)
        x, y = MARGIN, self.get_y()
        self.rect(x, y, CONTENT_W, ROW_H + 2, style="F")
        for key, width, align in COLUMNS:
            self.put(x, y, self.say(key), 8, "B", w=width, align=align, h=ROW_H + 2)
            x += width
        self.set_xy(MARGIN, y)
        self.ln(ROW_H + 4)

    def ensure_room(self, height: float, *, table: bool) -> None:
        if self.get_y() + height > BODY_BOTTOM:
            self.add_page()
            if table:
                self.table_header()

    def row(self, line: StatementLine) -> None:
        self.ensure_room(ROW_H, table=True)
        pending = line.insurance_pending
        description = line.description + (f" ({self.say('pending')})" if pending else "")
        cells = (
            us_date(line.service_date),
            self.fit(description, COLUMNS[1][1] - 4),
            money(line.charge),
            money(line.insurance_paid),
            money(line.adjustments),
            money(line.patient_paid),
            self.say("pending_short") if pending else money(line.balance),
        )
        size = 8.5
        self.set_font("Helvetica", "I" if pending else "", size)
        # text() is several times cheaper than cell() and rows dominate long statements
        x, baseline = MARGIN, self.get_y() + ROW_H / 2 + 0.3 * size
        for (_, width, align), value in zip(COLUMNS, cells, strict=True):
            value = text(value)
            left = x + width - self.c_margin - self.get_string_width(value) if align == "R" else x + self.c_margin
            self.text(left, baseline, value)
            x += width
        self.ln(ROW_H)
        self.detail(line)
        self.set_draw_color(*GREY)
        self.line(MARGIN, self.get_y(), PAGE_W - MARGIN, self.get_y())

    def detail(self, line: StatementLine) -> None:
        """Under a line of an insured claim: who paid what, and why the
        patient owes the rest (PR reasons in plain words)."""
        parts = []
        if line.paid_by:
            paid = "; ".join(f"{p.payer_name} {money(p.amount)}" for p in line.paid_by)
            parts.append(f"{self.say('paid_by')}: {paid}")
        if line.patient_share:
            share = "; ".join(f"{p.words} {money(p.amount)}" for p in line.patient_share)
            parts.append(f"{self.say('your_share')}: {share}")
        if not parts:
            return
        self.ensure_room(ROW_H - 2, table=True)
        self.set_text_color(*DARK)
        width = CONTENT_W - COLUMNS[0][1]
        self.set_font("Helvetica", "I", 7.5)
        self.put(MARGIN + COLUMNS[0][1], self.get_y() - 2, self.fit("   ".join(parts), width - 4), 7.5, "I", w=width)
        self.set_text_color(0, 0, 0)
        self.ln(ROW_H - 3)

    def lines_table(self) -> None:
        self.table_header()
        by_patient = len(self.patients) > 1
        lines = self.st.lines
        if by_patient:  # one block per patient, by date of service inside
            lines = sorted(lines, key=lambda ln: (ln.patient_name or "", ln.service_date))
        current = None
        for line in lines:
            if by_patient and line.patient_name != current:
                current = line.patient_name
                self.ensure_room(ROW_H * 2, table=True)
                self.put(MARGIN, self.get_y() + 2, f"{self.say('patient')}: {current}", 8.5, "B")
                self.ln(ROW_H)
            self.row(line)

    # -- totals, aging, message ---------------------------------------------
    def totals(self) -> None:
        st = self.st
        rows = [("total_charges", sum((ln.charge for ln in st.lines), Decimal(0)), "")]
        if st.total_pending:
            rows.append(("total_pending", st.total_pending, ""))
        if st.unapplied_credit:
            rows.append(("credit", -st.unapplied_credit, ""))
        rows.append(("total_due", st.amount_due, "B"))
        self.ensure_room(len(rows) * 14 + 8, table=False)
        y = self.get_y() + 6
        lx, width = PAGE_W - MARGIN - 2.6 * PT, 2.6 * PT
        for key, amount, style in rows:
            self.put(lx, y, self.say(key), 10 if style else 9, style)
            self.put(lx, y, dollars(amount), 10 if style else 9, style, w=width, align="R")
            y += 14
        self.set_y(y + 6)

    def aging_table(self) -> None:
        a = self.st.aging
        cols = (
            ("aging_current", a.current),
            ("aging_31_60", a.days_31_60),
            ("aging_61_90", a.days_61_90),
            ("aging_over_90", a.over_90),
            ("total_due", self.st.total_due),
        )
        basis = self.st.aging_from == "first_billed"
        self.ensure_room(2 * ROW_H + 12, table=False)
        width = CONTENT_W / len(cols)
        self.set_fill_color(*GREY)
        self.set_draw_color(*DARK)
        y = self.get_y()
        for i, (key, amount) in enumerate(cols):
            x = MARGIN + i * width
            self.rect(x, y, width, ROW_H, style="DF")
            self.put(x, y, self.say(key), 8, "B", w=width, align="C", h=ROW_H)
            self.rect(x, y + ROW_H, width, ROW_H)
            style = "B" if i == len(cols) - 1 else ""
            self.put(x, y + ROW_H, dollars(amount), 9, style, w=width, align="C", h=ROW_H)
        self.set_xy(MARGIN, y + ROW_H)
        self.ln(ROW_H + 3)
        if basis:
            self.set_text_color(*DARK)
            self.put(MARGIN, self.get_y(), self.say("aging_first_billed"), 7.5, "I")
            self.set_text_color(0, 0, 0)
            self.ln(ROW_H)
        self.ln(7)

    def closing(self) -> None:
        v = self.values()
        parts = []
        if self.st.notice != "statement":
            parts.append((self.say("final_notice", **v), "B"))
        if self.st.dunning_message:
            parts.append((text(self.brand.format(self.st.dunning_message, **v)), "B"))
        if self.st.total_due < 0:
            parts.append((self.say("credit_note", **v), "B"))
        if self.st.total_pending:
            parts.append((self.say("pending_note"), "I"))
        parts += [(self.say("message", **v), ""), (self.say("contact", **v), "B")]
        for value, style in parts:
            if not value.strip():
                continue
            self.ensure_room(24, table=False)
            self.set_font("Helvetica", style, 8.5)
            self.set_x(MARGIN)
            self.paragraph(CONTENT_W, 11, value)
            self.ln(4)

    def build(self) -> bytes:
        """Lay out every page and return the PDF bytes."""
        self.add_page()
        self.return_address()
        self.addressee()
        self.stub()
        self.tear_line()
        self.heading()
        self.lines_table()
        self.totals()
        self.aging_table()
        self.closing()
        return bytes(self.output())
