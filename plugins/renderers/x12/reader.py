"""A tolerant 837P reader: a file back into :class:`~.facts.ClaimFacts`.

Delimiters come from the ISA, whatever they are; a BOM, CR/LF/CRLF after (or
instead of) the terminator, indentation and blank lines are accepted. The
reader never raises on content: what it cannot use becomes a
:class:`Problem` with the segment's position (1-based, ISA = 1), and it goes
on with the next claim. It checks the structure pyx12 also checks only
where claim facts depend on it (HL parents, SE counts, LX numbering, HI
present); pyx12 is the full implementation-guide check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from gateway.identifiers import npi_is_valid

from .facts import (
    SELF,
    AddressFacts,
    ClaimFacts,
    LineAdjudicationFacts,
    LineFacts,
    OtherPayerFacts,
    PersonFacts,
    Positions,
    to_decimal,
)
from .syntax import Delimiters, Segment, Tokens, X12SyntaxError, tokenize

DIAGNOSIS_QUALIFIERS = frozenset({"ABK", "ABF", "BK", "BF"})
#: GS08/ST03 of a 5010 837P (the X222 guide, errata A1 and A2)
VERSION_837P = "005010X222"
#: what other 837 versions are, for a message that says why a file is refused
OTHER_837 = {
    "X223": "an 837I (institutional)",
    "X224": "an 837D (dental)",
    "X096": "a 4010 837I (institutional)",
    "X097": "a 4010 837D (dental)",
    "X098": "a 4010 837P (version 4010, replaced by 5010 in 2012)",
}
NOT_837P = "X12-NOT-837P"
#: NM1 qualifiers whose NPI the claim model carries (the scrubber checks them); any other NPI is checked here
_MODELLED_NPI = frozenset({"85", "82", "77", "DN", "P3", "DK", "DQ"})
_NPI_ROLES = {"DQ": "supervising provider", "QB": "purchased service provider", "77": "service facility"}


@dataclass(frozen=True)
class Problem:
    """Something wrong in a file, at ``segment`` (1-based position, ISA = 1)."""

    rule: str
    message: str
    segment: int | None = None
    seg_id: str = ""
    claim_id: str | None = None


@dataclass
class Read837:
    """What :func:`read_837` found."""

    claims: list[ClaimFacts] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    delimiters: Delimiters | None = None
    interchanges: list[str] = field(default_factory=list)
    transactions: list[str] = field(default_factory=list)
    versions: set[str] = field(default_factory=set)
    segments: int = 0
    #: why the file is not a 5010 837P (reading stopped there), "" when it is one
    not_837p: str = ""


def _person(nm1: Segment) -> dict[str, str]:
    return {"family": nm1.get(3), "given": nm1.get(4), "middle": nm1.get(5), "suffix": nm1.get(7)}


def _person_facts(d: dict[str, Any]) -> PersonFacts:
    return PersonFacts(
        **d.get("person", {}), birth_date=d.get("birth_date", ""), sex=d.get("sex", ""), address=d.get("address")
    )


def _date(value: str) -> str:
    """D8 date, or the first date of an RD8 range."""
    return value.split("-", 1)[0]


class _Reader:
    def __init__(self, tokens: Tokens) -> None:
        self.t = tokens
        self.comp = tokens.delimiters.component
        self.out = Read837(delimiters=tokens.delimiters, segments=len(tokens.segments))
        self.hls: dict[str, tuple[str, dict[str, Any]]] = {}
        self.billing: dict[str, Any] = {}
        self.sub: dict[str, Any] | None = None
        self.pat: dict[str, Any] | None = None
        self.claim: dict[str, Any] | None = None
        self.line: dict[str, Any] | None = None
        self.other: dict[str, Any] | None = None
        #: the 2430 loop being read (an earlier payer's answer for the current line)
        self.svd: dict[str, Any] | None = None
        self.loop = ""
        self.st_start = 0
        self.st_control = ""
        self.in_837 = False
        self.gs_version = ""
        self.last_hl = 0
        self.last_lx = 0

    def problem(self, rule: str, message: str, seg: Segment | None) -> None:
        cid = self.claim["id"] if self.claim else None
        self.out.problems.append(
            Problem(rule, message, seg.index if seg else None, seg.id if seg else "", claim_id=cid)
        )

    # -- driving ---------------------------------------------------------------
    def run(self) -> Read837:
        for seg in self.t.segments:
            handler = getattr(self, f"_{seg.id.lower()}", None)
            if seg.id in ("ISA", "GS", "ST", "SE", "GE", "IEA"):
                handler(seg)  # type: ignore[misc]
                if self.out.not_837p:
                    return self.out  # nothing after that would make sense
            elif self.in_837 and handler is not None:
                handler(seg)
        self._end_claim(None)
        if not self.out.interchanges:
            self.problem("X12-NO-ISA", "no interchange found", None)
        return self.out

    def _isa(self, seg: Segment) -> None:
        self.out.interchanges.append(seg.get(13).strip())

    def _gs(self, seg: Segment) -> None:
        self.out.versions.add(seg.get(8))
        self.gs_version = seg.get(8)

    def _ge(self, seg: Segment) -> None:
        pass

    def _iea(self, seg: Segment) -> None:
        pass

    def _st(self, seg: Segment) -> None:
        version = seg.get(3) or self.gs_version
        if seg.get(1) != "837":
            kind = f"a {seg.get(1) or '(no ST01)'} transaction set, not an 837"
        elif version and not version.startswith(VERSION_837P):
            kind = next((k for code, k in OTHER_837.items() if code in version), f"version {version}")
        else:
            kind = ""
        if kind:
            message = f"not a 5010 837P: {kind} ({version or 'no version'}); only 005010X222 files are checked"
            self.problem(NOT_837P, message, seg)
            self.out.not_837p = message
            return
        self.in_837 = True
        self.st_start, self.st_control = seg.index, seg.get(2)
        self.out.transactions.append(self.st_control)
        self.hls.clear()
        self.last_hl = 0
        self.billing, self.sub, self.pat = {}, None, None

    def _se(self, seg: Segment) -> None:
        self._end_claim(seg)
        count = seg.index - self.st_start + 1
        if seg.get(1) != str(count):
            self.problem(
                "X12-SE-COUNT", f"SE01 says {seg.get(1) or 'nothing'}, the transaction has {count} segments", seg
            )
        if seg.get(2) != self.st_control:
            self.problem("X12-SE-CONTROL", "SE02 does not match ST02", seg)
        self.in_837 = False

    # -- hierarchy -------------------------------------------------------------
    def _hl(self, seg: Segment) -> None:
        self._end_claim(seg)
        hl_id, parent, level = seg.get(1), seg.get(2), seg.get(3)
        if hl_id != str(self.last_hl + 1):
            self.problem("X12-HL-NUMBER", f"HL01 should be {self.last_hl + 1}", seg)
        self.last_hl = int(hl_id) if hl_id.isdigit() else self.last_hl + 1
        parent_level, parent_data = self.hls.get(parent, ("", {}))
        data: dict[str, Any] = {}
        if level == "20":
            self.billing, self.loop = data, "billing"
        elif level == "22":
            if parent_level != "20":
                self.problem("X12-HL-PARENT", "subscriber HL (22) must have a billing provider HL (20) as parent", seg)
            data.update(billing=parent_data if parent_level == "20" else self.billing, relationship=SELF)
            self.sub, self.pat, self.loop = data, None, "subscriber"
        elif level == "23":
            if parent_level != "22":
                self.problem("X12-HL-PARENT", "patient HL (23) must have a subscriber HL (22) as parent", seg)
            else:
                self.sub = parent_data
            self.pat, self.loop = data, "patient"
        else:
            self.problem("X12-HL-LEVEL", f"HL03 level code {level or '(empty)'} is not used in an 837P", seg)
        self.hls[hl_id] = (level, data)

    def _sbr(self, seg: Segment) -> None:
        if self.claim is not None:
            self.other = {"responsibility": seg.get(1), "cas": [], "seg": seg.index}
            self.claim["others"].append(self.other)
            self.loop = "other"
        elif self.sub is not None:
            self.sub.update(responsibility=seg.get(1), group=seg.get(3), filing=seg.get(9))
            if seg.get(2):
                self.sub["relationship"] = seg.get(2)

    def _pat(self, seg: Segment) -> None:
        if self.pat is not None:
            self.pat["relationship"] = seg.get(1)

    def _nm1(self, seg: Segment) -> None:
        q = seg.get(1)
        npi = seg.get(9) if seg.get(8) == "XX" else ""
        if npi and (
            q not in _MODELLED_NPI or (q == "77" and self.line is not None) or (q == "DQ" and self.line is None)
        ):
            if not npi_is_valid(npi):
                role = _NPI_ROLES.get(q, f"NM1*{q}")
                self.problem("X12-NPI", f"the {role}'s NPI (NM109) is not a valid NPI", seg)
        if self.line is not None and q in ("82", "DQ", "DK", "DN", "P3"):
            role = {"82": "rendering", "DQ": "supervising", "DK": "ordering"}.get(q, "referring")
            self.line[role] = npi
            self.claim["providers"].append((f"service_lines[{len(self.claim['lines'])}].{role}_provider", seg.index))
            self.loop = "line-provider"
        elif q == "85":
            self.billing.update(name=seg.get(3), npi=npi, seg=seg.index)
            self.loop = "billing"
        elif q == "IL" and self.claim is None and self.sub is not None:
            self.sub.update(person=_person(seg), member_id=seg.get(9))
            self.loop = "subscriber-name"
        elif q == "IL" and self.other is not None:
            self.other["member_id"] = seg.get(9)
            self.loop = "other-subscriber"
        elif q == "PR" and self.claim is None and self.sub is not None:
            self.sub.update(payer_name=seg.get(3), payer_id=seg.get(9))
            self.loop = "payer"
        elif q == "PR" and self.other is not None:
            self.other.update(payer_name=seg.get(3), payer_id=seg.get(9))
            self.loop = "other-payer"
        elif q == "QC" and self.pat is not None:
            self.pat["person"] = _person(seg)
            self.loop = "patient-name"
        elif q == "82" and self.claim is not None and self.line is None and self.other is None:
            self.claim["rendering"] = npi
            self.claim["providers"].append(("rendering_provider", seg.index))
            self.loop = "rendering"
        elif q == "77" and self.claim is not None and self.line is None:
            self.claim["facility"] = npi
            self.claim["providers"].append(("service_facility", seg.index))
            self.loop = "facility"
        elif q in ("DN", "P3") and self.claim is not None and self.line is None:
            self.claim["referring"] = npi
            self.claim["providers"].append(("referring_provider", seg.index))
            self.loop = "referring"
        else:
            self.loop = "other-name"

    def _address_target(self) -> dict[str, Any] | None:
        return {"billing": self.billing, "subscriber-name": self.sub, "patient-name": self.pat}.get(self.loop)

    def _n3(self, seg: Segment) -> None:
        target = self._address_target()
        if target is not None:
            target["address_lines"] = tuple(x for x in seg.elements[1:3] if x)

    def _n4(self, seg: Segment) -> None:
        target = self._address_target()
        if target is not None:
            target["address"] = AddressFacts(target.get("address_lines", ()), seg.get(1), seg.get(2), seg.get(3))

    def _ref(self, seg: Segment) -> None:
        q = seg.get(1)
        if self.loop == "billing" and q in ("EI", "SY"):
            self.billing["tax_id"] = seg.get(2)
        elif self.line is not None and q == "6R":
            self.line["control"] = seg.get(2)
        elif self.claim is not None and self.line is None and q == "F8" and self.other is None:
            self.claim["original"] = seg.get(2)
        elif self.other is not None and self.loop == "other-payer" and q == "F8":
            self.other["claim_number"] = seg.get(2)

    def _dmg(self, seg: Segment) -> None:
        target = self._address_target()
        if target is not None and target is not self.billing:
            target.update(birth_date=seg.get(2), sex=seg.get(3))

    def _amt(self, seg: Segment) -> None:
        if self.other is not None and seg.get(1) in ("D", "EAF"):
            self.other["paid" if seg.get(1) == "D" else "remaining"] = seg.get(2)
            if seg.get(1) == "D":
                self.other["seg"] = seg.index
            if to_decimal(seg.get(2)) is None:
                self.problem("X12-AMOUNT", f"AMT02 (AMT01 = {seg.get(1)}, other payer) is not an amount", seg)
        elif self.claim is not None and self.other is None and self.line is None and seg.get(1) == "F5":
            self.claim["patient_paid"] = seg.get(2)
            if to_decimal(seg.get(2)) is None:
                self.problem("X12-AMOUNT", "AMT02 (patient amount paid) is not an amount", seg)

    # -- claims and lines ------------------------------------------------------
    def _clm(self, seg: Segment) -> None:
        self._end_claim(seg)
        if self.sub is None:
            self.problem("X12-CLM-PLACE", "CLM outside a subscriber or patient HL", seg)
            return
        pos = seg.get(5).split(self.comp)
        self.claim = {
            "id": seg.get(1),
            "total": seg.get(2),
            "pos": pos[0],
            "freq": pos[2] if len(pos) > 2 else "",
            "seg": seg,
            "sub": self.sub,
            "pat": self.pat,
            "diagnoses": [],
            "hi": None,
            "lines": [],
            "others": [],
            "providers": [],
        }
        self.line = self.other = self.svd = None
        self.last_lx = 0
        self.loop = "claim"
        if not seg.get(1):
            self.problem("X12-CLM01", "CLM01 (patient control number) is empty", seg)
        elif len(seg.get(1)) > 20:
            self.problem("X12-CLM01", "CLM01 is longer than 20 characters", seg)
        if to_decimal(seg.get(2)) is None:
            self.problem("X12-AMOUNT", "CLM02 (total charge) is not an amount", seg)

    def _hi(self, seg: Segment) -> None:
        if self.claim is None or self.line is not None:
            return
        self.claim["hi"] = self.claim["hi"] or seg.index
        for i, element in enumerate(seg.elements[1:], 1):
            parts = element.split(self.comp)
            if parts[0] not in DIAGNOSIS_QUALIFIERS:
                continue
            if len(parts) < 2 or not parts[1]:
                self.problem("X12-HI-FORMAT", f"HI{i:02d} has a qualifier but no diagnosis code", seg)
                continue
            self.claim["diagnoses"].append(parts[1])

    def _lx(self, seg: Segment) -> None:
        if self.claim is None:
            return
        self.last_lx += 1
        if seg.get(1) != str(self.last_lx):
            self.problem("X12-LX-NUMBER", f"LX01 should be {self.last_lx}", seg)
        self.line = {"seg": seg.index}
        self.other = self.svd = None
        self.claim["lines"].append(self.line)
        self.loop = "line"

    def _sv1(self, seg: Segment) -> None:
        if self.line is None:
            return
        code = seg.get(1).split(self.comp)
        pointers: list[int] = []
        for p in seg.get(7).split(self.comp) if seg.get(7) else []:
            if p.isdigit():
                pointers.append(int(p))
            else:
                self.problem("X12-POINTER", "SV107 has a diagnosis pointer that is not a number", seg)
        if to_decimal(seg.get(2)) is None:
            self.problem("X12-AMOUNT", "SV102 (line charge) is not an amount", seg)
        self.line.update(
            seg=seg.index,
            code=code[1] if len(code) > 1 else "",
            modifiers=tuple(m for m in code[2:6] if m),
            charge=seg.get(2),
            units=seg.get(4),
            pos=seg.get(5),
            pointers=tuple(pointers),
        )

    def _dtp(self, seg: Segment) -> None:
        if self.line is not None and seg.get(1) == "472":
            self.line["date"] = _date(seg.get(3))
        elif seg.get(1) == "573":  # an earlier payer's adjudication date: 2430, else 2330B
            target = self.svd if self.svd is not None else (self.other if self.line is None else None)
            if target is not None:
                target["date"] = seg.get(3)

    # -- an earlier payer's answer (2320 CAS, 2430) -------------------------------
    def _cas(self, seg: Segment) -> None:
        target = self.svd if self.svd is not None else (self.other if self.line is None else None)
        if target is None:
            return
        for i in range(2, 19, 3):
            if not seg.get(i):
                continue
            amount = to_decimal(seg.get(i + 1))
            if amount is None:
                self.problem("X12-AMOUNT", f"CAS{i + 1:02d} (adjustment amount) is not an amount", seg)
            target["cas"].append((seg.get(1), seg.get(i), amount, to_decimal(seg.get(i + 2))))

    def _svd(self, seg: Segment) -> None:
        if self.line is None:
            return
        code = seg.get(3).split(self.comp)
        if to_decimal(seg.get(2)) is None:
            self.problem("X12-AMOUNT", "SVD02 (the other payer's line paid amount) is not an amount", seg)
        self.svd = {
            "seg": seg.index,
            "payer_id": seg.get(1),
            "paid": to_decimal(seg.get(2)),
            "qualifier": code[0],
            "code": code[1] if len(code) > 1 else "",
            "modifiers": tuple(m for m in code[2:6] if m),
            "units": to_decimal(seg.get(5)),
            "cas": [],
        }
        self.line.setdefault("adjudications", []).append(self.svd)

    def _end_claim(self, seg: Segment | None) -> None:
        c = self.claim
        if c is None:
            return
        self.claim = self.line = self.other = self.svd = None
        if c["hi"] is None:
            self.out.problems.append(
                Problem("X12-HI-MISSING", "claim has no HI (diagnosis) segment", c["seg"].index, "CLM", c["id"])
            )
        if not c["lines"]:
            self.out.problems.append(
                Problem("X12-NO-LINES", "claim has no service line", c["seg"].index, "CLM", c["id"])
            )
        self.out.claims.append(self._facts(c))

    def _facts(self, c: dict[str, Any]) -> ClaimFacts:
        sub, pat = c["sub"], c["pat"]
        billing = sub.get("billing", {})
        subscriber = _person_facts(sub)
        if pat is None:
            patient, relationship = subscriber, sub.get("relationship", SELF)
        else:
            patient, relationship = _person_facts(pat), pat.get("relationship", "")
        lines = tuple(
            LineFacts(
                procedure_code=ln.get("code", ""),
                modifiers=ln.get("modifiers", ()),
                charge=to_decimal(ln.get("charge", "")),
                units=to_decimal(ln.get("units", "")),
                pointers=ln.get("pointers", ()),
                service_date=ln.get("date", ""),
                place_of_service=ln.get("pos") or c["pos"],
                control_number=ln.get("control", ""),
                rendering_npi=ln.get("rendering", ""),
                supervising_npi=ln.get("supervising", ""),
                ordering_npi=ln.get("ordering", ""),
                referring_npi=ln.get("referring", ""),
                adjudications=tuple(
                    LineAdjudicationFacts(
                        payer_id=a["payer_id"],
                        paid=a["paid"],
                        qualifier=a["qualifier"],
                        procedure_code=a["code"],
                        modifiers=a["modifiers"],
                        units=a["units"],
                        adjustments=tuple(a["cas"]),
                        date=a.get("date", ""),
                        segment=a["seg"],
                    )
                    for a in ln.get("adjudications", ())
                ),
            )
            for ln in c["lines"]
        )
        others = tuple(
            OtherPayerFacts(
                responsibility=o.get("responsibility", ""),
                payer_id=o.get("payer_id", ""),
                payer_name=o.get("payer_name", ""),
                member_id=o.get("member_id", ""),
                paid=to_decimal(o.get("paid", "")),
                adjustments=tuple(o["cas"]),
                remaining=to_decimal(o.get("remaining", "")),
                claim_number=o.get("claim_number", ""),
                date=o.get("date", ""),
                segment=o["seg"],
            )
            for o in c["others"]
        )
        return ClaimFacts(
            claim_id=c["id"],
            total_charge=to_decimal(c["total"]),
            patient_paid=to_decimal(c.get("patient_paid", "")),
            place_of_service=c["pos"],
            frequency_code=c["freq"],
            original_reference=c.get("original", ""),
            billing_npi=billing.get("npi", ""),
            billing_name=billing.get("name", ""),
            billing_tax_id=billing.get("tax_id", ""),
            billing_address=billing.get("address"),
            rendering_npi=c.get("rendering") or billing.get("npi", ""),
            service_facility_npi=c.get("facility", ""),
            referring_npi=c.get("referring", ""),
            patient=patient,
            relationship=relationship,
            subscriber=subscriber,
            member_id=sub.get("member_id", ""),
            group_number=sub.get("group", ""),
            payer_id=sub.get("payer_id", ""),
            payer_name=sub.get("payer_name", ""),
            responsibility=sub.get("responsibility", ""),
            filing_indicator=sub.get("filing", ""),
            diagnoses=tuple(c["diagnoses"]),
            lines=lines,
            other_payers=others,
            where=Positions(
                clm=c["seg"].index,
                hi=c["hi"],
                billing=billing.get("seg"),
                lines=tuple(ln["seg"] for ln in c["lines"]),
                st_control=self.st_control,
                providers=tuple(c["providers"]),
            ),
        )


def read_837(data: bytes | str) -> Read837:
    """Read every 837P claim in ``data`` (never raises on content)."""
    try:
        tokens = tokenize(data)
    except X12SyntaxError as exc:
        return Read837(problems=[Problem("X12-SYNTAX", str(exc), 1, "ISA")])
    return _Reader(tokens).run()


__all__ = ["Decimal", "Problem", "Read837", "read_837"]
