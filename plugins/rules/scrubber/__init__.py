"""Clean-claim rules: what clearinghouses reject that X12 validation does not catch.

Every rule has a stable id, a default severity and a description in
:data:`RULES` (docs/scrubbing.md lists them; a test keeps the two in step).
Checks live in small modules by subject (providers, lines, parties) and
register themselves with :func:`~gateway_plugins.rules.scrubber.base.check`. Date
rules use the message's processing date (``meta.today``), never the clock.

A clinic can switch rules off or change their severity (clearinghouses
differ)::

    settings:
      scrubber:
        disable: [SCRUB-DIAG-DUPLICATE]
        severity: {SCRUB-ADDRESS: error}
"""

from __future__ import annotations

from collections.abc import Callable

from gateway_plugins.rules.scrubber import elements, lines, parties, providers, situational
from gateway_plugins.rules.scrubber.base import CHECKS, RULES, Context
from pydantic import BaseModel, ConfigDict, Field, field_validator

from gateway.config import Clinic
from gateway.hookspecs import hookimpl
from gateway.messages import MessageMeta
from gateway.model import Claim, Finding, Severity

__all__ = ["RULES", "ScrubberSettings", "elements", "lines", "parties", "providers", "scrub", "situational"]


def _known(ids: list[str]) -> list[str]:
    unknown = [i for i in ids if i not in RULES]
    if unknown:
        raise ValueError(f"unknown scrubber rule(s) {', '.join(unknown)}; see docs/scrubbing.md")
    return ids


def _mandatory(ids: list[str]) -> None:
    if ids:
        raise ValueError(
            f"{', '.join(ids)} cannot be switched off or downgraded: the 837P renderer refuses such claims anyway"
        )


class ScrubberSettings(BaseModel):
    """``settings.scrubber`` of a clinic."""

    model_config = ConfigDict(extra="forbid")
    disable: list[str] = Field(default_factory=list)
    severity: dict[str, Severity] = Field(default_factory=dict)

    @field_validator("disable")
    @classmethod
    def _check_disable(cls, value: list[str]) -> list[str]:
        _mandatory([i for i in _known(value) if i in elements.MANDATORY])
        return value

    @field_validator("severity")
    @classmethod
    def _check_severity(cls, value: dict[str, Severity]) -> dict[str, Severity]:
        _known(list(value))
        _mandatory([i for i, sev in value.items() if i in elements.MANDATORY and sev is not RULES[i].severity])
        return value


def scrub(claim: Claim, ctx: Context, settings: ScrubberSettings | None = None) -> list[Finding]:
    """Run every registered check on ``claim``, applying the clinic's overrides."""
    settings = settings or ScrubberSettings()
    out = []
    for fn in CHECKS:
        for f in fn(claim, ctx):
            if f.rule in settings.disable:
                continue
            if f.rule in settings.severity:
                f = f.model_copy(update={"severity": settings.severity[f.rule]})
            out.append(f)
    return out


@hookimpl
def gateway_register_settings(register: Callable[[str, type[BaseModel]], None]) -> None:
    register("scrubber", ScrubberSettings)


@hookimpl
def gateway_scrub_claim(claim: Claim, clinic: Clinic, meta: MessageMeta) -> list[Finding]:
    settings = clinic.settings.get("scrubber")
    return scrub(
        claim,
        Context(today=meta.today, clinic=clinic),
        settings if isinstance(settings, ScrubberSettings) else None,
    )
