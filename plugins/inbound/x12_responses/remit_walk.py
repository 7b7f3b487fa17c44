"""Reading a large 835's claims again for posting, fast.

The checking pass (:func:`~.read.read_responses`) has read the remit whole
with :class:`~.remit.RemitReader`: its findings are known. Posting reads the
claims a second time; :func:`posting_claims` does it without the checks and
without a pydantic model per claim: a walk over the segments that makes each
CLP a plain tuple (``WalkedClaim``: the values posting uses, which the core
makes a ``gateway.posting.PostedClaim`` of) with the claim's JSON written
directly, byte for byte what ``RemitClaim.model_dump_json(exclude_none=True)``
writes (the content hash is taken from it, and the model made from it when
one is needed).

The walk knows the usual claim segments only, and only their clean form
(every amount and date readable, known qualifiers): at anything else — a
segment or value the typed reader would make a finding of, a segment it
does not know — it hands over to the typed reader
(:func:`~.read.remit_claims`) for the rest of the remit, skipping the claims
already walked. Either way the claims are the same
(tests/test_remit_walk.py compares them value by value, JSON byte by byte).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from functools import lru_cache
from itertools import islice
from json.encoder import encode_basestring  # type: ignore[attr-defined]  (json's own, ensure_ascii=False)
from typing import Any

from gateway.model import RemitClaim
from gateway.x12 import SegmentStream, X12SyntaxError

from .codes import ADJUSTMENT_GROUPS, CLAIM_STATUS, PROCEDURE_QUALIFIERS
from .remit import _CLAIM_NAMES, IGNORED
from .values import d8, is_amount, is_number

#: one CAS triple: (group, reason, amount)
Adjustment = tuple[str, str, Decimal]
#: a walked claim: (CLP01, CLP02, charge, paid, CLP05, CLP07, NM1*TT id, segment, claim CAS,
#: lines as (paid, REF*6R, CAS), JSON) — gateway.posting.PostedClaim's fields, in its order
WalkedClaim = tuple[str, str, Decimal, Decimal, Decimal | None, str | None, str | None, int, list[Adjustment],
                    list[tuple[Decimal, str | None, list[Adjustment]]], bytes]  # fmt: skip
_PAD = [""] * 24
ZERO = Decimal("0")
_ENVELOPE = frozenset({"ISA", "GS", "ST", "SE", "GE", "IEA", "TA1"})


class _Unusual(Exception):
    """Something the walk does not read: the typed reader takes over."""


@lru_cache(maxsize=4096)  # a remit repeats a few dates on every line
def _day(text: str) -> str | None:
    """A DTM date as the reader takes it (the first of a range), ISO; None when absent."""
    day = d8(text.split("-", 1)[0])
    if day is None:
        if text:
            raise _Unusual
        return None
    return day.isoformat()


def _amount(text: str) -> Decimal:
    if not is_amount(text):
        raise _Unusual
    return Decimal(text)


def _quantity(text: str) -> str | None:
    if not text:
        return None
    if not is_number(text):
        raise _Unusual
    return str(Decimal(text))


def _opt(key: str, value: str | None) -> str:
    """``,"key":"value"`` (a string field), or nothing for None (``exclude_none``)."""
    return "" if value is None else f',"{key}":{encode_basestring(value)}'


def _strings(values: list[str]) -> str:
    return "[" + ",".join(map(encode_basestring, values)) + "]"


class _Line:
    __slots__ = ("adj", "adj_json", "allowed", "control", "end", "head", "paid", "remarks", "segment", "start")

    def __init__(self) -> None:
        self.adj: list[Adjustment] = []
        self.adj_json: list[str] = []
        self.remarks: list[str] = []
        self.control: str | None = None
        self.start = self.end = self.allowed = None
        self.paid = ZERO
        self.head = ""
        self.segment = 0

    def json(self) -> str:
        """The line's JSON (RemitLine's field order), from where the reader's dicts set each."""
        start, end, control = self.start, self.end, self.control
        return (
            self.head + (f',"service_date":"{start}"' if start else "") + (f',"service_end":"{end}"' if end else "")
            + (f',"control_number":{encode_basestring(control)}' if control else "")
            + (f',"allowed":"{self.allowed}"' if self.allowed else "") + ',"adjustments":[' + ",".join(self.adj_json)
            + ('],"remarks":' + _strings(self.remarks) if self.remarks else '],"remarks":[]')
            + f',"segment":{self.segment}}}'
        )  # fmt: skip


