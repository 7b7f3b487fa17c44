"""Acme: payer rules for the billing gateway.

``gateway_payer_rules`` is called for every claim; this plugin handles claims
whose payer id (2010BB NM109, after the payer directory mapped it) is one of
the clinic's ``settings.acme.payer_ids`` and returns ``None`` for the
others. Its rules are declared once, in ``RULES``; ``gateway rules`` lists
them. Configure it per clinic in gateway.yaml::

    settings:
      acme:
        payer_ids: ["ACME1"]
        member_id_pattern: "ACME[0-9]{9}"
        max_diagnoses: 4
"""

from __future__ import annotations

import re
from collections.abc import Callable

from gateway.config import Clinic
from gateway.hookspecs import hookimpl
from gateway.messages import MessageMeta
from gateway.model import Claim, Finding, Severity
from gateway.rules import Catalogue
from pydantic import BaseModel, ConfigDict, Field, field_validator

#: the gateway plugin API versions this plugin supports (checked when the gateway loads it)
GATEWAY_API = ">=1.2,<2"
#: the clinic settings section (``clinics[].settings.acme``)
SECTION = "acme"

RULES = Catalogue("acme", prefix="ACME")
MEMBER_ID = RULES.add("ACME-MEMBER-ID", Severity.ERROR, "The member id does not have the payer's format.")
MAX_DIAGNOSES = RULES.add("ACME-MAX-DX", Severity.ERROR, "The claim carries more diagnoses than the payer accepts.")


class Settings(BaseModel):
    """``settings.acme`` of a clinic (unknown keys are configuration errors)."""

    model_config = ConfigDict(extra="forbid")
    #: X12 payer ids whose claims these rules check
    payer_ids: list[str] = Field(default_factory=lambda: ["ACME1"])
    #: a regular expression the whole member id must match
    member_id_pattern: str = "[A-Z0-9]{6,20}"
    #: the most diagnoses the payer accepts on one claim (837P allows 12)
    max_diagnoses: int = Field(12, ge=1, le=12)

    @field_validator("member_id_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression ({exc})") from None
        return value


@hookimpl
def gateway_register_settings(register: Callable[[str, type[BaseModel]], None]) -> None:
    register(SECTION, Settings)


def settings_of(clinic: Clinic) -> Settings:
    """The clinic's validated settings (the defaults when it has none)."""
    settings = clinic.settings.get(SECTION)
    return settings if isinstance(settings, Settings) else Settings()


@hookimpl
def gateway_payer_rules(claim: Claim, clinic: Clinic, meta: MessageMeta) -> list[Finding] | None:
    settings = settings_of(clinic)
    if claim.payer.id not in settings.payer_ids:
        return None
    out: list[Finding] = []
    # messages say what is wrong, never the value itself (it could identify a patient)
    if not re.fullmatch(settings.member_id_pattern, claim.coverage.subscriber.member_id):
        where = "claim.coverage.subscriber.member_id"
        out.append(MEMBER_ID.finding("the member id does not have the payer's format", where))
    if len(claim.diagnoses) > settings.max_diagnoses:
        out.append(
            MAX_DIAGNOSES.finding(
                f"{len(claim.diagnoses)} diagnoses; the payer accepts at most {settings.max_diagnoses}",
                "claim.diagnoses",
            )
        )
    return out
