"""Raw bytes → ParseResult: split the input into messages, read each one,
collect findings, updates and the ACK.

Batches (FHS/BHS, or several MSH in one input) give one ParseResult: the
encounters and updates of every message, findings located ``MSG[n]/FT1[2]-11``
(n counts messages from 1), and a batch ACK with one ACK per message. The
pipeline quarantines a whole input when any finding is an error, so a batch
is held until its bad message is fixed; each message's own ACK says which
one failed. A message with errors contributes neither encounters nor updates.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from gateway.messages import Envelope, ParseResult, RecordLookup, RecordUpdate
from gateway.model import Encounter, Finding

from . import strict
from .ack import batch_ack, build_ack
from .convert import Built, Reading, build, kind_of
from .fieldmap import FieldMap, claim_paths
from .problems import Issues
from .reader import STANDARD, Batch, Message, Segment, decode_text, pick, read_batch, split_lines
from .settings import Hl7v2Settings
from .versions import content_version, version_index

FORMAT = "hl7v2"


def describe(msg: Message) -> dict[str, Any]:
    """What routing, dedup and the encounter's extensions need from the MSH."""
    msh = msg.msh
    fields, d = msh.fields, msh.d
    count = len(fields)

    def value(n: int) -> str:  # msh.value(n) for n > 2, without its checks
        raw = fields[n] if n < count else ""
        return pick(raw, d) if raw else ""

    declared = value(12)
    fs = d.field
    sizes = [(s.name, s.text.rstrip(fs).count(fs)) for s in msg.segments]  # Segment.size, inlined
    f9 = fields[9] if count > 9 else ""
    version, overruled = content_version(declared, sizes, bool(f9 and pick(f9, d, 3)))
    mtype, trigger = (pick(f9, d, 1).upper(), pick(f9, d, 2).upper()) if f9 else ("", "")
    return {
        "message_type": f"{mtype}^{trigger}" if trigger else mtype,
        "control_id": value(10),
        "version": version,
        "declared_version": declared,
        "version_overruled": overruled,
        "sending_application": value(3),
        "sending_facility": value(4),
    }


def salvage_header(text: str) -> Segment | None:
    """A header whose encoding characters are garbled, re-read with the
    standard ones when its field separator is usable: enough to route the
    message (MSH-4) and address the ACK (MSH-3…7, MSH-10). Values holding
    a delimiter are left out."""
    for line in split_lines(text[:65_536])[:1]:
        if line.startswith("MSH") and len(line) > 4 and not line[3].isalnum() and not line[3].isspace():
            parts = line.split(line[3])
            keep = ["" if any(c in p for c in "|^~\\&") else p for p in parts[2:]]
            return Segment("MSH", "|".join(["MSH", STANDARD.encoding_characters, *keep]), 1, 1, STANDARD)
    return None


def _msh_starts(text: str) -> list[int]:
    """Where each message header starts: 0 for an MSH at the very start, else
    the offset of the CR/LF before ``MSH``. A literal search (a regex with an
    alternation at its head tries every offset: 25 µs per message)."""
    starts = [0] if text.startswith("MSH") else []
    at = text.find("MSH", 1)
    while at != -1:
        if text[at - 1] in "\r\n":
            starts.append(at - 1)
        at = text.find("MSH", at + 3)
    return starts


_EOL = re.compile(r"[\r\n]")
_LINE_END = re.compile(r"\r\n|\r|\n")


def _header_text(text: str, starts: list[int]) -> str:
    """The text up to the end of the first MSH segment (batch envelope
    segments included): what routing and dedup need, whatever the input's size."""
    if not starts:
        return text[:65_536]
    end = _EOL.search(text, starts[0] + 1)
    return text[: end.start() if end else len(text)]


def _cap_segments(text: str, limit: int) -> str:
    """``text`` with every message longer than ``limit`` segments cut just
    after its ``limit + 1``-th line: such a message is refused (HL7-SEGMENTS)
    and is not worth turning into thousands of segment objects first."""
    starts = _msh_starts(text) or [0]
    bounds = [*starts[1:], len(text)]
    over = [
        (a, b)
        for a, b in zip(starts, bounds, strict=True)
        if max(text.count("\r", a, b), text.count("\n", a, b)) > limit
    ]
    if not over:
        return text
    parts, at = [], 0
    for a, b in over:
        cut, lines = a + 1, 0
        while lines <= limit and (nxt := _LINE_END.search(text, cut, b)) is not None:
            cut, lines = nxt.end(), lines + 1
        parts += [text[at:cut], "\r"]
        at = b
    parts.append(text[at:])
    return "".join(parts)


