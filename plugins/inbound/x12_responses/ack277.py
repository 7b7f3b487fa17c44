"""Reading a 277CA (005010X214): one :class:`~gateway.model.ClaimAck277`
per claim.

The HL levels: 20 information source (payer or clearinghouse), 21
information receiver (our batch: TRN*2 = our BHT03), 19 billing provider
(NM1*85 with NPI or tax id, its own STC), PT patient; under the patient one
TRN*2 (our CLM01) per claim, with STC, REF*1K, REF*D9, DTP*472 and service
lines (SVC + STC).
"""

from __future__ import annotations

from typing import Any

from gateway.model import ClaimAck277, LineAck277, PersonName, Status277, StatusCode, X12Control
from gateway.x12 import Segment

from .codes import ENTITIES, STATUS_CATEGORIES, STATUS_CODES, describe
from .values import Notes, date_range, seg_name, whole

_LEVELS = {"20": "source", "21": "receiver", "19": "provider", "PT": "patient"}
_PARENT = {"21": "20", "19": "21", "PT": "19"}
#: segments of a 277CA the reader has no use for (read past without a finding)
_IGNORED = frozenset({"BHT", "QTY", "AMT"})


class Ack277Reader:
    """One 277CA transaction set; claims are handed back at SE."""

    def __init__(self, control: X12Control, component: str, notes: Notes) -> None:
        self.control = control
        self.sep = component
        self.notes = notes
        self.levels: dict[str, str] = {}
        self.level = ""
        self.payer: dict[str, str | None] = {}
        self.batch: str | None = None
        self.provider: dict[str, Any] = {}
        self.patient: dict[str, Any] = {}
        self.claim: dict[str, Any] | None = None
        self.line: dict[str, Any] | None = None
        self.claims: list[dict[str, Any]] = []
        self.last_hl = 0
        self.handlers = {
            "HL": self._hl, "NM1": self._nm1, "TRN": self._trn, "STC": self._stc, "REF": self._ref,
            "DTP": self._dtp, "SVC": self._svc,
        }  # fmt: skip

    @property
    def n(self) -> Notes:
        """Where a finding goes: the open claim's own notes, else the transaction's."""
        return self.claim["notes"] if self.claim is not None else self.notes

    def feed(self, seg: Segment) -> None:
        handler = self.handlers.get(seg.id)
        return handler(seg) if handler is not None else self.unknown(seg)

    def unknown(self, seg: Segment) -> None:
        if seg.id not in _IGNORED:
            message = f"segment {seg_name(seg.id)} is not read in a 277CA and was ignored"
            self.notes.warning("X12-277-SEGMENT", message, seg)

    # -- hierarchy ---------------------------------------------------------------
    def _hl(self, seg: Segment) -> None:
        self._close_claim()
        hl_id, parent, level = seg.get(1), seg.get(2), seg.get(3)
        if hl_id != str(self.last_hl + 1):
            self.notes.warning("X12-277-HL", f"HL01 should be {self.last_hl + 1}", seg, 1)
        number = whole(hl_id)
        self.last_hl = number if number is not None else self.last_hl + 1
        if level not in _LEVELS:
            self.notes.error("X12-277-HL", "HL03 is not a 277CA level (20, 21, 19, PT)", seg, 3)
            self.level = ""
            return
        want = _PARENT.get(level)
        if want is not None and self.levels.get(parent) != want:
            self.notes.error("X12-277-HL", f"HL level {level} must have a level {want} HL as parent (HL02)", seg, 2)
        self.levels[hl_id] = level
        self.level = _LEVELS[level]
        if level == "19":
            self.provider = {"statuses": [], "seg": seg, "claims": 0}
        elif level == "PT":
            self.patient = {}
            if not self.provider:
                self.provider = {"statuses": [], "seg": seg, "claims": 0}

    def _nm1(self, seg: Segment) -> None:
        q, id_q, ident = seg.get(1), seg.get(8), seg.get(9) or None
        if self.level == "source":
            self.payer = {"name": seg.get(3) or None, "id": ident}
        elif self.level == "provider" and q == "85":
            self.provider["name"] = seg.get(3) or None
            if id_q == "XX":
                self.provider["npi"] = ident
            elif id_q == "FI":
                self.provider["tax_id"] = ident
        elif self.level == "patient" and q in ("QC", "IL"):
            person = None
            if seg.get(3):
                person = PersonName(family=seg.get(3), given=seg.get(4) or None, middle=seg.get(5) or None,
                                    suffix=seg.get(7) or None)  # fmt: skip
            self.patient = {"patient": person, "member_id": ident}

    def _trn(self, seg: Segment) -> None:
        if self.level == "receiver" and seg.get(1) == "2":
            self.batch = seg.get(2) or None
        elif self.level == "patient":
            self._close_claim()
            self.provider["claims"] = self.provider.get("claims", 0) + 1
            self.claim = {"seg": seg, "claim_id": seg.get(2), "statuses": [], "lines": [], "notes": Notes(),
                          **self.patient}  # fmt: skip
            if seg.get(1) != "2":
                self.n.error("X12-277-TRN", "the claim's TRN must be TRN*2 (our claim id in TRN02)", seg, 1)
            if not seg.get(2):
                self.n.error("X12-277-TRN", "TRN02 (our claim id) is empty", seg, 2)

    def _stc(self, seg: Segment) -> None:
        status = self._status(seg)
        if self.line is not None:
            self.line["statuses"].append(status)
        elif self.claim is not None:
            self.claim["statuses"].append(status)
        elif self.level == "provider":
            self.provider["statuses"].append(status)

    def _status(self, seg: Segment) -> Status277:
        codes = []
        for pos in (1, 10, 11):
            parts = seg.get(pos).split(self.sep) if seg.get(pos) else []
            if not parts:
                if pos == 1:
                    self.n.error("X12-277-STC", "STC01 (claim status) is empty", seg, 1)
                continue
            category = parts[0]
            code = parts[1] if len(parts) > 1 else ""
            entity = parts[2] if len(parts) > 2 and parts[2] else None
            if category not in STATUS_CATEGORIES:
                self.n.error("X12-277-QUALIFIER", f"STC{pos:02d}-1 is not a claim status category", seg, pos)
            codes.append(
                StatusCode(
                    category=category,
                    category_text=describe(STATUS_CATEGORIES, category, "category"),
                    code=code,
                    code_text=describe(STATUS_CODES, code, "status code"),
                    entity=entity,
                    entity_text=describe(ENTITIES, entity, "entity code") if entity else None,
                )
            )
        return Status277(
            codes=codes,
            status_date=self.n.date(seg, 2),
            action=seg.get(3) or None,
            charge=self.n.amount(seg, 4, required=False),
            message=seg.get(12) or None,
            segment=seg.index,
        )

    def _ref(self, seg: Segment) -> None:
        q, value = seg.get(1), seg.get(2) or None
        if self.line is not None:
            if q == "FJ":
                self.line["control_number"] = value
        elif self.claim is not None:
            key = {"1K": "payer_claim_id", "D9": "clearinghouse_trace"}.get(q)
            if key:
                self.claim[key] = value
        elif self.level == "provider" and q == "TJ":
            self.provider["tax_id"] = value

    def _dtp(self, seg: Segment) -> None:
        if seg.get(1) != "472":
            return
        start, end = date_range(seg.get(3))
        if start is None or end is None:
            self.n.error("X12-DATE", "DTP03 is not a date or date range (CCYYMMDD[-CCYYMMDD])", seg, 3)
        if self.line is not None:
            self.line["service_date"] = start
        elif self.claim is not None:
            self.claim.update(service_date=start, service_end=end)

    def _svc(self, seg: Segment) -> None:
        if self.claim is None:
            self.n.error("X12-277-STRUCTURE", "SVC outside a claim", seg)
            return
        self._close_line()
        proc = seg.get(1).split(self.sep) if seg.get(1) else []
        self.line = {
            "seg": seg,
            "qualifier": proc[0] if proc else None,
            "procedure": proc[1] if len(proc) > 1 else None,
            "modifiers": [m for m in proc[2:6] if m],
            "charge": self.n.amount(seg, 2, required=False),
            "units": self.n.quantity(seg, 7),
            "statuses": [],
        }

    # -- closing -------------------------------------------------------------------
    def _close_line(self) -> None:
        if self.line is None or self.claim is None:
            return
        ln, self.line = self.line, None
        self.claim["lines"].append(LineAck277(**{k: v for k, v in ln.items() if k != "seg"}, segment=ln["seg"].index))

    def _close_claim(self) -> None:
        self._close_line()
        if self.claim is None:
            return
        c, self.claim = self.claim, None
        c["provider"] = self.provider
        if not c["statuses"]:
            c["notes"].error("X12-277-STC", "the claim has no STC (status)", c["seg"])
        self.claims.append(c)

    def finish(self, se: Segment | None) -> list[ClaimAck277]:
        self._close_claim()
        out = []
        for c in self.claims:
            seg, provider, notes = c.pop("seg"), c.pop("provider"), c.pop("notes")
            first = c["statuses"][0] if c["statuses"] else None
            out.append(
                ClaimAck277(
                    control=self.control,
                    batch_reference=self.batch,
                    payer_name=self.payer.get("name"),
                    payer_id=self.payer.get("id"),
                    billing_name=provider.get("name"),
                    billing_npi=provider.get("npi"),
                    billing_tax_id=provider.get("tax_id"),
                    provider_statuses=provider["statuses"],
                    charge=first.charge if first else None,
                    segment=seg.index,
                    findings=self.notes.items + notes.items,
                    **c,
                )
            )
        return out
