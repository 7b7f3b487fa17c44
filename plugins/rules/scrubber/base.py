"""The scrubber's rule catalogue and check registry (see the package docstring)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date

from gateway.config import Clinic
from gateway.model import Claim, Finding
from gateway.rules import Catalogue

RULES = Catalogue("scrubber")


@dataclass(frozen=True)
class Context:
    """What a check may use besides the claim: the processing date (never the clock)."""

    today: date
    clinic: Clinic | None = None


Check = Callable[[Claim, Context], Iterable[Finding]]
CHECKS: list[Check] = []


def check(fn: Check) -> Check:
    """Register a check function (a claim and context in, findings out)."""
    CHECKS.append(fn)
    return fn


def line_where(i: int, field: str | None = None) -> str:
    """``claim.service_lines[i].field`` (1-based, as X12 LX numbers lines)."""
    return f"claim.service_lines[{i}]" + (f".{field}" if field else "")
