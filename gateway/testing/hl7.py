"""HL7 v2 messages built by field name (``FT1-25``, ``PID-5.1``), not by counting pipes.

Names: ``SEG-F`` (field), ``SEG-F.C`` (component), ``SEG-F.C.S``
(subcomponent), ``SEG-F[r]`` (repetition r, 1-based) and ``SEG[n]-F`` (the
n-th segment of that id, 1-based; required when the message has several).
``MSH-1`` is the field separator and ``MSH-2`` the encoding characters, as in
the standard. Values are inserted as given: ``| ^ ~ \\ &`` in a value are
delimiters (use :meth:`Hl7Message.escape` for text that may contain them).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal

_NAME = re.compile(r"([A-Z][A-Z0-9]{2})(?:\[(\d+)\])?(?:-(\d+)(?:\[(\d+)\])?(?:\.(\d+))?(?:\.(\d+))?)?")
Value = str | int | Decimal | date | datetime | None


def _text(value: Value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y%m%d%H%M%S")
    if isinstance(value, date):
        return value.strftime("%Y%m%d")
    return str(value)


def _put(parts: list[str], index: int, value: str) -> list[str]:
    while len(parts) <= index:
        parts.append("")
    parts[index] = value
    return parts


class Hl7Message:
    """A mutable HL7 v2 message; :meth:`encode` gives the bytes a clinic would send."""

    def __init__(self, text: str) -> None:
        lines = [ln for ln in re.split(r"\r\n|\r|\n", text) if ln.strip()]
        if not lines or not lines[0].startswith("MSH"):
            raise ValueError("an HL7 v2 message starts with an MSH segment")
        self.field_sep = lines[0][3]
        self.segments: list[list[str]] = [ln.split(self.field_sep) for ln in lines]

    # -- the default message ---------------------------------------------------
    @classmethod
    def dft_p03(cls, **fields: Value) -> Hl7Message:
        """A DFT^P03 (v2.5) from sender RIVERSIDE (the example clinic): one
        charge (local code OV-EST-4 → 99214, $185.00), two diagnoses, one
        commercial insurance with the example payer. ``fields`` are set by
        name with ``_`` for ``-`` and ``.``: ``dft_p03(FT1_25="99215^^C4")``
        is ``set("FT1-25", "99215^^C4")``; for components use :meth:`set`."""
        msg = cls(_DFT_P03)
        for name, value in fields.items():
            msg.set(name.replace("_", "-", 1).replace("_", "."), value)
        return msg

    # -- reading and writing fields -------------------------------------------
    def _locate(self, name: str) -> tuple[list[str], int | None, int | None, int | None, int | None]:
        m = _NAME.fullmatch(name)
        if not m:
            raise ValueError(f"{name!r} is not a field name such as 'FT1-25', 'PID-5.1', 'IN1[2]-36' or 'FT1-26[2]'")
        seg_id, occurrence, field, rep, comp, sub = m.groups()
        found = [s for s in self.segments if s[0] == seg_id]
        if not found:
            raise KeyError(f"{name}: the message has no {seg_id} segment (add it with .add('{seg_id}'))")
        if occurrence is None and len(found) > 1:
            options = " or ".join(f"{seg_id}[{i}]-{field or 'N'}" for i in range(1, len(found) + 1))
            raise KeyError(f"{name} is ambiguous: the message has {len(found)} {seg_id} segments; say {options}")
        n = int(occurrence or 1)
        if not 1 <= n <= len(found):
            raise KeyError(f"{name}: the message has {len(found)} {seg_id} segment(s)")
        ints = [int(x) if x else None for x in (field, rep, comp, sub)]
        return found[n - 1], *ints  # type: ignore[return-value]

    def _index(self, seg: list[str], field: int, writing: bool = False) -> int:
        """Position of field ``field`` in the split segment (MSH counts its separator as MSH-1)."""
        if field < 1:
            raise ValueError("fields are numbered from 1")
        if seg[0] == "MSH":
            if writing and field <= 2:
                raise ValueError("MSH-1 and MSH-2 are the delimiters; they cannot be set")
            return field - 1
        return field

    def get(self, name: str) -> str:
        """The value at ``name`` ('' when absent)."""
        seg, field, rep, comp, sub = self._locate(name)
        if field is None:
            return self.field_sep.join(seg)
        if seg[0] == "MSH" and field <= 2:
            return self.field_sep if field == 1 else seg[1]
        i = self._index(seg, field)
        value = seg[i] if i < len(seg) else ""
        comp_sep, rep_sep, _esc, sub_sep = self._encoding()
        for sep, index in ((rep_sep, rep), (comp_sep, comp), (sub_sep, sub)):
            if index is not None:
                parts = value.split(sep)
                value = parts[index - 1] if index <= len(parts) else ""
        return value

    def set(self, name: str, value: Value) -> Hl7Message:
        """Set the field, repetition, component or subcomponent ``name``; returns self."""
        seg, field, rep, comp, sub = self._locate(name)
        if field is None:
            raise ValueError(f"{name}: name a field, e.g. {name}-3")
        i = self._index(seg, field, writing=True)
        comp_sep, rep_sep, _esc, sub_sep = self._encoding()
        old = seg[i] if i < len(seg) else ""
        new = _text(value)
        if rep is not None or comp is not None or sub is not None:
            reps = old.split(rep_sep)
            r = (rep or 1) - 1
            current = reps[r] if r < len(reps) else ""
            if comp is not None:
                comps = current.split(comp_sep)
                c = comp - 1
                if sub is not None:
                    subs = (comps[c] if c < len(comps) else "").split(sub_sep)
                    new = sub_sep.join(_put(subs, sub - 1, new))
                current = comp_sep.join(_put(comps, c, new))
            else:
                current = new
            new = rep_sep.join(_put(reps, r, current))
        _put(seg, i, new)
        return self

    def _encoding(self) -> tuple[str, str, str, str]:
        enc = self.segments[0][1]
        return enc[0], enc[1], enc[2], enc[3] if len(enc) > 3 else "&"

    # -- segments --------------------------------------------------------------
    def add(
        self, segment_id: str, fields: Mapping[str, Value] | None = None, *, after: str | None = None
    ) -> Hl7Message:
        """Add a ``segment_id`` segment with ``fields`` (``{"AUT-5": "PA12345"}``).

        It goes after the last segment of the same id, else after the segment
        named by ``after`` (``"IN1"`` or ``"IN1[2]"``), else at the end. Its
        set-id (field 1) is numbered when the segment type has one (FT1, DG1,
        IN1, PR1, GT1, AUT, NTE…) and ``fields`` does not set it.
        """
        if not re.fullmatch(r"[A-Z][A-Z0-9]{2}", segment_id) or segment_id == "MSH":
            raise ValueError(f"{segment_id!r} is not a segment id that can be added")
        same = [i for i, s in enumerate(self.segments) if s[0] == segment_id]
        if after is not None:
            anchor = self._locate(after)[0]
            pos = next(i for i, s in enumerate(self.segments) if s is anchor) + 1
        else:
            pos = same[-1] + 1 if same else len(self.segments)
        seg = [segment_id]
        self.segments.insert(pos, seg)
        if segment_id in _SET_ID:
            _put(seg, 1, str(len(same) + 1))
        occurrence = sum(1 for s in self.segments[: pos + 1] if s[0] == segment_id)
        for key, value in (fields or {}).items():
            m = _NAME.fullmatch(key)
            if not m or m.group(1) != segment_id or m.group(2):
                raise ValueError(f"{key!r}: name fields of the new segment as '{segment_id}-N'")
            self.set(f"{segment_id}[{occurrence}]{key[3:]}", value)
        return self

    def remove(self, name: str) -> Hl7Message:
        """Remove segment ``name`` (``"GT1"``, ``"FT1[2]"``; every one of the id with ``"IN1[*]"``)."""
        if name.endswith("[*]"):
            self.segments = [s for s in self.segments if s[0] != name[:3]]
            return self
        seg = self._locate(name)[0]
        self.segments = [s for s in self.segments if s is not seg]
        return self

    def count(self, segment_id: str) -> int:
        return sum(1 for s in self.segments if s[0] == segment_id)

    # -- output ----------------------------------------------------------------
    def escape(self, text: str) -> str:
        """``text`` with this message's delimiters escaped (\\F\\ \\S\\ \\T\\ \\R\\ \\E\\)."""
        comp, rep, esc, sub = self._encoding()
        out = text.replace(esc, f"{esc}E{esc}")
        for ch, code in ((self.field_sep, "F"), (comp, "S"), (sub, "T"), (rep, "R")):
            out = out.replace(ch, f"{esc}{code}{esc}")
        return out

    def __str__(self) -> str:
        return "\r".join(self.field_sep.join(s) for s in self.segments) + "\r"

    def encode(self, segment_separator: str = "\r") -> bytes:
        """The message as bytes (segments ended by CR unless told otherwise)."""
        return str(self).replace("\r", segment_separator).encode()


