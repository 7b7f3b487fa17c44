"""Reading acknowledgements: TA1 (the interchange) and 999 (005010X231A1,
a functional group and its transaction sets, errors in plain words)."""

from __future__ import annotations

from datetime import date

from gateway.model import (
    Ack999,
    AckContext,
    AckElementError,
    AckSegmentError,
    InterchangeAck,
    TransactionAck,
    X12Control,
)
from gateway.x12 import Segment

from .codes import (
    ELEMENT_ERRORS,
    GROUP_ERRORS,
    GROUP_STATUS,
    SEGMENT_ERRORS,
    SET_ERRORS,
    SET_STATUS,
    TA1_NOTES,
    TA1_STATUS,
    describe,
)
from .values import Notes, d8, seg_name, whole


def read_ta1(seg: Segment, control: X12Control, notes: Notes) -> InterchangeAck:
    """A TA1 segment: the answer for our interchange TA101 (= our ISA13)."""
    status, note = seg.get(4), seg.get(5)
    if not seg.get(1):
        notes.error("TA1-CONTROL", "TA101 (the acknowledged ISA13) is empty", seg, 1)
    if status not in TA1_STATUS:
        notes.error("TA1-STATUS", "TA104 is not an acknowledgement code (A, E, R)", seg, 4)
    yymmdd = seg.get(2)
    day: date | None = d8("20" + yymmdd) if len(yymmdd) == 6 else None
    if yymmdd and day is None:
        notes.warning("X12-DATE", "TA102 is not a date (YYMMDD)", seg, 2)
    return InterchangeAck(
        control=control,
        interchange=seg.get(1),
        ack_date=day,
        status=status,
        status_text=describe(TA1_STATUS, status, "code"),
        note=note,
        note_text=describe(TA1_NOTES, note, "note code"),
        segment=seg.index,
        findings=notes.items,
    )


