"""The HL7 reader keeps a few pure answers for values a feed repeats
(dates, numbers, the version a message shape needs): the cached answers
are the uncached ones, a bad value is reported every time it is sent, and
long values are never kept."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from gateway_plugins.inbound.hl7v2 import values, versions
from gateway_plugins.inbound.hl7v2.parse import describe
from gateway_plugins.inbound.hl7v2.problems import Issues

from .test_hl7v2_support import BAD, GOOD, HL7_FIXTURES, messages, run

SAMPLE = HL7_FIXTURES / "dft_p03_v25_cpt_modifiers.hl7"
EDGES = ["", "2026", "202610", "20261012", "20261012093000-0500", "2026-10-12", "2026-13-45", "20261345",
         "20260230", "2026101", "20261012x", "185.00", "$1,250.00", "1e3", "NaN", "Infinity", "-0", "12x", " 7 ",
         "1" * 41]  # fmt: skip


def _sent_values() -> list[str]:
    """Every field and component value of every HL7 fixture, and the edge cases above."""
    out = set(EDGES)
    for path in GOOD + BAD:
        for msg in messages(path.read_bytes()):
            for seg in msg.segments:
                for field in seg.fields[1:]:
                    out.update(c.strip() for c in field.replace("&", "^").replace("~", "^").split("^"))
    return sorted(out)


def test_cached_dates_and_numbers_are_the_uncached_ones() -> None:
    sent = _sent_values()
    assert len(sent) > 500
    for value in sent:
        if not value:
            continue
        for _ in range(2):  # the second answer comes from the cache
            assert values._read_date_cached(value) == values._read_date(value), value
            assert values._read_number_cached(value) == values._read_number(value), value


def test_a_bad_value_is_reported_each_time_it_is_sent() -> None:
    """The same bad date and amount in both messages of a batch: a finding for each message."""
    one = SAMPLE.read_text().replace("\n", "\r")
    assert "|20261012||CG|" in one and "|185.00&USD|" in one
    bad = one.replace("|20261012||CG|", "|20261345||CG|", 1).replace("|185.00&USD|", "|185.0x&USD|", 1)
    result = run((bad + bad).encode())
    found = sorted((f.rule, f.location) for f in result.findings if f.rule in ("HL7-DATE", "HL7-NUMBER"))
    assert found == [
        ("HL7-DATE", "MSG[1]/FT1[1]-4"),
        ("HL7-DATE", "MSG[2]/FT1[1]-4"),
        ("HL7-NUMBER", "MSG[1]/FT1[1]-11"),
        ("HL7-NUMBER", "MSG[2]/FT1[1]-11"),
    ]


def test_long_values_are_read_without_the_cache() -> None:
    before = values._read_number_cached.cache_info().currsize
    problems = Issues()
    assert values.to_decimal("9" * 5000, problems, None, 11, "FT1-11") is None
    assert values.to_decimal("1" * 41, problems, None, 11, "FT1-11") is None  # over MAX_AMOUNT
    assert values.to_decimal("1" * 10, problems, None, 11, "FT1-11", Decimal("1e12")) == Decimal("1" * 10)
    assert values._read_number_cached.cache_info().currsize <= before + 1
    assert [p.rule for p in problems.items] == ["HL7-NUMBER", "HL7-NUMBER"]


@pytest.mark.parametrize("path", GOOD + BAD, ids=lambda p: p.name)
def test_cached_version_by_content_is_the_uncached_one(path: Path) -> None:
    for msg in messages(path.read_bytes()):
        info = describe(msg)
        fs = msg.d.field
        sizes = [(s.name, s.size) for s in msg.segments]
        structure = bool(msg.msh.value(9, 3))
        expected = versions._version_of(msg.msh.value(12), sizes, structure)
        assert (info["version"], info["version_overruled"]) == expected
        assert versions.content_version(msg.msh.value(12), sizes, structure) == expected
        assert sizes == [(s.name, s.text.rstrip(fs).count(fs)) for s in msg.segments]
