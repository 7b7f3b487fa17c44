"""Shared helpers of the HL7 v2 tests (and a check of the helpers themselves)."""

from __future__ import annotations

from pathlib import Path

import hl7
from gateway_plugins.inbound.hl7v2 import RESOURCE
from gateway_plugins.inbound.hl7v2.fieldmap import FieldMap, default_map
from gateway_plugins.inbound.hl7v2.parse import parse
from gateway_plugins.inbound.hl7v2.reader import Message, decode_text, read_batch, split_lines
from gateway_plugins.inbound.hl7v2.settings import Hl7v2Settings

from gateway.app import Gateway
from gateway.config import Clinic
from gateway.messages import MemoryRecords, ParseResult

ROOT = Path(__file__).resolve().parent.parent
HL7_FIXTURES = ROOT / "fixtures" / "hl7v2"
GOOD = sorted(p for p in HL7_FIXTURES.glob("*.hl7"))
BAD = sorted((HL7_FIXTURES / "invalid").glob("*.hl7"))

#: (segment, field) pairs the differential tests compare with python-hl7
DIFF_FIELDS = [
    ("PID", 3), ("PID", 5), ("PID", 7), ("PV1", 19), ("FT1", 4), ("FT1", 7), ("FT1", 10), ("FT1", 11),
    ("FT1", 25), ("FT1", 26), ("DG1", 3), ("IN1", 3), ("IN1", 16), ("IN1", 17), ("IN1", 36),
]  # fmt: skip


def run(
    raw: bytes,
    records: MemoryRecords | None = None,
    settings: Hl7v2Settings | None = None,
    fm: FieldMap | None = None,
    clinic_id: str = "riverside",
) -> ParseResult:
    """The plugin's parse, as the pipeline calls it, without a gateway."""
    return parse(raw, settings or Hl7v2Settings(), fm or default_map(), clinic_id, records or MemoryRecords())


def clinic_of(gateway: Gateway, clinic_id: str = "riverside") -> Clinic:
    clinic = gateway.clinics[clinic_id]
    assert isinstance(clinic.resources[RESOURCE], FieldMap)
    return clinic


def messages(raw: bytes) -> list[Message]:
    return read_batch(decode_text(raw)[0]).messages


def python_hl7_messages(raw: bytes) -> list[hl7.Message]:
    """The same input as python-hl7 needs it: CR separators, one message at
    a time, batch envelope and blank lines left out, MSH-2 repaired."""
    out = []
    for msg in messages(raw):
        lines = [s.text for s in msg.segments]
        fs = msg.d.field
        head = lines[0].split(fs)
        head[1] = msg.d.encoding_characters
        lines[0] = fs.join(head)
        out.append(hl7.parse("\r".join(lines)))
    return out


def test_fixture_sets_are_large_enough() -> None:
    assert len(GOOD) >= 15 and len(BAD) >= 5
    versions = set()
    for path in GOOD:
        for msg in messages(path.read_bytes()):
            versions.add(msg.msh.value(12)[:3])
    assert {"2.3", "2.4", "2.5", "2.6", "2.7", "2.8"} <= versions


def test_python_hl7_helper_reads_every_fixture() -> None:
    for path in GOOD:
        assert python_hl7_messages(path.read_bytes()), path.name
    assert split_lines("A|1\r\nB|2\n\nC|3\r") == ["A|1", "B|2", "C|3"]
