"""Reading response files: interchanges, functional groups and transaction
sets, streamed one segment at a time.

:func:`stream_responses` yields, in file order: whole documents (TA1, 999,
277CA claims), an 835 as its header, its claims one by one and a
:class:`~gateway.model.RemitEnd`, and findings about the file itself. Memory
stays flat in the file size. :func:`read_responses` collects the stream into
a :class:`~gateway.model.ResponseBatch` (what the hook returns).

Envelope checks: SE01 counts ST…SE, SE02 = ST02, GE01 counts the sets,
GE02 = GS06, IEA01 counts the groups, IEA02 = ISA13; a file that ends
inside a transaction set, group or interchange is truncated. A problem
inside a transaction set is a finding on that document; a problem with the
envelope around it is a finding about the file. Nothing here raises on
content.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Protocol

from gateway.model import (
    Finding,
    InterchangeAck,
    Remit835,
    RemitClaim,
    RemitEnd,
    ResponseBatch,
    ResponseDocument,
    X12Control,
)
from gateway.x12 import Segment, SegmentStream, X12SyntaxError

from .ack277 import Ack277Reader
from .acks import Ack999Reader, read_ta1
from .remit import RemitReader
from .remit_walk import posting_claims
from .values import Notes, count_said, d8, seg_name, whole

#: what :func:`stream_responses` yields
Item = ResponseDocument | RemitClaim | RemitEnd | Finding

#: ST01 → reader; GS01 each transaction set belongs in
READERS = {"835": RemitReader, "999": Ack999Reader, "277": Ack277Reader}
GROUPS = {"835": "HP", "999": "FA", "277": "HN"}
_ENVELOPE = frozenset({"ISA", "GS", "ST", "SE", "GE", "IEA", "TA1"})


class _Reader(Protocol):
    """What reads one transaction set: ``handlers`` by segment id (the
    driver calls them directly: the hot path), ``unknown`` for the rest."""

    notes: Notes
    handlers: dict[str, Callable[[Segment], object | None]]

    def unknown(self, seg: Segment) -> object | None: ...
    def finish(self, se: Segment | None) -> list: ...


class _Skip:
    """A transaction set this plugin does not read (its segments pass by)."""

    def __init__(self, notes: Notes) -> None:
        self.notes = notes
        self.handlers: dict[str, Callable[[Segment], object | None]] = {}

    def unknown(self, seg: Segment) -> None:
        return None

    def finish(self, se: Segment | None) -> list:
        return []


class _State:
    """The open interchange, group and transaction set while reading."""

    def __init__(self) -> None:
        self.file = Notes()
        self.isa: Segment | None = None
        self.gs: Segment | None = None
        self.st: Segment | None = None
        self.groups = 0
        self.sets = 0
        self.reader: _Reader | None = None

    def control(self, st: Segment | None, at: Segment) -> X12Control:
        isa, gs = self.isa, self.gs
        return X12Control(
            interchange=isa.get(13).strip() if isa else "",
            sender=isa.get(6).strip() if isa else "",
            receiver=isa.get(8).strip() if isa else "",
            usage=isa.get(15).strip() if isa else "",
            group=gs.get(6) if gs else None,
            group_sender=gs.get(2) if gs else None,
            group_receiver=gs.get(3) if gs else None,
            version=(gs.get(8) or st.get(3)) if gs and st else (st.get(3) if st else None),
            transaction=st.get(2) if st else None,
            segment=at.index,
        )


def _isa(seg: Segment, notes: Notes) -> None:
    if len(seg.elements) != 17:
        notes.error("X12-ISA", f"the ISA has {len(seg.elements) - 1} elements, 16 expected", seg)
        return
    if seg.get(12).strip() != "00501":
        notes.warning("X12-ISA", "ISA12 is not 00501 (version 5010)", seg, 12)
    control = seg.get(13).strip()
    if len(control) != 9 or whole(control) is None:
        notes.warning("X12-ISA", "ISA13 is not a 9-digit control number", seg, 13)
    if d8("20" + seg.get(9).strip()) is None:
        notes.warning("X12-DATE", "ISA09 is not a date (YYMMDD)", seg, 9)
    if seg.get(15).strip() not in ("P", "T"):
        notes.warning("X12-ISA", "ISA15 is neither P (production) nor T (test)", seg, 15)


def stream_responses(data: bytes | str, keep: int | None = None) -> Iterator[Item]:
    """Every response document in ``data`` in file order (see the module
    docstring); never raises on content. With ``keep``, an 835 yields only
    its first ``keep`` claims: the others are checked (their findings and
    :attr:`RemitEnd.claims <gateway.model.RemitEnd.claims>` count them) but
    not made into models."""
    try:
        stream = SegmentStream(data)
    except X12SyntaxError as exc:
        notes = Notes()
        notes.error("X12-SYNTAX", str(exc))
        yield from notes.items
        return
    s = _State()
    handlers: dict[str, Callable[[Segment], object | None]] | None = None
    seg: Segment | None = None
    for seg in stream:
        sid = seg.elements[0]
        if handlers is not None and sid not in _ENVELOPE:
            handler = handlers.get(sid)
            item = handler(seg) if handler is not None else s.reader.unknown(seg)  # type: ignore[union-attr]
            if item is not None:
                yield item  # type: ignore[misc]
            continue
        if sid == "SE":
            handlers = None
            yield from _end_set(s, seg)
            continue
        if s.reader is not None:  # an envelope segment inside a transaction set: no SE came
            said = count_said(s.st.get(2)) if s.st else "?"
            s.reader.notes.error("X12-TRUNCATED", f"transaction set {said} has no SE", seg)
            yield from _end_set(s, None)
        if sid == "ST":
            _start_set(s, seg, stream.delimiters.component)
            if keep is not None and isinstance(s.reader, RemitReader):
                s.reader.keep = keep
        elif sid == "GS":
            if s.gs is not None:
                s.file.error("X12-GE-MISSING", "a GS before the previous group's GE", seg)
            if s.isa is None:
                s.file.error("X12-STRUCTURE", "GS outside an interchange", seg)
            s.gs, s.sets = seg, 0
            s.groups += 1
            if not seg.get(6):
                s.file.error("X12-GS", "GS06 (group control number) is empty", seg, 6)
        elif sid == "GE":
            _end_group(s, seg)
        elif sid == "ISA":
            if s.isa is not None:
                s.file.error("X12-IEA-MISSING", "an ISA before the previous interchange's IEA", seg)
            s.isa, s.gs, s.groups = seg, None, 0
            _isa(seg, s.file)
        elif sid == "IEA":
            _end_interchange(s, seg)
        elif sid == "TA1":
            yield read_ta1(seg, s.control(None, seg), Notes())
        else:
            s.file.error("X12-STRUCTURE", f"segment {seg_name(sid)} outside a transaction set", seg)
        handlers = s.reader.handlers if s.reader is not None else None
        yield from _drain(s)
    last = seg  # the file's last segment: where a truncated file ends
    if s.reader is not None:
        where = f"transaction set {count_said(s.st.get(2)) if s.st else '?'}"
        s.reader.notes.error("X12-TRUNCATED", f"the file ends inside {where} (no SE): it is truncated", last)
        yield from _end_set(s, None)
    if s.gs is not None:
        s.file.error("X12-TRUNCATED", "the file ends inside a functional group (no GE): it is truncated", last)
    if s.isa is not None:
        s.file.error("X12-TRUNCATED", "the file ends inside an interchange (no IEA): it is truncated", last)
    yield from _drain(s)


def _drain(s: _State) -> Iterator[Finding]:
    if s.file.items:
        yield from s.file.items
        s.file.items = []


def _start_set(s: _State, seg: Segment, component: str) -> None:
    kind = seg.get(1)
    notes = Notes()
    if s.gs is None:
        s.file.error("X12-STRUCTURE", "ST outside a functional group", seg)
    else:
        s.sets += 1
        group = GROUPS.get(kind)
        if group and s.gs.get(1) != group:
            notes.warning("X12-GS", f"a {kind} belongs in a GS01 = {group} group", s.gs, 1)
    if not seg.get(2):
        notes.error("X12-ST", "ST02 (transaction set control number) is empty", seg, 2)
    s.st = seg
    cls = READERS.get(kind)
    if cls is None:
        s.file.warning("X12-KIND", f"transaction set {count_said(kind)} is not a response; skipped", seg, 1)
        s.reader = _Skip(notes)
        return
    s.reader = cls(s.control(seg, seg), component, notes)


def _end_set(s: _State, se: Segment | None) -> Iterator[Item]:
    reader, st = s.reader, s.st
    if reader is None or st is None:
        s.file.error("X12-STRUCTURE", "SE without ST", se)
        return
    if se is not None:
        count = se.index - st.index + 1
        if se.get(1) != str(count):
            reader.notes.error(
                "X12-SE-COUNT",
                f"SE01 says {count_said(se.get(1))}, the transaction set has {count} segments",
                se,
                1,
            )
        if se.get(2) != st.get(2):
            reader.notes.error("X12-SE-CONTROL", "SE02 does not match ST02", se, 2)
    s.reader, s.st = None, None
    items = reader.finish(se)
    if not items:
        yield from reader.notes.items  # no document (a 277CA without claims): the findings are about the file
    yield from items


def _end_group(s: _State, seg: Segment) -> None:
    if s.gs is None:
        s.file.error("X12-STRUCTURE", "GE without GS", seg)
        return
    if seg.get(1) != str(s.sets):
        s.file.error("X12-GE-COUNT", f"GE01 says {count_said(seg.get(1))}, the group has {s.sets} sets", seg, 1)
    if seg.get(2) != s.gs.get(6):
        s.file.error("X12-GE-CONTROL", "GE02 does not match GS06", seg, 2)
    s.gs = None


def _end_interchange(s: _State, seg: Segment) -> None:
    if s.isa is None:
        s.file.error("X12-STRUCTURE", "IEA without ISA", seg)
        return
    if s.gs is not None:
        s.file.error("X12-GE-MISSING", "IEA before the group's GE", seg)
        s.gs = None
    if seg.get(1) != str(s.groups):
        s.file.error(
            "X12-IEA-COUNT", f"IEA01 says {count_said(seg.get(1))}, the interchange has {s.groups} groups", seg, 1
        )
    if seg.get(2).strip() != s.isa.get(13).strip():
        s.file.error("X12-IEA-CONTROL", "IEA02 does not match ISA13", seg, 2)
    s.isa = None


_GC_LOCK = threading.Lock()
_GC_PAUSES = [0, False]  # readers running, whether the collector was on before the first


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause CPython's cycle collector while a whole file is collected.

    Collecting a 10,000-claim remit keeps some 200,000 container objects
    alive; the collector re-scans them again and again as they accumulate,
    which doubles the read time (benchmarks/bench_remit.py). The reader
    makes no reference cycles, so nothing is left for the collector; it is
    switched back on when the last concurrent reader is done.
    """
    with _GC_LOCK:
        if _GC_PAUSES[0] == 0:
            _GC_PAUSES[1] = gc.isenabled()
            gc.disable()
        _GC_PAUSES[0] += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _GC_PAUSES[0] -= 1
            if _GC_PAUSES[0] == 0 and _GC_PAUSES[1]:
                gc.enable()


