"""Acme Health: payer rules for the billing gateway (the worked example of
docs/plugins.md).

``gateway_payer_rules`` is called for every claim; this plugin handles claims
whose payer id (2010BB NM109, after the payer directory mapped it) is one of
the clinic's ``settings.acme.payer_ids`` and returns ``None`` for the others.
Acme wants a prior-authorization number (837P REF*G1) on every claim with a
procedure in ``settings.acme.auth_procedures`` (99215 by default), at most 4
diagnoses, and member ids in its format. With ``strict_auth`` the
authorization number must also have Acme's format (``PA`` and 8 digits).
Its rules are declared once, in ``RULES``; ``gateway rules`` lists them.
Configure it per clinic in gateway.yaml::

    settings:
      acme:
        payer_ids: ["ACME1"]
        member_id_pattern: "ACME[0-9]{9}"
        max_diagnoses: 4
        strict_auth: true
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from gateway.config import Clinic
from gateway.hookspecs import hookimpl
from gateway.messages import MessageMeta
from gateway.model import Claim, Finding, Severity
from gateway.rules import Catalogue
from pydantic import BaseModel, ConfigDict, Field, field_validator

#: the gateway plugin API versions this plugin supports (checked when the gateway loads it);
#: 1.3 is the first with Claim.prior_authorization
GATEWAY_API = ">=1.3,<2"
#: the clinic settings section (``clinics[].settings.acme``)
SECTION = "acme"

RULES = Catalogue("acme", prefix="ACME")
MEMBER_ID = RULES.add("ACME-MEMBER-ID", Severity.ERROR, "The member id does not have the payer's format.")
MAX_DIAGNOSES = RULES.add("ACME-MAX-DX", Severity.ERROR, "The claim carries more diagnoses than the payer accepts.")
PRIOR_AUTH = RULES.add(
    "ACME-PRIOR-AUTH",
    Severity.ERROR,
    "A procedure Acme authorizes in advance (99215) is billed without a prior-authorization number (REF*G1).",
)
AUTH_FORMAT = RULES.add(
    "ACME-AUTH-FORMAT",
    Severity.ERROR,
    "With strict_auth: the prior-authorization number is not PA followed by 8 digits.",
)
ACME_AUTH = re.compile(r"PA[0-9]{8}")


class Settings(BaseModel):
    """``settings.acme`` of a clinic (unknown keys are configuration errors)."""

    model_config = ConfigDict(extra="forbid")
    #: X12 payer ids whose claims these rules check
    payer_ids: list[str] = Field(default_factory=lambda: ["ACME1"])
    #: a regular expression the whole member id must match
    member_id_pattern: str = "[A-Z0-9]{6,20}"
    #: the most diagnoses the payer accepts on one claim (837P allows 12)
    max_diagnoses: int = Field(4, ge=1, le=12)
    #: procedure codes Acme authorizes in advance
    auth_procedures: list[str] = Field(default_factory=lambda: ["99215"])
    #: the authorization number must have Acme's format (PA + 8 digits)
    strict_auth: bool = False

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


def _authorizations(claim: Claim, settings: Settings) -> Iterator[Finding]:
    """ACME-PRIOR-AUTH for each line that needs an authorization and has none
    (its own REF*G1 or the claim's); ACME-AUTH-FORMAT with strict_auth."""
    for i, line in enumerate(claim.service_lines, 1):
        if line.procedure_code not in settings.auth_procedures:
            continue
        number = line.prior_authorization or claim.prior_authorization
        if not number:
            where = f"claim.service_lines[{i}].procedure_code"
            yield PRIOR_AUTH.finding(f"line {i}: {line.procedure_code} needs Acme's prior authorization", where)
        elif settings.strict_auth and not ACME_AUTH.fullmatch(number):
            where = f"claim.service_lines[{i}].prior_authorization" if line.prior_authorization else None
            yield AUTH_FORMAT.finding("the prior-authorization number is not PA and 8 digits",
                                      where or "claim.prior_authorization")  # fmt: skip


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
    out.extend(_authorizations(claim, settings))
    return out
