"""Differential test: the plugin's reader and python-hl7 read the same
values for the billing fields of every fixture (after the same escape
decoding), repetition by repetition, component by component."""

from __future__ import annotations

from pathlib import Path

import hl7
import pytest
from gateway_plugins.inbound.hl7v2.reader import Message

from .test_hl7v2_support import DIFF_FIELDS, GOOD, messages, python_hl7_messages


def compare(mine: Message, theirs: hl7.Message) -> int:
    """Assert equal values; return how many values were compared."""
    d = mine.d
    compared = 0
    for name, n in DIFF_FIELDS:
        for i, seg in enumerate(mine.all(name), 1):
            for r, rep in enumerate(seg.repetitions(n), 1):
                for c, comp in enumerate(rep.split(d.component), 1):
                    for s in range(1, len(comp.split(d.subcomponent)) + 1):
                        ours = seg.value(n, c, s, r - 1)
                        other = theirs.extract_field(name, i, n, r, c, s).replace("\r", "\n")
                        assert ours == other, f"{name}[{i}]-{n} rep {r} comp {c} sub {s}"
                        compared += 1
    return compared


def check_file(path: Path) -> int:
    raw = path.read_bytes()
    ours, theirs = messages(raw), python_hl7_messages(raw)
    assert len(ours) == len(theirs)
    return sum(compare(m, t) for m, t in zip(ours, theirs, strict=True))


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.name)
def test_fields_equal_python_hl7(path: Path) -> None:
    assert check_file(path) > 10


def test_escapes_are_compared() -> None:
    """The escape fixture really exercises decoding in compared fields."""
    (msg,) = messages(next(p for p in GOOD if "escape" in p.name).read_bytes())
    assert "\\" in msg.first("PID").field(5) and msg.first("PID").value(5, 1) == "O'TESTER"
