"""Original-mode acknowledgements (MSH + MSA + ERR), built by hand.

Building an ACK is string work; hl7apy would cost milliseconds per ACK for no
gain, so the tests instead parse every ACK shape with hl7apy (strict) to show
it is valid HL7. The ACK is deterministic — its MSH-7 is the original
message's time and its control id is derived from MSH-10 — so a resent
message gets the same bytes back (the daemon's dedup answers with it).

* AA: no error; AE: errors in the content (a finding per problem, ERR per
  error); AR: the message cannot be processed (garbled MSH, unsupported type,
  oversized segment).
* ERR: v2.5 and later ``ERR||seg^seq^field|code^text^HL70357|E||||message``;
  before 2.5 one ERR with ERR-1 (ELD) repetitions ``seg^seq^field^code&text&HL70357``.
* Batches: a BHS … BTS batch (inside FHS … FTS when the input had one) with
  one ACK per message.
"""

from __future__ import annotations

from collections.abc import Sequence

from .problems import Problem
from .reader import STANDARD, Delimiters, Message, Segment
from .settings import Hl7v2Settings
from .versions import version_index

#: HL7 table 0357 texts of the codes this plugin uses
ERROR_TEXT = {
    "100": "Segment sequence error",
    "101": "Required field missing",
    "102": "Data type error",
    "103": "Table value not found",
    "200": "Unsupported message type",
    "207": "Application internal error",
}
MAX_ERR = 20
SEP = "\r"


def escape(text: str, d: Delimiters) -> str:
    """Escape delimiters in free text (the escape character first)."""
    out = text.replace(d.escape, f"{d.escape}E{d.escape}")
    for ch, code in ((d.field, "F"), (d.component, "S"), (d.repetition, "R"), (d.subcomponent, "T")):
        out = out.replace(ch, f"{d.escape}{code}{d.escape}")
    return out.replace("\r", " ").replace("\n", " ")


def ack_code(problems: Sequence[Problem]) -> str:
    errors = [p for p in problems if p.level.value == "error"]
    if not errors:
        return "AA"
    return "AR" if any(p.reject for p in errors) else "AE"


def _err_segments(errors: Sequence[Problem], version: str, d: Delimiters) -> list[str]:
    c, s, fs = d.component, d.subcomponent, d.field
    idx = version_index(version)
    modern = idx is None or idx >= version_index("2.5")  # type: ignore[operator]
    out = []
    items = []
    for p in errors[:MAX_ERR]:
        place = [p.segment or "", str(p.index or 1) if p.segment else "", str(p.field or "")]
        text = escape(ERROR_TEXT.get(p.code, "Application error"), d)
        if modern:
            code = c.join([p.code, text, "HL70357"])
            out.append(fs.join(["ERR", "", c.join(place).rstrip(c), code, "E", "", "", "", escape(p.message, d)]))
        else:
            items.append(c.join([*place, s.join([p.code, text, "HL70357"])]))
    if items:
        out.append(fs.join(["ERR", d.repetition.join(items)]))
    return out


def build_ack(
    msh: Segment | None, problems: Sequence[Problem], version: str, settings: Hl7v2Settings, d: Delimiters | None = None
) -> str:
    """The ACK for one message (``msh`` None when it had no readable MSH).
    MSH-12 echoes the sender's MSH-12 (``version`` when empty); ``version``,
    the version the message was read as, decides the ERR/MSA layout."""
    d = d or (msh.d if msh is not None else STANDARD)
    fs = d.field

    def raw(n: int) -> str:
        return msh.field(n) if msh is not None else ""

    code = ack_code(problems)
    errors = [p for p in problems if p.level.value == "error"]
    trigger = msh.value(9, 2) if msh is not None else ""
    idx = version_index(version)
    structure = f"{d.component}ACK" if idx is None or idx >= version_index("2.3.1") else ""  # type: ignore[operator]
    control = raw(10)
    header = [
        "MSH",
        d.encoding_characters,
        escape(settings.ack_application, d) if settings.ack_application else raw(5),
        escape(settings.ack_facility, d) if settings.ack_facility else raw(6),
        raw(3),
        raw(4),
        raw(7),
        "",
        f"ACK{d.component}{trigger}{structure}" if trigger or structure else "ACK",
        f"A{control}"[:20] if control else "ACK",
        raw(11) or "P",
        raw(12) or version,  # MSH-12 echoes what was sent; ``version`` shapes ERR and MSA
    ]
    msa = ["MSA", code, control]
    if errors and (idx is not None and idx < version_index("2.5")):  # type: ignore[operator]
        msa.append(escape(errors[0].message, d)[:80])
    segs = [fs.join(header), fs.join(msa), *_err_segments(errors, version, d)]
    return SEP.join(segs) + SEP


def batch_ack(acks: Sequence[str], messages: Sequence[Message], envelope: dict[str, Segment]) -> str:
    """ACKs of a batch file wrapped in BHS/BTS (and FHS/FTS when the input had FHS)."""
    head = envelope.get("BHS") or envelope.get("FHS")
    d = head.d if head is not None else (messages[0].d if messages else STANDARD)
    src = head if head is not None else (messages[0].msh if messages else None)

    def raw(n: int) -> str:
        return src.field(n) if src is not None else ""

    fs = d.field
    ref = head.field(11) if head is not None else ""
    ours = f"A{ref}"[:20] if ref else ""
    out = []
    if "FHS" in envelope:
        f = envelope["FHS"]
        swapped = [f.field(5), f.field(6), f.field(3), f.field(4), f.field(7)]
        out.append(fs.join(["FHS", d.encoding_characters, *swapped, "", "", "", "", f.field(11)]).rstrip(fs))
    bhs = ["BHS", d.encoding_characters, raw(5), raw(6), raw(3), raw(4), raw(7), "", "", "", ours, ref]
    out.append(fs.join(bhs).rstrip(fs))
    body = SEP.join(out) + SEP + "".join(acks) + fs.join(["BTS", str(len(acks))]) + SEP
    if "FHS" in envelope:
        body += fs.join(["FTS", "1"]) + SEP
    return body
