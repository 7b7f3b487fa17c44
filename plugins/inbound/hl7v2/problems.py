"""Problems found while reading HL7 v2: findings for the pipeline and ERR
segments for the ACK, from one record.

Every rule is declared once in the catalogue :data:`RULES` (``gateway rules``
and docs/rules.md list them), with its ACK code in :data:`ACK_CODES`.
Messages name segments and fields, never values: they may be patient data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.codes import MAX_COVERAGES, MAX_MODIFIERS, MAX_POINTERS
from gateway.model import Finding, Severity
from gateway.rules import Catalogue, Rule

from .reader import Segment

PLUGIN = "hl7v2"

E, W, I = Severity.ERROR, Severity.WARNING, Severity.INFO  # noqa: E741

RULES = Catalogue(PLUGIN, prefix="HL7")
#: rule id → (HL7 table 0357 error code for the ACK's ERR, reject (AR) rather than AE)
ACK_CODES: dict[str, tuple[str, bool]] = {}


def _rule(rule_id: str, severity: Severity, code: str, reject: bool, description: str) -> Rule:
    ACK_CODES[rule_id] = (code, reject)
    return RULES.add(rule_id, severity, description)


_rule("HL7-MSH", E, "100", True, "No readable MSH (field separator, encoding characters, MSH-9, MSH-10).")
_rule("HL7-CONFIG", E, "207", False, "The clinic's HL7 field map was not loaded.")
_rule("HL7-CHARGE-NOT-BILLED", W, "0", False, "A charge (FT1) in a message that bills nothing (ADT, ignored type).")
_rule("HL7-MSH-2", W, "0", False, "MSH-2 repeats an encoding character; the repeat was ignored.")
_rule("HL7-ENCODING", W, "0", False, "Text is not UTF-8; read as ISO 8859-1.")
_rule("HL7-VERSION", I, "0", False, "MSH-12 is not a known version or lower than the content uses; read by content.")
_rule("HL7-STRAY-LINE", W, "0", False, "A line that is not a segment was skipped.")
_rule("HL7-SEGMENT-SIZE", E, "102", True, "A segment is longer than settings.hl7v2.max_segment_length.")
_rule("HL7-SIZE", E, "207", True, "The input is larger than settings.hl7v2.max_message_bytes.")
_rule("HL7-SEGMENTS", E, "207", True, "A message has more segments than settings.hl7v2.max_segments.")
_rule("HL7-MESSAGE-TYPE", E, "200", True, "Message type not handled by the billing gateway.")
_rule("HL7-IGNORED-TYPE", I, "0", False, "Message type accepted and ignored (settings.hl7v2.accept_other_types).")
_rule("HL7-BATCH", E, "100", True, "Batch envelope problem (mixed senders, no messages).")
_rule("HL7-BATCH-COUNT", W, "0", False, "BTS-1/FTS-1 count differs from the messages found.")
_rule("HL7-NO-PID", E, "100", False, "Required segment PID is missing.")
_rule("HL7-REQUIRED", E, "101", False, "A required field is empty.")
_rule("HL7-DATE", E, "102", False, "A date field is not a date.")
_rule("HL7-DATE-PRECISION", W, "0", False, "A date has no day (year or month only); left out.")
_rule("HL7-NUMBER", E, "102", False, "A numeric field is not a number, or out of range (gateway.money).")
_rule("HL7-DOB", W, "0", False, "A birth date before 1900 or after the message date (MSH-7).")
_rule("HL7-NO-VISIT", W, "0", False, "No visit number (PV1-19); the message control id is used.")
_rule("HL7-NO-CHARGES", I, "0", False, "A charge message without billable FT1 charges.")
_rule("HL7-NOT-BILLED", I, "0", False, "Credit, payment or adjustment transaction kept, not billed.")
_rule("HL7-CHARGE-TYPE", W, "0", False, "FT1-6 is empty or unknown.")
_rule("HL7-REVERSAL", W, "0", False, "A charge with a negative quantity or amount (reversal) is not billed.")
_rule("HL7-AMOUNT", W, "0", False, "Extended amount differs from unit amount × quantity; extended amount used.")
_rule("HL7-CURRENCY", W, "0", False, "An amount is not in USD.")
_rule("HL7-NO-CODE", W, "0", False, "A charge has neither a procedure code nor a charge code.")
_rule("HL7-MODIFIERS", W, "0", False, f"More than {MAX_MODIFIERS} modifiers; the first {MAX_MODIFIERS} are kept.")
_rule(
    "HL7-POINTERS",
    W,
    "0",
    False,
    f"More than {MAX_POINTERS} diagnoses on a charge; the first {MAX_POINTERS} are pointed to.",
)
_rule("HL7-NPI", W, "0", False, "An identifier sent as an NPI fails the NPI check digit.")
_rule("HL7-COVERAGE", E, "101", False, "An IN1 cannot become a coverage (no payer or member id).")
_rule("HL7-COVERAGES", W, "0", False, f"More than {MAX_COVERAGES} coverages; the first {MAX_COVERAGES} are kept.")
_rule(
    "HL7-RELATIONSHIP",
    W,
    "0",
    False,
    "Insured's name and birth date are the patient's but the relationship is not self.",
)
_rule("HL7-STRICT", E, "102", False, "Strict validation (hl7apy) failed.")
_rule("HL7-INTERNAL", E, "207", False, "The message could not be read (a value the model refuses); see the location.")


@dataclass(frozen=True)
class Problem:
    """One problem at a segment/field (both optional)."""

    rule: str
    message: str
    segment: str | None = None
    index: int | None = None
    field: int | None = None
    severity: Severity | None = None

    @property
    def level(self) -> Severity:
        return self.severity or RULES[self.rule].severity

    @property
    def code(self) -> str:
        return ACK_CODES[self.rule][0]

    @property
    def reject(self) -> bool:
        return ACK_CODES[self.rule][1]

    def location(self, prefix: str = "") -> str | None:
        if self.segment is None:
            return prefix.rstrip("/") or None
        where = self.segment if self.index is None else f"{self.segment}[{self.index}]"
        if self.field is not None:
            where += f"-{self.field}"
        return prefix + where

    def finding(self, prefix: str = "") -> Finding:
        return RULES[self.rule].finding(self.message, self.location(prefix), self.severity)


@dataclass
class Issues:
    """The problems of one message, in the order found (each rule from :data:`RULES`)."""

    items: list[Problem] = field(default_factory=list)

    def add(self, rule: str, message: str, seg: Segment | None = None, fld: int | None = None) -> None:
        if seg is None:
            self.items.append(Problem(rule, message, field=fld))
        else:
            self.items.append(Problem(rule, message, seg.name, seg.index, fld))

    def at(self, rule: str, message: str, segment: str, index: int | None = None, fld: int | None = None) -> None:
        self.items.append(Problem(rule, message, segment, index, fld))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.items if p.level is Severity.ERROR]

    @property
    def rejected(self) -> bool:
        return any(p.reject for p in self.errors)