def _svc(elements: list[str], index: int, sep: str) -> _Line:
    """A service line from its SVC."""
    e = elements + _PAD
    proc = e[1].split(sep) if e[1] else []
    if not proc or proc[0] not in PROCEDURE_QUALIFIERS or len(proc) < 2 or not proc[1]:
        raise _Unusual
    charge, paid = _amount(e[2]), _amount(e[3])
    ln = _Line()
    ln.segment, ln.paid = index, paid
    modifiers = _strings([m for m in proc[2:6] if m]) if len(proc) > 2 else "[]"
    head = (f'{{"qualifier":{encode_basestring(proc[0])},"procedure":{encode_basestring(proc[1])},"modifiers":'
            f'{modifiers},"charge":"{charge}","paid":"{paid}"')  # fmt: skip
    if len(elements) > 4:  # SVC04 revenue code, SVC05 units, SVC06 the procedure billed, SVC07 its units
        head += _opt("revenue_code", e[4] or None)
        units = _quantity(e[5])
        head += f',"units":"{units}"' if units is not None else ""
        original = e[6].split(sep) if e[6] else []
        if original:
            if original[0] not in PROCEDURE_QUALIFIERS:
                raise _Unusual
            head += f',"original_qualifier":{encode_basestring(original[0])}'
            head += _opt("original_procedure", original[1] if len(original) > 1 and original[1] else None)
            head += ',"original_modifiers":' + _strings([m for m in original[2:6] if m])
        else:
            head += ',"original_modifiers":[]'
        original_units = _quantity(e[7])
        head += f',"original_units":"{original_units}"' if original_units is not None else ""
    else:
        head += ',"original_modifiers":[]'
    ln.head = head
    return ln


def _cas(e: list[str], index: int, adj: list[Adjustment], adj_json: list[str]) -> None:
    """A CAS's triples (group, reason, amount, quantity) onto the claim's or line's lists."""
    group, size = e[1] if len(e) > 1 else "", len(e)
    if group not in ADJUSTMENT_GROUPS or size > 20:
        raise _Unusual
    found = False
    head = f'{{"group":{encode_basestring(group)},"reason":'
    for pos in range(2, size, 3):
        reason = e[pos]
        if not reason:
            if any(e[pos + 1 : pos + 3]):
                raise _Unusual
            continue
        found = True
        amount = _amount(e[pos + 1] if pos + 1 < size else "")
        quantity = _quantity(e[pos + 2]) if pos + 2 < size else None
        adj.append((group, reason, amount))
        count = f',"quantity":"{quantity}"' if quantity is not None else ""
        adj_json.append(f'{head}{encode_basestring(reason)},"amount":"{amount}"{count},"segment":{index}}}')
    if not found:
        raise _Unusual


def posting_claims(
    data: bytes | str, index: int, full: Callable[[bytes | str, int], Iterator[RemitClaim]]
) -> Iterator[WalkedClaim | RemitClaim]:
    """The claims of the ``index``-th 835 transaction set of ``data`` for
    posting (see the module doc), each a ``WalkedClaim`` or, from where the
    walk hands over, the typed reader's ``RemitClaim``; ``full`` is
    ``remit_claims`` (the typed reader, ``full(data, index)``)."""
    done = 0
    try:
        for clp in _walk(data, index):
            yield clp
            done += 1
    except _Unusual:
        yield from islice(full(data, index), done, None)