def sniff(raw: bytes) -> Envelope | None:
    """An Envelope when ``raw`` starts (after BOM, blanks, MLLP bytes) with
    MSH, FHS or BHS. Only the header segments are read (the batch envelope and
    the first MSH), so sniffing costs little whatever the input's size; the
    version is the first header's (the parse reads it by content)."""
    head = raw[:64].lstrip(b"\xef\xbb\xbf \t\r\n\x0b")
    if head[:3] not in (b"MSH", b"FHS", b"BHS"):
        return None
    text, _ = decode_text(raw)
    starts = _msh_starts(text)
    batch = read_batch(_header_text(text, starts))  # envelope segments and the first MSH only: cheap
    if not batch.messages:
        head = salvage_header(text)
        return Envelope(format=FORMAT, sender=(head.value(4) or None) if head else None)
    first = describe(batch.messages[0])
    env = batch.envelope.get("BHS") or batch.envelope.get("FHS")
    control = (env.value(11) if env is not None else "") or first["control_id"]
    app, fac = first["sending_application"], first["sending_facility"]
    extra = {
        "sending_application": app,
        "declared_version": first["declared_version"],
        "messages": len(starts),
        "dedup_key": f"{app}^{fac}|{control}",
    }
    return Envelope(
        format=FORMAT,
        sender=fac or None,
        control_id=control or None,
        message_type=first["message_type"],
        version=first["version"],
        extra=extra,
    )


def _oversized(msg: Message, cap: int, problems: Issues) -> None:
    for seg in msg.segments:
        if len(seg.text) > cap:
            fields = seg.fields
            biggest = max(range(1, len(fields)), key=lambda i: len(fields[i])) if len(fields) > 1 else None
            problems.add("HL7-SEGMENT-SIZE", f"{seg.name} segment is longer than {cap} characters", seg, biggest)


def read_message(
    msg: Message,
    settings: Hl7v2Settings,
    fm: FieldMap,
    clinic_id: str,
    records: RecordLookup,
    problems: Issues,
    prefix: str = "",
) -> tuple[Built, dict[str, Any]]:
    """Encounters and updates of one message; problems in ``problems``;
    ``prefix`` (``MSG[2]/``) starts the ``source_ref`` of its lines."""
    msh = msg.msh
    info = describe(msg)
    if msg.msh_repaired:
        problems.add("HL7-MSH-2", "MSH-2 repeats an encoding character; the repeat was ignored", msh, 2)
    _oversized(msg, settings.max_segment_length, problems)
    if len(msg.segments) > settings.max_segments:
        problems.add("HL7-SEGMENTS", f"the message has more than {settings.max_segments} segments", msh)
    if not msh.value(9, 1):
        problems.add("HL7-MSH", "MSH-9 message type is empty", msh, 9)
    if not info["control_id"]:
        problems.add("HL7-MSH", "MSH-10 message control id is empty", msh, 10)
    if info["version_overruled"]:
        declared = info["declared_version"][:8]
        if version_index(info["declared_version"]) is not None:
            text = f"MSH-12 says {declared}; read as {info['version']}"
        elif declared:
            text = f"MSH-12 '{declared}' is not an HL7 v2 version; read as {info['version']}"
        else:
            text = f"MSH-12 (version) is empty; read as {info['version']}"
        problems.add("HL7-VERSION", text, msh, 12)
    if problems.rejected:
        return Built(), info
    mtype, trigger = info["message_type"].partition("^")[::2]
    kind = kind_of(mtype, trigger)
    if kind is None:
        if settings.accept_other_types:
            problems.add("HL7-IGNORED-TYPE", f"{info['message_type'][:16]} is not a billing message; ignored", msh, 9)
            _charges_not_billed(msg, fm, info["message_type"], problems)
        else:
            problems.add("HL7-MESSAGE-TYPE", f"{info['message_type'][:16]} is not a billing message", msh, 9)
        return Built(), info
    if kind != "charges":
        _charges_not_billed(msg, fm, info["message_type"], problems)
    if settings.strict:
        problems.items += strict.validate(msg, info["version"], strict.mapped_outside(claim_paths(fm)))
    ext = {k: info[k] for k in ("message_type", "control_id", "version", "sending_application", "sending_facility")}
    ext["message_index"] = msg.number
    try:
        built = build(msg, kind, fm, clinic_id, records, problems, ext, Reading.of(msg, settings, prefix))
    except (ValueError, TypeError) as exc:  # a value the canonical model refuses
        problems.add("HL7-INTERNAL", f"the message could not be read ({type(exc).__name__})", msh)
        return Built(), info
    return built, info


def _charges_not_billed(msg: Message, fm: FieldMap, message_type: str, problems: Issues) -> None:
    """A warning for each charge (FT1 of a billed type, or none) in a message
    that bills nothing (an ADT, an ignored type): it must not vanish quietly."""
    for seg in msg.all(fm.charge.segment):
        kind = seg.value(fm.charge.type.field, fm.charge.type.component or 1).strip().upper()
        if kind == "" or kind in fm.charge.billed_types:
            text = f"{seg.name} charge in a {message_type[:16]} message is not billed; send it in DFT^P03 or BAR^P01"
            problems.add("HL7-CHARGE-NOT-BILLED", text, seg, fm.charge.type.field)


