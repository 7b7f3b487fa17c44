"""Per-clinic statement branding and wording (``settings.statements``).

A clinic adjusts what its statements and statement e-mails say without code:
plain settings (practice name, logo, remit-to, billing contact, message,
terms) and a wording set of ``str.format`` templates, given inline
(``wording:``) or in a YAML file (``wording_file:``). Templates may only use
the fields listed in :data:`FIELDS`; an unknown key or field is a start-up
error naming the key. Everything file-based is loaded once at start-up into
a :class:`Branding` (``clinic.resources["statements_pdf"]``).
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gateway.config import ClinicConfig, ConfigError, SecretRef, resolve_secret
from gateway.model import Address, DunningStep, StatementCycle

#: Fields every wording template may use (all are strings).
FIELDS = frozenset(
    {
        "practice_name",
        "practice_phone",
        "statement_date",
        "due_date",
        "amount_due",
        "account_number",
        "guarantor_name",
        "billing_phone",
        "billing_email",
        "billing_hours",
        "portal_url",
        "password_hint",
        "payable_to",
        "credit",
    }
)

#: The default wording; a clinic overrides any key. Column headings and
#: labels take no fields but may be reworded or translated.
DEFAULT_WORDING: dict[str, str] = {
    "title": "PATIENT STATEMENT",
    "continued": "Statement (continued)",
    "stub_heading": "PLEASE RETURN THIS PORTION WITH YOUR PAYMENT",
    "tear_line": "Please detach along this line and return the top portion with your payment.",
    "payable_to": "Make checks payable to {payable_to}",
    "remit_to": "Remit to",
    "amount_enclosed": "Amount enclosed",
    "pay_online": "Pay online: {portal_url}",
    "account_number": "Account number",
    "statement_date": "Statement date",
    "due_date": "Payment due by",
    "amount_due": "Amount due",
    "patient": "Patient",
    "guarantor": "Responsible party",
    "col_date": "Date",
    "col_description": "Description",
    "col_charge": "Charge",
    "col_insurance": "Ins. paid",
    "col_adjustments": "Adjustments",
    "col_patient_paid": "You paid",
    "col_balance": "Balance",
    "pending": "insurance pending",
    "pending_short": "pending",
    "pending_note": "Lines marked insurance pending were billed to your insurance and are not due yet.",
    "total_charges": "Total charges",
    "total_pending": "Awaiting insurance",
    "total_due": "Total due",
    "aging_current": "Current",
    "aging_31_60": "31-60 days",
    "aging_61_90": "61-90 days",
    "aging_over_90": "Over 90 days",
    "aging_first_billed": "Aging counts from the date you were first billed for each balance.",
    "final_notice_title": "FINAL NOTICE",
    "final_notice": (
        "FINAL NOTICE: this balance is past due. If {amount_due} is not paid by {due_date}, "
        "the account will be sent to a collection agency."
    ),
    "paid_by": "Paid by",
    "your_share": "Your share",
    "credit": "Credit on your account",
    "credit_note": "You have a credit of {credit} with us; we will refund it or apply it as you ask.",
    "amount_owed_after_credit": "Balance",
    "message": "Thank you for choosing {practice_name}. Payment is due by {due_date}.",
    "contact": "Questions about this statement? Call {billing_phone} ({billing_hours}) or write to {billing_email}.",
    "page": "Page",
    "of": "of",
    "email_subject": "Your statement from {practice_name}",
    "email_body": (
        "Hello,\n\n"
        "your statement from {practice_name} dated {statement_date} is attached as a PDF file.\n"
        "{password_hint}\n\n"
        "Questions? Call {billing_phone} ({billing_hours}).\n\n"
        "{practice_name}\n"
    ),
    "password_hint": "",
}

#: Fields a password rule may use.
PASSWORD_FIELDS = frozenset({"account_number", "guarantor_postal_code", "patient_birth_date"})


def template_fields(template: str) -> set[str]:
    """Names a ``str.format`` template refers to (raises ValueError if malformed)."""
    names = set()
    for _, field_name, _, _ in string.Formatter().parse(template):
        if field_name is not None:
            if not field_name.isidentifier():
                raise ValueError(f"'{{{field_name}}}' is not a plain field name")
            names.add(field_name)
    return names


def check_wording(wording: dict[str, str]) -> list[str]:
    """Problems with a wording set: unknown keys, unknown or malformed fields."""
    problems = []
    for key, text in wording.items():
        if key not in DEFAULT_WORDING:
            problems.append(f"unknown wording key '{key}'")
            continue
        if not isinstance(text, str):
            problems.append(f"wording '{key}' must be text")
            continue
        try:
            unknown = template_fields(text) - FIELDS
        except ValueError as exc:
            problems.append(f"wording '{key}': {exc}")
            continue
        if unknown:
            problems.append(f"wording '{key}' uses unknown field(s) {sorted(unknown)}; known: {sorted(FIELDS)}")
    return problems


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BillingContact(_Strict):
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    hours: str = "Mon-Fri 9am-5pm"


class RemitTo(_Strict):
    name: str
    address: Address


class EncryptionSettings(_Strict):
    """Optional AES-256 encryption of e-mailed statement PDFs (pypdf).

    ``password_rule`` is a template over :data:`PASSWORD_FIELDS` and must
    combine the account number with something else; see docs/statements.md.
    """

    enabled: bool = False
    password_rule: str = "{account_number}{guarantor_postal_code}"
    #: owner (permissions) password; default: derived from the user password
    owner_password: SecretRef | None = None
    min_length: int = Field(10, ge=8)

    @field_validator("password_rule")
    @classmethod
    def _rule(cls, value: str) -> str:
        names = template_fields(value)
        unknown = names - PASSWORD_FIELDS
        if unknown:
            raise ValueError(f"unknown field(s) {sorted(unknown)}; known: {sorted(PASSWORD_FIELDS)}")
        if "account_number" not in names or len(names) < 2:
            raise ValueError("the rule must combine {account_number} with at least one other field")
        return value


#: ``final_notice_after`` / ``collections_after``: a number of days, or ``"N cycles"``
_CYCLES = re.compile(r"^\s*(\d{1,3})\s*cycles?\s*$")


class DunningSettings(_Strict):
    """One dunning step: from ``min_days`` after the patient was first billed, ``message``."""

    min_days: int = Field(ge=0, le=3650)
    message: str

    @field_validator("message")
    @classmethod
    def _template(cls, value: str) -> str:
        problems = check_wording({"message": value})
        if problems:
            raise ValueError("; ".join(problems))
        return value


class CycleSettings(_Strict):
    """``settings.statements.cycle``: the clinic's statement cycle (docs/statements.md)."""

    every_days: int = Field(30, ge=1, le=365)
    small_balance: Decimal = Field(Decimal("0.00"), ge=0, le=1000, decimal_places=2)
    #: days after first billed, or "N cycles" (N × every_days)
    final_notice_after: int | str | None = None
    #: days after the final notice, or "N cycles"
    collections_after: int | str | None = None
    #: the destination of the collections export (a name under ``destinations:``)
    collections_to: str | None = None
    dunning: list[DunningSettings] = Field(default_factory=list)

    @field_validator("final_notice_after", "collections_after")
    @classmethod
    def _days_or_cycles(cls, value: int | str | None) -> int | str | None:
        if isinstance(value, bool) or (isinstance(value, int) and not 0 <= value <= 3650):
            raise ValueError("must be a number of days (0-3650) or 'N cycles'")
        if isinstance(value, str) and not _CYCLES.match(value):
            raise ValueError(f"'{value}' is neither a number of days nor 'N cycles'")
        return value

    @field_validator("dunning")
    @classmethod
    def _ascending(cls, value: list[DunningSettings]) -> list[DunningSettings]:
        days = [d.min_days for d in value]
        if days != sorted(set(days)):
            raise ValueError(f"min_days must increase from one step to the next, each once (got {days})")
        return value

    @model_validator(mode="after")
    def _collections_needs_notice(self) -> CycleSettings:
        if self.collections_after is not None and self.final_notice_after is None:
            raise ValueError("collections_after needs final_notice_after (collections follow the final notice)")
        if self.collections_after is not None and not self.collections_to:
            raise ValueError("collections_after needs collections_to: the destination of the agency's export")
        if self.final_notice_after is not None and self.days(self.final_notice_after) < 1:
            raise ValueError("final_notice_after must be at least 1 day")
        return self

    def days(self, value: int | str) -> int:
        """Days of a ``final_notice_after``/``collections_after`` value."""
        if isinstance(value, int):
            return value
        match = _CYCLES.match(value)
        assert match is not None  # validated
        return int(match.group(1)) * self.every_days

    def policy(self) -> StatementCycle:
        """The core's :class:`~gateway.model.StatementCycle` for these settings."""
        return StatementCycle(
            every_days=self.every_days,
            small_balance=self.small_balance,
            dunning=[DunningStep(min_days=d.min_days, message=d.message) for d in self.dunning],
            final_notice_after_days=None if self.final_notice_after is None else self.days(self.final_notice_after),
            collections_after_days=None if self.collections_after is None else self.days(self.collections_after),
            collections_to=self.collections_to,
        )


