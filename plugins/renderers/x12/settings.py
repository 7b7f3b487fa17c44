"""Settings of the x12-837p renderer: a destination's ``format_settings``
(per clearinghouse) and the clinic settings section ``x12``."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gateway.model import Address

from .syntax import Delimiters
from .values import SAFE_PUNCTUATION

LINE_ENDINGS = {"none": "", "lf": "\n", "crlf": "\r\n"}
DEFAULT_FILE_NAME = "{clinic}-837P-{created:%Y%m%d-%H%M%S}-{isa13:09d}.x12"
_ID = r"^[A-Za-z0-9 .\-]{1,15}$"
_QUALIFIER = r"^[0-9A-Z]{2}$"


def _sample_name(pattern: str) -> str:
    return pattern.format(
        clinic="clinic", created=datetime(2026, 1, 2, 3, 4, 5), isa13=1, gs06=1, claims=1, usage="T", receiver="R"
    )


class X12Settings(BaseModel):
    """``format_settings`` of a destination with ``format: x12-837p``.

    Ids and qualifiers left out come from gateway.yaml's ``submitter`` (ISA06,
    GS02) and ``receiver`` (ISA08, GS03).
    """

    # built when first validated: a destination's, checked when outputs are (not by `gateway inspect`)
    model_config = ConfigDict(extra="forbid", defer_build=True)

    sender_id: str | None = Field(None, pattern=_ID, description="ISA06 (default: submitter.id)")
    sender_qualifier: str | None = Field(None, pattern=_QUALIFIER, description="ISA05 (default: submitter's)")
    receiver_id: str | None = Field(None, pattern=_ID, description="ISA08 (default: receiver.id)")
    receiver_qualifier: str | None = Field(None, pattern=_QUALIFIER, description="ISA07 (default: receiver's)")
    application_sender_code: str | None = Field(None, pattern=_ID, description="GS02 (default: ISA06)")
    application_receiver_code: str | None = Field(None, pattern=_ID, description="GS03 (default: ISA08)")
    usage_indicator: Literal["T", "P"] = Field("T", description="ISA15: T test, P production")
    acknowledgment_requested: bool = Field(False, description="ISA14: ask for a TA1")
    element_separator: str = "*"
    component_separator: str = ":"
    repetition_separator: str = "^"
    segment_terminator: str = "~"
    line_ending: Literal["none", "lf", "crlf"] = Field("lf", description="written after each segment terminator")
    file_name: str = Field(
        DEFAULT_FILE_NAME,
        description="Python format pattern; fields: clinic, created, isa13, gs06, claims, usage, receiver",
    )
    max_claims_per_transaction: int = Field(5000, ge=1, le=5000, description="CLM per ST (TR3 limit 5000)")
    uppercase: bool = Field(True, description="write names and addresses in upper case")
    transaction_type: Literal["CH", "RP"] = Field("CH", description="BHT06: CH chargeable, RP reporting")

    @field_validator("element_separator", "component_separator", "repetition_separator", "segment_terminator")
    @classmethod
    def _one_char(cls, v: str) -> str:
        if len(v) != 1 or not v.isascii() or v.isalnum() or v == " " or v in SAFE_PUNCTUATION:
            raise ValueError(
                "must be one ASCII character that is not a letter, digit, space or one of "
                f"{SAFE_PUNCTUATION} (values may hold those, so they cannot separate elements): "
                "for instance * : ^ ~ | > !"
            )
        return v

    @field_validator("file_name")
    @classmethod
    def _pattern(cls, v: str) -> str:
        try:
            name = _sample_name(v)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"not a usable file name pattern ({exc})") from None
        if "/" in name or "\\" in name or name.startswith(".") or not name.strip():
            raise ValueError("the file name must not contain path separators or start with a dot")
        if "{isa13" not in v:
            raise ValueError("the file name must include {isa13} so that every interchange has its own name")
        return v

    @model_validator(mode="after")
    def _distinct(self) -> X12Settings:
        seps = [self.element_separator, self.component_separator, self.repetition_separator, self.segment_terminator]
        if len(set(seps)) != len(seps):
            raise ValueError("element, component, repetition separators and segment terminator must all differ")
        return self

    def delimiters(self) -> Delimiters:
        return Delimiters(
            self.element_separator,
            self.component_separator,
            self.repetition_separator,
            self.segment_terminator,
            LINE_ENDINGS[self.line_ending],
        )


class X12ClinicSettings(BaseModel):
    """A clinic's ``settings.x12`` section."""

    model_config = ConfigDict(extra="forbid")

    #: 2010AB pay-to address, when payments go somewhere else than the
    #: billing provider's address (a lockbox)
    pay_to_address: Address | None = None