def _batch_problems(batch: Batch, infos: list[dict[str, Any]], problems: Issues) -> None:
    senders = {(i["sending_application"], i["sending_facility"]) for i in infos}
    if len({fac for _, fac in senders}) > 1:
        problems.at("HL7-BATCH", "the messages of this batch come from different facilities (MSH-4)", "MSH")
    for trailer, found in batch.counts:
        sent = trailer.value(1)
        if sent.isdigit() and int(sent) != found:
            what = "messages" if trailer.name == "BTS" else "batches"
            text = f"{trailer.name}-1 counts {int(sent)} {what}, {found} found"
            problems.at("HL7-BATCH-COUNT", text, trailer.name, trailer.index, 1)


class _Overlay:
    """Records as seen by the next message of a batch: what earlier messages
    of the same input taught, over what the gateway already knew."""

    def __init__(self, base: RecordLookup) -> None:
        self.base = base
        self.local: dict[tuple[str, str], Any] = {}

    def get(self, clinic_id: str, kind: str, key: str) -> Any | None:
        value = self.local.get((kind, key))
        return value if value is not None else self.base.get(clinic_id, kind, key)

    def apply(self, updates: list[RecordUpdate]) -> None:
        for u in updates:
            self.local[(u.kind, u.key)] = u.value


def parse(raw: bytes, settings: Hl7v2Settings, fm: FieldMap, clinic_id: str, records: RecordLookup) -> ParseResult:
    """Read every message of ``raw`` (see the module docstring)."""
    return parse_stream(raw, settings, fm, clinic_id, records).drain()


def parse_stream(
    raw: bytes, settings: Hl7v2Settings, fm: FieldMap, clinic_id: str, records: RecordLookup
) -> ParseResult:
    """:func:`parse` one message at a time: the result's ``stream`` yields
    the encounters of each message as it is read (a message with errors
    yields none); findings, updates and the ACK are complete once it is
    exhausted. A batch is never turned into encounters all at once."""
    file_problems = Issues()
    if len(raw) > settings.max_message_bytes:
        file_problems.at("HL7-SIZE", f"the input is larger than {settings.max_message_bytes} bytes", "MSH")
        return _finish(ParseResult(), file_problems, [], Batch([], {}, []), settings)
    text, latin = decode_text(raw)
    batch = read_batch(_cap_segments(text, settings.max_segments))
    if latin and not any("8859" in m.msh.value(18) for m in batch.messages):
        file_problems.at("HL7-ENCODING", "the text is not UTF-8; read as ISO 8859-1", "MSH", 1, 18)
    if batch.garbled_header is not None:
        file_problems.at("HL7-MSH", "MSH-1/MSH-2 separators are not readable", "MSH", 1, 2)
        batch.salvaged = salvage_header(text) if not batch.messages else None
    elif not batch.messages:
        file_problems.at("HL7-MSH", "no MSH segment found", "MSH", 1)
    del text
    for n in batch.stray_lines[:20]:
        file_problems.at("HL7-STRAY-LINE", f"line {n} is not a segment; skipped", f"line {n}")
    result = ParseResult()
    result.stream = _read_messages(result, batch, file_problems, settings, fm, clinic_id, records)
    return result


def _read_messages(
    result: ParseResult,
    batch: Batch,
    file_problems: Issues,
    settings: Hl7v2Settings,
    fm: FieldMap,
    clinic_id: str,
    records: RecordLookup,
) -> Iterator[tuple[Encounter, list[Finding]]]:
    """The encounters of each message of ``batch`` as it is read; fills
    ``result`` (findings, updates, ACK) as it goes and finishes it at the end."""
    multi = len(batch.messages) > 1 or bool(batch.envelope)
    acks: list[str] = []
    infos: list[dict[str, Any]] = []
    known = _Overlay(records)
    messages, batch.messages = batch.messages[::-1], batch.messages[:1]  # the first stays: the batch ACK's header
    while messages:
        msg = messages.pop()  # each message's segments let go of once read
        problems = Issues()
        prefix = f"MSG[{msg.number}]/" if multi else ""
        built, info = read_message(msg, settings, fm, clinic_id, known, problems, prefix)
        infos.append(info)
        result.findings += [p.finding(prefix) for p in problems.items]
        own = problems.items if multi else problems.items + file_problems.items
        acks.append(build_ack(msg.msh, own, info["version"], settings))
        if not problems.errors:
            result.updates += built.updates
            known.apply(built.updates)
            encounters, built = built.encounters, None
            while encounters:  # each encounter let go of by the reader once used
                yield encounters.pop(0), []
    if multi:
        _batch_problems(batch, infos, file_problems)
    _finish(result, file_problems, acks, batch, settings, multi)


def _finish(
    result: ParseResult,
    file_problems: Issues,
    acks: list[str],
    batch: Batch,
    settings: Hl7v2Settings,
    multi: bool = False,
) -> ParseResult:
    result.findings = [p.finding() for p in file_problems.items] + result.findings
    if file_problems.rejected or not acks:
        result.encounters, result.updates = [], []
    if not acks:
        ack = build_ack(batch.salvaged, file_problems.items, "2.5", settings)
    elif multi:
        ack = batch_ack(acks, batch.messages, batch.envelope)
    else:
        ack = acks[0]
    result.acknowledgement = ack.encode("utf-8")
    return result