class StatementSettings(_Strict):
    """``settings.statements`` of a clinic in gateway.yaml."""

    #: defaults to the clinic's name, billing address and phone
    practice_name: str | None = None
    address: Address | None = None
    phone: str | None = None
    #: PNG or JPEG, relative to gateway.yaml's folder
    logo: str | None = None
    #: defaults to the practice name and address
    remit_to: RemitTo | None = None
    #: defaults to the billing provider's legal name
    payable_to: str | None = None
    billing_contact: BillingContact = Field(default_factory=BillingContact)
    portal_url: str | None = None
    terms_days: int = Field(30, ge=0, le=180)
    #: wording overrides (see DEFAULT_WORDING); a file's keys come first, inline ones win
    wording: dict[str, str] = Field(default_factory=dict)
    wording_file: str | None = None
    encryption: EncryptionSettings = Field(default_factory=EncryptionSettings)
    #: the statement cycle: dunning, final notice, collections (docs/statements.md)
    cycle: CycleSettings | None = None

    @model_validator(mode="after")
    def _wording(self) -> StatementSettings:
        problems = check_wording(self.wording)
        if problems:
            raise ValueError("; ".join(problems))
        return self


@dataclass(frozen=True)
class Branding:
    """Everything a statement of one clinic needs besides the statement."""

    practice_name: str
    address: Address
    phone: str | None
    payable_to: str
    remit_to: RemitTo
    contact: BillingContact
    portal_url: str | None
    wording: dict[str, str]
    encryption: EncryptionSettings
    logo: bytes | None = None
    owner_password: str | None = None

    def text(self, key: str, **values: Any) -> str:
        """The clinic's wording for ``key`` with fields filled in (missing ones empty)."""
        return self.format(self.wording[key], **values)

    @staticmethod
    def format(template: str, **values: Any) -> str:
        """A wording template (checked against :data:`FIELDS`) with fields filled in (missing ones empty)."""
        return string.Formatter().vformat(template, (), _Blank(values))


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def _read_wording_file(path: Path) -> dict[str, str]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([f"settings.statements.wording_file: cannot read {path.name} ({exc.strerror})"]) from None
    except yaml.YAMLError:
        raise ConfigError([f"settings.statements.wording_file: {path.name} is not valid YAML"]) from None
    if not isinstance(data, dict):
        raise ConfigError([f"settings.statements.wording_file: {path.name} must be a mapping of wording keys"])
    problems = check_wording(data)
    if problems:
        raise ConfigError([f"settings.statements.wording_file {path.name}: {p}" for p in problems])
    return data


