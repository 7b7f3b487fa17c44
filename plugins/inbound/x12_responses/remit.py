"""Reading one 835 transaction set (005010X221A1) claim by claim, and
checking that its money balances.

:class:`RemitReader` is fed the segments between ST and SE. It hands back
the :class:`~gateway.model.Remit835` header (payment, payer, payee) when the
first claim starts, each :class:`~gateway.model.RemitClaim` when it is
complete, and a :class:`~gateway.model.RemitEnd` (provider adjustments,
findings, totals) at SE, so a 10,000-claim remit never has to be in memory
at once. Balancing (docs/remittance.md):

* per service line: SVC02 − SVC03 = Σ line CAS;
* per claim: CLP03 − CLP04 = Σ claim CAS + Σ line CAS;
* per transaction: BPR02 (negative when BPR03 = D) = Σ CLP04 − Σ PLB.

Each failure is an error finding naming the segment and the amounts.
"""

from __future__ import annotations

import sys
from decimal import Decimal
from typing import Any

from gateway.model import (
    Address,
    ProviderAdjustment,
    Remit835,
    RemitClaim,
    RemitEnd,
    RemitParty,
    RemitPayment,
    X12Control,
)
from gateway.x12 import Segment

from .codes import (
    ADJUSTMENT_GROUPS,
    CLAIM_STATUS,
    HANDLING,
    PAYMENT_METHODS,
    PROCEDURE_QUALIFIERS,
    REMIT_FILING_INDICATORS,
)
from .codes import PROVIDER_ADJUSTMENTS as PLB_REASONS
from .values import Notes, d8, is_amount, is_number, seg_name

ZERO = Decimal("0")
#: appended to a segment's elements so absent trailing elements read as "" (faster than seg.get)
_PAD = [""] * 12
#: segments of an 835 the reader has no use for (read past without a finding)
IGNORED = frozenset({"CUR", "PER", "RDM", "TS3", "TS2", "QTY"})
_CLAIM_NAMES = frozenset({"QC", "IL", "74", "82", "TT", "PR", "GB"})

RemitItem = Remit835 | RemitClaim | RemitEnd


def _composite(value: str, sep: str) -> list[str]:
    return value.split(sep) if value else []