#: an 835 transaction set with more claims than this is not held whole: its
#: ``Remit835`` keeps the header, PLB and findings and streams its claims
#: again from the file's bytes (:meth:`~gateway.model.Remit835.iter_claims`)
STREAM_OVER = 1000


def read_responses(data: bytes | str, stream_over: int | None = None) -> ResponseBatch:
    """Every document of a response file, collected (what the
    ``gateway_read_responses`` hook returns). An 835 with more than
    ``stream_over`` claims (default :data:`STREAM_OVER`) is checked whole in
    this pass but its claims are not kept (nor made into models past the
    first ``stream_over``): they stream from ``data`` again when the
    document is posted (by :func:`.remit_walk.posting_claims`: no model per
    claim), so memory stays flat in the file size."""
    with _collector_paused():
        return _collect(data, STREAM_OVER if stream_over is None else stream_over)


def remit_claims(data: bytes | str, index: int) -> Iterator[RemitClaim]:
    """The claims of the ``index``-th 835 transaction set of a file (0-based),
    read again one at a time."""
    seen = -1
    for item in stream_responses(data):
        if isinstance(item, Remit835):
            seen += 1
        elif seen == index:
            if isinstance(item, RemitClaim):
                yield item
            elif isinstance(item, RemitEnd):
                return


def _collect(data: bytes | str, stream_over: int) -> ResponseBatch:
    batch = ResponseBatch()
    remit: Remit835 | None = None
    remits = 0
    for item in stream_responses(data, keep=stream_over):
        if isinstance(item, Finding):
            batch.findings.append(item)
        elif isinstance(item, RemitClaim):
            if remit is not None:
                remit.claims.append(item)
        elif isinstance(item, RemitEnd):
            if remit is not None:
                remit.provider_adjustments = item.provider_adjustments
                remit.findings = item.findings
                if item.claims > stream_over:  # its first claims were kept only until now
                    remit.stream_claims(partial(remit_claims, data, remits - 1), item.claims,
                                        partial(posting_claims, data, remits - 1, remit_claims))  # fmt: skip
                remit = None
        elif isinstance(item, Remit835):
            remit = item
            remits += 1
            batch.documents.append(item)
        else:
            batch.documents.append(item)
    return batch


__all__ = ["STREAM_OVER", "InterchangeAck", "Item", "read_responses", "remit_claims", "stream_responses"]