def _read_logo(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError([f"settings.statements.logo: cannot read {path.name} ({exc.strerror})"]) from None
    if not (data.startswith(b"\x89PNG\r\n\x1a\n") or data.startswith(b"\xff\xd8")):
        raise ConfigError([f"settings.statements.logo: {path.name} is not a PNG or JPEG image"])
    return data


def branding(clinic: ClinicConfig, base_dir: Path | None = None) -> Branding:
    """A clinic's :class:`Branding`; files (logo, wording file, owner password)
    are read only when ``base_dir`` is given (start-up)."""
    s = StatementSettings.model_validate(clinic.settings.get("statements", {}))
    bp = clinic.billing_provider
    name = s.practice_name or clinic.name
    address = s.address or bp.address
    wording = dict(DEFAULT_WORDING)
    logo = owner = None
    if base_dir is not None:
        if s.wording_file:
            wording.update(_read_wording_file(base_dir / s.wording_file))
        if s.logo:
            logo = _read_logo(base_dir / s.logo)
        if s.encryption.owner_password:
            owner = resolve_secret(s.encryption.owner_password, base_dir)
    wording.update(s.wording)
    contact = s.billing_contact.model_copy(update={"phone": s.billing_contact.phone or s.phone or bp.phone})
    return Branding(
        practice_name=name,
        address=address,
        phone=s.phone or bp.phone,
        payable_to=s.payable_to or bp.name,
        remit_to=s.remit_to or RemitTo(name=name, address=address),
        contact=contact,
        portal_url=s.portal_url,
        wording=wording,
        encryption=s.encryption,
        logo=logo,
        owner_password=owner,
    )