class RemitReader:
    """One 835 transaction set; see the module docstring."""

    def __init__(self, control: X12Control, component: str, notes: Notes) -> None:
        self.control = control
        self.sep = component
        self.notes = notes
        self.payment: RemitPayment | None = None
        self.trn: Segment | None = None
        self.bpr: Segment | None = None
        self.parties: dict[str, dict[str, Any]] = {}
        self.party: dict[str, Any] | None = None
        self.production_date = None
        self.header_sent = False
        self.claim: dict[str, Any] | None = None
        self.line: dict[str, Any] | None = None
        #: unreadable amounts seen before the open claim / line started (balancing needs them all)
        self.claim_bad = self.line_bad = 0
        self.in_footer = False
        self.claims = 0
        #: how many claims are handed back as models; later ones are only checked (a reading pass
        #: that does not keep them: their models would be thrown away)
        self.keep = sys.maxsize
        self.paid = ZERO
        self.plb: list[ProviderAdjustment] = []
        self.plb_total = ZERO
        self.ignored: set[str] = set()
        self.handlers = {
            "BPR": self._bpr, "TRN": self._trn, "REF": self._ref, "DTM": self._dtm, "N1": self._n1,
            "N3": self._n3, "N4": self._n4, "LX": self._lx, "CLP": self._clp, "CAS": self._cas,
            "NM1": self._nm1, "MIA": self._mia, "MOA": self._moa, "AMT": self._amt, "SVC": self._svc,
            "LQ": self._lq, "PLB": self._plb,
        }  # fmt: skip

    # -- driving -------------------------------------------------------------
    def feed(self, seg: Segment) -> RemitItem | None:
        """Read one segment; returns the header or a finished claim when one is ready."""
        handler = self.handlers.get(seg.elements[0])
        return handler(seg) if handler is not None else self.unknown(seg)

    def unknown(self, seg: Segment) -> None:
        """A segment without a handler: ignored, with a warning unless 835s carry it routinely."""
        if seg.id not in IGNORED and seg.id not in self.ignored:
            self.ignored.add(seg.id)
            message = f"segment {seg_name(seg.id)} is not read in an 835 and was ignored"
            self.notes.warning("X12-835-SEGMENT", message, seg)
        return None

    def finish(self, se: Segment | None) -> list[RemitItem]:
        """The last claim, the header if no claim came, and the :class:`RemitEnd`."""
        out: list[RemitItem] = []
        if not self.header_sent:
            out.append(self.header())
        claim = self._close_claim()
        if claim is not None:
            out.append(claim)
        self._check_payment()
        end_at = se.index if se is not None else self.control.segment
        out.append(
            RemitEnd(
                claims=self.claims,
                paid=self.paid,
                provider_adjustments=self.plb,
                findings=self.notes.items,
                segment=end_at,
            )
        )
        return out

    def header(self) -> Remit835:
        """The transaction's header: payment, payer and payee (claims come one by one)."""
        self.header_sent = True
        self.party = None
        for role, name in (("PR", "payer"), ("PE", "payee")):
            if role not in self.parties:
                self.notes.error("X12-835-PARTY", f"the {name} loop (N1*{role}) is missing", self.bpr)
        if self.bpr is None:
            self.notes.error("X12-835-BPR", "the BPR (payment) segment is missing")
        elif self.payment is not None and self.trn is None:
            self.notes.error("X12-835-TRN", "the TRN (check or EFT trace) segment is missing", self.bpr)
        return Remit835(
            control=self.control,
            payment=self.payment,
            payer=self._party("PR"),
            payee=self._party("PE"),
            production_date=self.production_date,
        )

    def _party(self, role: str) -> RemitParty | None:
        p = self.parties.get(role)
        if p is None:
            return None
        address = None
        if p.get("lines") or p.get("city"):
            address = Address(
                lines=p.get("lines", []), city=p.get("city"), state=p.get("state"), postal_code=p.get("zip")
            )
        q, ident = p["qualifier"], p["id"]
        return RemitParty(
            name=p["name"],
            id_qualifier=q,
            id=ident,
            npi=ident if q == "XX" else None,
            tax_id=ident if q == "FI" else p.get("tax_id"),
            payer_id=p.get("payer_id") or (ident if role == "PR" and q in ("XV", "PI") else None),
            address=address,
            segment=p["segment"],
        )

    def _start_detail(self) -> Remit835 | None:
        return None if self.header_sent else self.header()

    # -- header ----------------------------------------------------------------
    def _bpr(self, seg: Segment) -> None:
        n = self.notes
        if self.bpr is not None or self.header_sent:
            n.error("X12-835-STRUCTURE", "a second BPR in one transaction set", seg)
            return
        self.bpr = seg
        handling, cd, method = seg.get(1), seg.get(3), seg.get(4)
        if handling not in HANDLING:
            n.error("X12-835-QUALIFIER", "BPR01 is not a transaction handling code (C, D, H, I, P, U, X)", seg, 1)
        if cd not in ("C", "D"):
            n.error("X12-835-QUALIFIER", "BPR03 must be C (credit) or D (debit)", seg, 3)
        if method not in PAYMENT_METHODS:
            n.error("X12-835-QUALIFIER", "BPR04 is not a payment method (ACH, BOP, CHK, FWT, NON)", seg, 4)
        amount = n.amount(seg, 2)
        self.payment = RemitPayment(
            handling=handling,
            amount=amount if amount is not None else ZERO,
            credit_debit="D" if cd == "D" else "C",
            method=method,
            payment_format=seg.get(5) or None,
            payment_date=n.date(seg, 16, required=True),
            segment=seg.index,
        )

    def _trn(self, seg: Segment) -> None:
        if self.header_sent:
            return
        self.trn = seg
        if seg.get(1) != "1" or not seg.get(2):
            self.notes.error("X12-835-TRN", "TRN must be TRN*1 with the check or EFT number in TRN02", seg, 2)
        if self.payment is not None:
            self.payment.trace_number = seg.get(2) or None
            self.payment.originator = seg.get(3) or None

    def _n1(self, seg: Segment) -> None:
        role = seg.get(1)
        if self.header_sent:
            self.notes.error("X12-835-STRUCTURE", "N1 after the claims started", seg)
            return
        if role not in ("PR", "PE"):
            self.notes.warning("X12-835-QUALIFIER", "N101 is neither PR (payer) nor PE (payee); loop ignored", seg, 1)
            self.party = None
            return
        q = seg.get(3)
        if role == "PE" and q not in ("XX", "FI", "XV"):
            self.notes.error("X12-835-QUALIFIER", "N103 of the payee must be XX (NPI), FI (tax id) or XV", seg, 3)
        self.party = {
            "name": seg.get(2) or None,
            "qualifier": q or None,
            "id": seg.get(4) or None,
            "segment": seg.index,
        }
        self.parties[role] = self.party

    def _n3(self, seg: Segment) -> None:
        if self.party is not None:
            self.party["lines"] = [x for x in seg.elements[1:3] if x]

    def _n4(self, seg: Segment) -> None:
        if self.party is not None:
            self.party.update(city=seg.get(1) or None, state=seg.get(2) or None, zip=seg.get(3) or None)

    # -- references and dates (header, claim or line) ----------------------------
    def _ref(self, seg: Segment) -> None:
        e = seg.elements + _PAD
        q, value = e[1], e[2] or None
        if self.line is not None:
            if q == "6R":
                self.line["control_number"] = value
        elif self.claim is None and self.party is not None:
            if q == "TJ":
                self.party["tax_id"] = value
            elif q == "2U":
                self.party["payer_id"] = value

    def _dtm(self, seg: Segment) -> None:
        e = seg.elements + _PAD
        q = e[1]
        if self.line is not None:
            if q in ("472", "150", "151"):
                day = d8(e[2]) or self.notes.date(seg, 2)
                if q != "151":
                    self.line["service_date"] = day
                if q != "150":
                    self.line["service_end"] = day
        elif self.claim is not None:
            key = {"050": "received_date", "232": "service_date", "233": "service_end"}.get(q)
            if key:
                self.claim[key] = self.notes.date(seg, 2)
        elif q == "405" and not self.header_sent:
            self.production_date = self.notes.date(seg, 2)

    # -- claims ----------------------------------------------------------------
    def _lx(self, seg: Segment) -> RemitItem | None:
        return self._start_detail() or self._close_claim()

    def _clp(self, seg: Segment) -> RemitItem | None:
        if self.in_footer:
            self.notes.error("X12-835-STRUCTURE", "CLP after the PLB (provider adjustments)", seg)
        out = self._start_detail() or self._close_claim()
        n = self.notes
        self.claim_bad = n.bad_amounts
        e = seg.elements + _PAD
        status, filing = e[2], e[6]
        if not e[1]:
            n.error("X12-835-CLP01", "CLP01 (our claim id) is empty", seg, 1)
        status_text = CLAIM_STATUS.get(status)
        if status_text is None:
            n.error("X12-835-QUALIFIER", "CLP02 is not a claim status code (1-4, 19-23, 25)", seg, 2)
            status_text = f"status {status[:3] or '(empty)'} (not in the gateway's list)"
        if not e[7]:
            n.warning("X12-835-CLP07", "CLP07 (the payer's claim control number) is empty", seg, 7)
        if filing and filing not in REMIT_FILING_INDICATORS:
            n.warning("X12-835-QUALIFIER", "CLP06 is not a claim filing indicator code of an 835", seg, 6)
        self.claim = {
            "seg": seg,
            "claim_id": e[1],
            "status": status,
            "status_text": status_text,
            "charge": Decimal(e[3]) if is_amount(e[3]) else n.amount(seg, 3),
            "paid": Decimal(e[4]) if is_amount(e[4]) else n.amount(seg, 4),
            "patient_responsibility": Decimal(e[5]) if is_amount(e[5]) else n.amount(seg, 5, required=False),
            "filing_indicator": filing or None,
            "payer_claim_id": e[7] or None,
            "facility_type": e[8] or None,
            "frequency": e[9] or None,
            "adjustments": [],
            "remarks": [],
            "lines": [],
        }
        self.line = None
        return out

    def _nm1(self, seg: Segment) -> None:
        c = self.claim
        if c is None or self.line is not None:
            self.notes.error("X12-835-STRUCTURE", "NM1 outside a claim's name segments", seg)
            return
        e = seg.elements + _PAD
        q = e[1]
        if q == "QC":
            if e[3]:  # validated with the claim
                c["patient"] = {"family": e[3], "given": e[4] or None, "middle": e[5] or None, "suffix": e[7] or None}
            c["member_id"] = e[9] or None
        elif q == "IL":
            c.setdefault("member_id", e[9] or None)
        elif q == "82" and e[8] == "XX":
            c["rendering_npi"] = e[9] or None
        elif q == "TT":  # crossover carrier: the payer forwarded the claim to it
            c["crossover_payer"] = e[9] or None
            c["crossover_name"] = e[3] or None
        elif q not in _CLAIM_NAMES:
            self.notes.warning("X12-835-QUALIFIER", "NM101 is not a claim-level entity of an 835", seg, 1)

    def _mia(self, seg: Segment) -> None:
        if self.claim is not None:
            self.claim["remarks"] += [seg.get(i) for i in (5, 20, 21, 22, 23) if seg.get(i)]

    def _moa(self, seg: Segment) -> None:
        if self.claim is not None:
            self.claim["remarks"] += [seg.get(i) for i in range(3, 8) if seg.get(i)]

    def _cas(self, seg: Segment) -> None:
        target = self.line if self.line is not None else self.claim
        if target is None:
            self.notes.error("X12-835-STRUCTURE", "CAS outside a claim or service line", seg)
            return
        e = seg.elements
        if len(e) == 4 and e[1] in ADJUSTMENT_GROUPS and e[2] and is_amount(e[3]):  # the usual CAS: one triple
            target["adjustments"].append(
                {"group": e[1], "reason": e[2], "amount": Decimal(e[3]), "quantity": None, "segment": seg.index}
            )
            return
        n = self.notes
        group = seg.get(1)
        if group == "CR":
            n.warning("X12-835-QUALIFIER", "CAS01 CR (corrections) is a 4010 group code, not 5010", seg, 1)
        elif group not in ADJUSTMENT_GROUPS:
            n.error("X12-835-QUALIFIER", "CAS01 is not an adjustment group (CO, OA, PI, PR)", seg, 1)
        adjustments = target["adjustments"]
        e, index = seg.elements, seg.index
        size = len(e)
        found = reported = False
        for pos in range(2, min(size, 20), 3):
            reason = e[pos]
            if not reason:
                if any(seg.get(pos + k) for k in (1, 2)):
                    n.error("X12-835-CAS", f"CAS{pos + 1:02d} has an amount without a reason code", seg, pos + 1)
                    n.bad_amounts += 1  # an adjustment the sums cannot count
                    reported = True
                continue
            found = True
            text = e[pos + 1] if pos + 1 < size else ""
            amount = Decimal(text) if text and is_amount(text) else n.amount(seg, pos + 1)
            if amount is None:
                continue
            quantity = n.quantity(seg, pos + 2) if pos + 2 < size and e[pos + 2] else None
            adjustments.append(
                {"group": group, "reason": reason, "amount": amount, "quantity": quantity, "segment": index}
            )
        if not found and not reported:
            n.error("X12-835-CAS", "CAS has no reason code", seg, 2)
        if len(seg.elements) > 20:
            n.error("X12-835-CAS", "CAS has more than six adjustments", seg, 20)

    def _amt(self, seg: Segment) -> None:
        e = seg.elements
        if self.line is not None and len(e) > 2 and e[1] == "B6":
            self.line["allowed"] = Decimal(e[2]) if is_amount(e[2]) else self.notes.amount(seg, 2)

    def _lq(self, seg: Segment) -> None:
        if self.line is None:
            self.notes.error("X12-835-STRUCTURE", "LQ outside a service line", seg)
        elif seg.get(1) == "HE":
            if seg.get(2):
                self.line["remarks"].append(seg.get(2))
        elif seg.get(1) != "RX":
            self.notes.warning("X12-835-QUALIFIER", "LQ01 is neither HE (remark code) nor RX", seg, 1)

    def _svc(self, seg: Segment) -> None:
        if self.claim is None:
            self.notes.error("X12-835-STRUCTURE", "SVC outside a claim", seg)
            return
        self._close_line()
        n, e = self.notes, seg.elements
        self.line_bad = n.bad_amounts
        size = len(e)
        e = e + _PAD
        proc = e[1].split(self.sep) if e[1] else []
        if not proc or proc[0] not in PROCEDURE_QUALIFIERS:
            n.error("X12-835-QUALIFIER", "SVC01-1 is not a product/service id qualifier (HC, NU, AD…)", seg, 1)
        if len(proc) < 2 or not proc[1]:
            n.error("X12-835-SVC", "SVC01-2 (procedure code) is empty", seg, 1)
        line = self.line = {
            "seg": seg,
            "qualifier": proc[0] if proc else "",
            "procedure": proc[1] if len(proc) > 1 else "",
            "charge": Decimal(e[2]) if is_amount(e[2]) else n.amount(seg, 2),
            "paid": Decimal(e[3]) if is_amount(e[3]) else n.amount(seg, 3),
            "adjustments": [],
            "remarks": [],
        }
        if len(proc) > 2:
            line["modifiers"] = [m for m in proc[2:6] if m]
        if size > 4:  # SVC04 revenue code, SVC05 units, SVC06 the procedure billed, SVC07 its units
            line["revenue_code"] = e[4] or None
            units = e[5]
            line["units"] = Decimal(units) if units and is_number(units) else n.quantity(seg, 5)
            if e[7]:
                line["original_units"] = n.quantity(seg, 7)
            original = e[6].split(self.sep) if e[6] else []
            if original:
                if original[0] not in PROCEDURE_QUALIFIERS:
                    n.error("X12-835-QUALIFIER", "SVC06-1 is not a product/service id qualifier", seg, 6)
                line.update(
                    original_qualifier=original[0],
                    original_procedure=original[1] if len(original) > 1 and original[1] else None,
                    original_modifiers=[m for m in original[2:6] if m],
                )

    def _close_line(self) -> None:
        ln, c = self.line, self.claim
        if ln is None or c is None:
            return
        self.line = None
        seg = ln.pop("seg")
        ln["segment"] = seg.index
        charge, paid = ln["charge"], ln["paid"]
        if self.notes.bad_amounts == self.line_bad:  # every amount of the line was read
            adjusted = sum((a["amount"] for a in ln["adjustments"]), ZERO)
            if charge - paid != adjusted:
                self.notes.error(
                    "X12-835-BALANCE-LINE",
                    f"claim {c['claim_id']}: line charge {charge} − paid {paid} = {charge - paid}, "
                    f"but its adjustments (CAS) add up to {adjusted}",
                    seg,
                    3,
                )
        if charge is None:
            ln["charge"] = ZERO
        if paid is None:
            ln["paid"] = ZERO
        c["lines"].append(ln)

    def _close_claim(self) -> RemitClaim | None:
        """The claim being read as a model, its money checked. Claims, lines
        and adjustments are plain dicts until here and validated once per
        claim (the fast way with pydantic); past the first :attr:`keep`
        claims none is made (the claim is checked and counted only)."""
        self._close_line()
        c = self.claim
        if c is None:
            return None
        self.claim = None
        seg = c.pop("seg")
        c["segment"] = seg.index
        charge, paid = c["charge"], c["paid"]
        if self.notes.bad_amounts == self.claim_bad:  # every amount of the claim was read
            adjustments = c["adjustments"] + [a for ln in c["lines"] for a in ln["adjustments"]]
            adjusted = sum((a["amount"] for a in adjustments), ZERO)
            if charge - paid != adjusted:
                self.notes.error(
                    "X12-835-BALANCE-CLAIM",
                    f"claim {c['claim_id']}: charge {charge} − paid {paid} = {charge - paid}, "
                    f"but claim and line adjustments (CAS) add up to {adjusted}",
                    seg,
                    4,
                )
            responsibility = c["patient_responsibility"]
            if responsibility is not None:
                pr = sum((a["amount"] for a in adjustments if a["group"] == "PR"), ZERO)
                if pr != responsibility:
                    self.notes.warning(
                        "X12-835-PATIENT-RESP",
                        f"claim {c['claim_id']}: CLP05 patient responsibility {responsibility} "
                        f"differs from the PR adjustments {pr}",
                        seg,
                        5,
                    )
        if charge is None:
            c["charge"] = ZERO
        if paid is None:
            c["paid"] = paid = ZERO
        self.claims += 1
        self.paid += paid
        return RemitClaim.model_validate(c) if self.claims <= self.keep else None

    # -- footer ------------------------------------------------------------------
    def _plb(self, seg: Segment) -> RemitItem | None:
        out = self._start_detail() or self._close_claim()
        self.in_footer = True
        n = self.notes
        if not seg.get(1):
            n.error("X12-835-PLB", "PLB01 (provider id) is empty", seg, 1)
        period = n.date(seg, 2, required=True)
        pairs = 0
        for pos in range(3, min(len(seg.elements), 15), 2):
            reason = _composite(seg.elements[pos], self.sep)
            if not reason or not reason[0]:
                if seg.get(pos + 1):
                    n.error("X12-835-PLB", f"PLB{pos + 1:02d} has an amount without a reason", seg, pos + 1)
                continue
            pairs += 1
            if reason[0] not in PLB_REASONS:
                n.error("X12-835-QUALIFIER", f"PLB{pos:02d}-1 is not a provider adjustment reason code", seg, pos)
            amount = n.amount(seg, pos + 1)
            if amount is None:
                continue
            self.plb.append(
                ProviderAdjustment(
                    provider_id=seg.get(1),
                    fiscal_period=period,
                    reason=reason[0],
                    reference=reason[1] if len(reason) > 1 and reason[1] else None,
                    amount=amount,
                    segment=seg.index,
                )
            )
            self.plb_total += amount
        if not pairs:
            n.error("X12-835-PLB", "PLB has no adjustment", seg, 3)
        if len(seg.elements) > 15:
            n.error("X12-835-PLB", "PLB has more than six adjustments", seg, 15)
            n.bad_amounts += 1  # the payment cannot be balanced without them
        return out

    def _check_payment(self) -> None:
        p = self.payment
        if p is None or self.notes.bad_amounts:
            return  # an unreadable amount was already reported; the sums would mislead
        total = self.paid - self.plb_total
        if p.signed_amount != total:
            self.notes.error(
                "X12-835-BALANCE-PAYMENT",
                f"BPR02 pays {p.signed_amount}, but the claims paid {self.paid} less provider "
                f"adjustments {self.plb_total} make {total}",
                self.bpr,
                2,
            )