class Ack999Reader:
    """One 999 transaction set: AK1, then AK2…IK5 per acknowledged set, AK9."""

    def __init__(self, control: X12Control, component: str, notes: Notes) -> None:
        self.control = control
        self.sep = component
        self.notes = notes
        self.ak1: Segment | None = None
        self.ak9: Segment | None = None
        self.sets: list[dict] = []
        self.current: dict | None = None
        self.error: AckSegmentError | None = None
        self.handlers = {
            "AK1": self._ak1, "AK2": self._ak2, "IK3": self._ik3, "IK4": self._ik4, "CTX": self._ctx,
            "IK5": self._ik5, "AK9": self._ak9,
        }  # fmt: skip

    def feed(self, seg: Segment) -> None:
        handler = self.handlers.get(seg.id)
        return handler(seg) if handler is not None else self.unknown(seg)

    def unknown(self, seg: Segment) -> None:
        self.notes.warning("X12-999-SEGMENT", f"segment {seg_name(seg.id)} is not read in a 999 and was ignored", seg)

    def _ak1(self, seg: Segment) -> None:
        if self.ak1 is not None:
            self.notes.error("X12-999-STRUCTURE", "a second AK1 in one 999 transaction set", seg)
            return
        self.ak1 = seg
        if not seg.get(2):
            self.notes.error("X12-999-AK1", "AK102 (the acknowledged GS06) is empty", seg, 2)

    def _ak2(self, seg: Segment) -> None:
        self._close_set()
        if not seg.get(2):
            self.notes.error("X12-999-AK2", "AK202 (the acknowledged ST02) is empty", seg, 2)
        self.current = {"seg": seg, "errors": [], "ik5": None}
        self.error = None

    def _ik3(self, seg: Segment) -> None:
        if self.current is None:
            self.notes.error("X12-999-STRUCTURE", "IK3 outside an AK2 loop", seg)
            return
        code = seg.get(4)
        self.error = AckSegmentError(
            segment_id=seg.get(1),
            position=whole(seg.get(2)),
            loop=seg.get(3) or None,
            code=code or None,
            description=describe(SEGMENT_ERRORS, code, "segment error code") if code else "segment in error",
            segment=seg.index,
        )
        self.current["errors"].append(self.error)

    def _ik4(self, seg: Segment) -> None:
        if self.error is None:
            self.notes.error("X12-999-STRUCTURE", "IK4 outside an IK3 loop", seg)
            return
        pos = seg.get(1).split(self.sep)
        code = seg.get(3)
        self.error.elements.append(
            AckElementError(
                position=whole(pos[0]),
                component=whole(pos[1]) if len(pos) > 1 else None,
                repetition=whole(pos[2]) if len(pos) > 2 else None,
                element_ref=seg.get(2) or None,
                code=code,
                description=describe(ELEMENT_ERRORS, code, "element error code"),
                segment=seg.index,
            )
        )

    def _ctx(self, seg: Segment) -> None:
        if self.error is None:
            self.notes.warning("X12-999-STRUCTURE", "CTX outside an IK3 loop; ignored", seg)
            return
        name, _, reference = seg.get(1).partition(self.sep)
        self.error.context.append(
            AckContext(
                name=name,
                reference=reference or None,
                segment_id=seg.get(2) or None,
                position=whole(seg.get(3)),
                loop=seg.get(4) or None,
                element=seg.get(5) or None,
                segment=seg.index,
            )
        )

    def _ik5(self, seg: Segment) -> None:
        if self.current is None:
            self.notes.error("X12-999-STRUCTURE", "IK5 outside an AK2 loop", seg)
            return
        if seg.get(1) not in SET_STATUS:
            self.notes.error("X12-999-STATUS", "IK501 is not a transaction set answer (A, E, M, R, W, X)", seg, 1)
        self.current["ik5"] = seg

    def _ak9(self, seg: Segment) -> None:
        self._close_set()
        self.ak9 = seg
        if seg.get(1) not in GROUP_STATUS:
            self.notes.error("X12-999-STATUS", "AK901 is not a functional group answer (A, E, P, R…)", seg, 1)

    def _close_set(self) -> None:
        cur = self.current
        if cur is None:
            return
        self.current, self.error = None, None
        ak2, ik5 = cur["seg"], cur["ik5"]
        if ik5 is None:
            self.notes.error("X12-999-STRUCTURE", "AK2 loop without IK5 (no answer for the set)", ak2)
            status, codes = "", []
        else:
            status, codes = ik5.get(1), [c for c in ik5.elements[2:7] if c]
        self.sets.append(
            TransactionAck(
                transaction_set=ak2.get(1),
                control_number=ak2.get(2),
                convention=ak2.get(3) or None,
                status=status,
                status_text=describe(SET_STATUS, status, "answer"),
                codes=codes,
                code_texts=[describe(SET_ERRORS, c, "error code") for c in codes],
                errors=cur["errors"],
                segment=ak2.index,
            )
        )

    def finish(self, se: Segment | None) -> list[Ack999]:
        self._close_set()
        n = self.notes
        if self.ak1 is None:
            n.error("X12-999-AK1", "the 999 has no AK1 (which functional group it answers)")
        if self.ak9 is None:
            n.error("X12-999-AK9", "the 999 has no AK9 (the functional group's answer)")
        ak1, ak9 = self.ak1, self.ak9
        status = ak9.get(1) if ak9 else ""
        codes = [c for c in ak9.elements[5:10] if c] if ak9 else []
        counts = [n.integer(ak9, i) for i in (2, 3, 4)] if ak9 else [None, None, None]
        if ak9 and None not in counts[1:] and counts[2] > counts[1]:  # type: ignore[operator]
            n.warning("X12-999-AK9", "AK904 (sets accepted) is larger than AK903 (sets received)", ak9, 4)
        return [
            Ack999(
                control=self.control,
                functional_id=ak1.get(1) if ak1 else "",
                group_control=ak1.get(2) if ak1 else "",
                convention=(ak1.get(3) or None) if ak1 else None,
                status=status,
                status_text=describe(GROUP_STATUS, status, "answer"),
                sets_included=counts[0],
                sets_received=counts[1],
                sets_accepted=counts[2],
                codes=codes,
                code_texts=[describe(GROUP_ERRORS, c, "error code") for c in codes],
                transactions=self.sets,
                segment=self.control.segment,
                findings=n.items,
            )
        ]