def _walk(data: bytes | str, nth: int) -> Iterator[WalkedClaim | RemitClaim]:
    try:
        stream = SegmentStream(data)
    except X12SyntaxError:
        raise _Unusual from None
    segments = iter(stream)
    seen = -1
    for seg in segments:
        e = seg.elements
        if e[0] == "ST" and len(e) > 1 and e[1] == "835":
            seen += 1
            if seen == nth:
                break
    else:
        return
    sep = stream.delimiters.component
    claim: dict[str, Any] | None = None
    line: _Line | None = None
    lines: list[_Line] = []
    footer = False
    for index, e in segments:
        sid = e[0]
        if claim is None:  # the header, between LX and CLP, the footer: no claim's values
            if sid == "CLP":
                if footer:  # a CLP past the PLB (the reader makes a finding of it)
                    raise _Unusual
                claim, line, lines = _clp(e, index), None, []
            elif sid in _ENVELOPE:
                break
            elif sid == "PLB":
                footer = True
            elif footer or sid in ("CAS", "SVC", "NM1", "LQ", "MIA", "MOA"):
                raise _Unusual
            continue
        if sid == "CAS":
            adj, adj_json = (line.adj, line.adj_json) if line is not None else (claim["adj"], claim["adj_json"])
            if len(e) == 4 and e[1] in ADJUSTMENT_GROUPS and e[2] and is_amount(e[3]):  # the usual: one triple
                amount = Decimal(e[3])
                adj.append((e[1], e[2], amount))
                adj_json.append(f'{{"group":{encode_basestring(e[1])},"reason":{encode_basestring(e[2])},'
                                f'"amount":"{amount}","segment":{index}}}')  # fmt: skip
            else:
                _cas(e, index, adj, adj_json)
        elif sid == "MOA" or sid == "MIA":
            p = e + _PAD
            claim["remarks"] += [p[i] for i in ((3, 4, 5, 6, 7) if sid == "MOA" else (5, 20, 21, 22, 23)) if p[i]]
        elif sid == "SVC":
            line = _svc(e, index, sep)
            lines.append(line)
        elif sid == "DTM":
            q, text = (e[1], e[2]) if len(e) > 2 else (e[1] if len(e) > 1 else "", "")
            if line is not None:
                if q in ("472", "150", "151"):
                    day = _day(text)
                    if day is None:
                        raise _Unusual
                    if q != "151":
                        line.start = day
                    if q != "150":
                        line.end = day
            elif q in ("050", "232", "233"):
                claim[{"050": "received", "232": "start", "233": "end"}[q]] = _day(text)
        elif sid == "REF":
            if line is not None and len(e) > 1 and e[1] == "6R":
                line.control = e[2] or None if len(e) > 2 else None
        elif sid == "AMT":
            if line is not None and len(e) > 2 and e[1] == "B6":
                line.allowed = str(_amount(e[2]))
        elif sid == "NM1":
            if line is not None:
                raise _Unusual
            p = e + _PAD
            q = p[1]
            if q == "QC":
                if p[3]:
                    name = _opt("given", p[4] or None) + _opt("middle", p[5] or None) + _opt("suffix", p[7] or None)
                    claim["patient"] = f'{{"family":{encode_basestring(p[3])}{name}}}'
                claim["member"] = p[9] or None
                claim["member_set"] = True
            elif q == "IL":
                if not claim.get("member_set"):
                    claim["member"] = p[9] or None
                    claim["member_set"] = True
            elif q == "82" and p[8] == "XX":
                claim["npi"] = p[9] or None
            elif q == "TT":
                claim["tt"], claim["tt_name"] = p[9] or None, p[3] or None
            elif q not in _CLAIM_NAMES:
                raise _Unusual
        elif sid == "LQ":
            if line is None or len(e) < 2 or e[1] not in ("HE", "RX"):
                raise _Unusual
            if e[1] == "HE" and len(e) > 2 and e[2]:
                line.remarks.append(e[2])
        elif sid == "CLP" or sid == "LX" or sid == "PLB" or sid in _ENVELOPE:
            yield _claim(claim, lines)
            claim = line = None
            if sid == "CLP":
                claim, lines = _clp(e, index), []
            elif sid == "PLB":
                footer = True
            elif sid != "LX":
                break
        elif sid not in IGNORED:
            raise _Unusual  # a segment the reader warns about
    if claim is not None:
        yield _claim(claim, lines)


def _clp(elements: list[str], index: int) -> dict[str, Any]:
    """A claim being walked, from its CLP."""
    e = elements + _PAD
    status = e[2]
    return {
        "e": e, "segment": index, "status": status, "charge": _amount(e[3]), "paid": _amount(e[4]),
        "pr": _amount(e[5]) if e[5] else None, "adj": [], "adj_json": [], "member": None, "patient": None,
        "npi": None, "received": None, "start": None, "end": None, "tt": None, "tt_name": None, "remarks": [],
        "status_text": CLAIM_STATUS.get(status) or f"status {status[:3] or '(empty)'} (not in the gateway's list)",
    }  # fmt: skip


def _claim(c: dict[str, Any], lines: list[_Line]) -> WalkedClaim:
    """The walked claim: its posting values and its JSON (RemitClaim's field order)."""
    e = c["e"]
    pr = c["pr"]
    patient, member, npi = c["patient"], c["member"], c["npi"]
    received, start, end = c["received"], c["start"], c["end"]
    text = (
        f'{{"claim_id":{encode_basestring(e[1])},"status":{encode_basestring(c["status"])},'
        f'"status_text":{encode_basestring(c["status_text"])},"charge":"{c["charge"]}","paid":"{c["paid"]}"'
        + (f',"patient_responsibility":"{pr}"' if pr is not None else "")
        + (f',"filing_indicator":{encode_basestring(e[6])}' if e[6] else "")
        + (f',"payer_claim_id":{encode_basestring(e[7])}' if e[7] else "")
        + (f',"facility_type":{encode_basestring(e[8])}' if e[8] else "")
        + (f',"frequency":{encode_basestring(e[9])}' if e[9] else "")
        + (f',"patient":{patient}' if patient is not None else "")
        + (f',"member_id":{encode_basestring(member)}' if member else "")
        + (f',"rendering_npi":{encode_basestring(npi)}' if npi else "")
        + (f',"received_date":"{received}"' if received else "") + (f',"service_date":"{start}"' if start else "")
        + (f',"service_end":"{end}"' if end else "") + ',"adjustments":[' + ",".join(c["adj_json"])
        + '],"remarks":' + (_strings(c["remarks"]) if c["remarks"] else "[]") + ',"lines":['
        + ",".join([ln.json() for ln in lines]) + "]"
        + _opt("crossover_payer", c["tt"]) + _opt("crossover_name", c["tt_name"]) + f',"segment":{c["segment"]}}}'
    )  # fmt: skip
    return (
        e[1], c["status"], c["charge"], c["paid"], pr, e[7] or None, c["tt"], c["segment"], c["adj"],
        [(ln.paid, ln.control, ln.adj) for ln in lines], text.encode(),
    )  # fmt: skip
