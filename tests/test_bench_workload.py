"""The benchmark's HL7 workload is the one issue 18 names.

benchmarks/bench_process.py (also used by bench_durable, bench_scaling and
stages_process) once read its sample with ``read_text()``, whose universal
newlines turned the CR separators into LF: every figure then measured 2 FT1,
2 DG1, v2.5 and messages python-hl7 read as a single segment.
"""

from __future__ import annotations

import hl7

from benchmarks.bench_process import message


def test_each_message_is_a_dft_p03_v251_with_3_ft1_3_dg1_1_in1_1_gt1() -> None:
    text = message(7)
    assert "\n" not in text and text.endswith("\r")
    parsed = hl7.parse(text)
    names = [str(seg[0]) for seg in parsed]
    assert names.count("FT1") == 3 and names.count("DG1") == 3
    assert names.count("IN1") == 1 and names.count("GT1") == 1
    msh = parsed.segment("MSH")
    assert str(msh[12]) == "2.5.1" and str(msh[9]).startswith("DFT^P03")
    cpts = [str(seg[25]).split("^")[0] for seg in parsed.segments("FT1")]
    assert all(c.isdigit() and len(c) == 5 for c in cpts), cpts


def test_each_message_is_its_own_visit() -> None:
    assert message(1) != message(2)
    assert "P0000002" in message(2)