#: segments whose field 1 is a set id
_SET_ID = frozenset({"AL1", "AUT", "DG1", "FT1", "GT1", "IN1", "NK1", "NTE", "OBX", "PR1", "RF1", "ROL"})

_DFT_P03 = "\r".join(
    [
        r"MSH|^~\&|ACMEPM|RIVERSIDE|GATEWAY|BILLING|20261012093000||DFT^P03^DFT_P03|TEST-0001|P|2.5",
        "EVN|P03|20261012093000",
        "PID|1||RV90001^^^RIVERSIDE^MR||TESTPERSON^ALMA^Q||19800412|F|||12 Fictional Lane^^Springfield^IL^62701^USA"
        "||^PRN^PH^^^555^5550111|||||RVACCT90001",
        "PV1|1|O|MAIN||||1543210987^EXAMPLE^ROBIN^^^^MD^^^^^^NPI||||||||||||V90001|||||||||||||||||||||||||20261012",
        "FT1|1|TX-9001||20261012||CG|OV-EST-4^Follow-up visit level 4^L|||1|185.00|185.00|||||||"
        "J06.9^Acute upper respiratory infection^I10|1543210987^EXAMPLE^ROBIN^^^^MD^^^^^^NPI|||||99214^^C4",
        "DG1|1|I10|J06.9^Acute upper respiratory infection^I10|||F|||||||||1",
        "DG1|2|I10|R50.9^Fever, unspecified^I10|||F|||||||||2",
        "GT1|1|G90001|TESTPERSON^ALMA^Q||12 Fictional Lane^^Springfield^IL^62701^USA|^PRN^PH^^^555^5550111|||||SEL",
        "IN1|1|EXHP-PPO^Example Health PPO|EXHP^^^^NIIP|Example Health Plan|PO Box 9000^^Springfield^IL^62702"
        "|||GRP-2001|RIVERSIDE EMPLOYEES||||||PPO|TESTPERSON^ALMA^Q|SEL^Self|19800412"
        "|12 Fictional Lane^^Springfield^IL^62701^USA|||||||||||||||||XHP123456789|||||||F",
    ]
)
