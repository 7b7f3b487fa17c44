"""The one function for 837P element values, the separators it relies on,
and the scrubber rule a clinic cannot switch off."""

from __future__ import annotations

import pytest
from gateway_plugins.renderers.x12.settings import X12Settings
from gateway_plugins.renderers.x12.values import (
    SAFE_PUNCTUATION,
    X12ValueError,
    element_value,
    visible_change,
)
from gateway_plugins.rules.scrubber import ScrubberSettings
from pydantic import ValidationError

from gateway.model import Severity


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("1*2 Odd~Street:Apt^3", "1 2 ODD STREET APT 3"),
        ("Müller-Lüdenscheidt", "MULLER-LUDENSCHEIDT"),
        ("Straße\u00a0Nord", "STRASSE NORD"),
        ("O’Brien – Smith", "O'BRIEN - SMITH"),
        ("AL\x07PHA\u200b", "ALPHA"),  # control and zero-width characters are removed
        ("Line one\r\nline\ttwo", "LINE ONE LINE TWO"),  # breaks and tabs become one space
        ("李 Wei", "WEI"),
        ("  ", ""),
        ("A" * 70, "A" * 60),
    ],
)
def test_free_text_is_cleaned(value: str, written: str) -> None:
    assert element_value(value, 60, identifier=False) == written


def test_free_text_keeps_case_when_asked() -> None:
    assert element_value("claims_desk+x12@example.com", 256, identifier=False, upper=False) == (
        "claims_desk+x12@example.com"
    )


@pytest.mark.parametrize(
    ("value", "visible"),
    [("José García", False), ("Straße", False), ("O’Brien", False), ("AL\x07PHA", False), ("Zoë  Ann", False),
     ("1*2 Main", True), ("李 Wei", True), ("A" * 61, True), ("Anne|Marie", True)],
)  # fmt: skip
def test_visible_change_is_what_a_person_would_notice(value: str, visible: bool) -> None:
    assert visible_change(value, 60) is visible


def test_identifiers_are_written_as_they_are_or_refused() -> None:
    assert element_value(" xhp-123/4 #5 ", 80, identifier=True) == "xhp-123/4 #5"
    cases = {
        "XHP*123": "separator",
        "62701~NM1*ZZ*9": "separator",
        "XHP\x07123": "control character",
        "XHP\u200b123": "control character",
        "XHPé123": "outside the X12 character set",
        "X" * 81: "longer than the 80 characters",
    }
    for value, reason in cases.items():
        with pytest.raises(X12ValueError, match=reason) as info:
            element_value(value, 80, identifier=True)
        assert value not in str(info.value)  # never quoted


@pytest.mark.parametrize("char", [*SAFE_PUNCTUATION, "é", "A", "1", " "])
def test_separators_cannot_be_characters_values_may_hold(char: str) -> None:
    with pytest.raises(ValidationError, match="must be one ASCII character"):
        X12Settings(element_separator=char)


def test_usual_separators_are_accepted() -> None:
    for seps in ("*:^~", "|>!~", "*:^\n", "\x1d\x1f\x1e\x1c"):
        s = X12Settings(element_separator=seps[0], component_separator=seps[1], repetition_separator=seps[2],
                        segment_terminator=seps[3])  # fmt: skip
        assert s.delimiters().element == seps[0]


def test_the_identifier_rule_cannot_be_switched_off_or_downgraded() -> None:
    with pytest.raises(ValidationError, match="SCRUB-X12-ID cannot be switched off or downgraded"):
        ScrubberSettings(disable=["SCRUB-X12-ID"])
    with pytest.raises(ValidationError, match="SCRUB-X12-ID cannot"):
        ScrubberSettings(severity={"SCRUB-X12-ID": Severity.WARNING})
    assert ScrubberSettings(severity={"SCRUB-X12-ID": Severity.ERROR, "SCRUB-X12-TEXT": Severity.ERROR})
    assert ScrubberSettings(disable=["SCRUB-X12-TEXT", "SCRUB-ZIP", "SCRUB-STATE"])
