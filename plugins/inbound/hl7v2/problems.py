"""Problems found while reading HL7 v2: findings for the pipeline and ERR
segments for the ACK, from one record.

Every rule id is declared once in :data:`RULES` (docs/hl7v2.md lists them).
Messages name segments and fields, never values: they may be patient data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.model import Finding, Severity

from .reader import Segment

PLUGIN = "hl7v2"

E, W, I = Severity.ERROR, Severity.WARNING, Severity.INFO  # noqa: E741

#: rule id → (default severity, HL7 table 0357 error code, reject (AR) rather than AE, description)
RULES: dict[str, tuple[Severity, str, bool, str]] = {
    "HL7-MSH": (E, "100", True, "no readable MSH (field separator, encoding characters, MSH-9, MSH-10)"),
    "HL7-CONFIG": (E, "207", False, "the clinic's HL7 field map was not loaded"),
    "HL7-CHARGE-NOT-BILLED": (W, "0", False, "a charge (FT1) in a message that bills nothing (ADT, ignored type)"),
    "HL7-MSH-2": (W, "0", False, "MSH-2 repeats an encoding character; the repeat was ignored"),
    "HL7-ENCODING": (W, "0", False, "text is not UTF-8; read as ISO 8859-1"),
    "HL7-VERSION": (I, "0", False, "MSH-12 is not a known version or lower than the content uses; read by content"),
    "HL7-STRAY-LINE": (W, "0", False, "a line that is not a segment was skipped"),
    "HL7-SEGMENT-SIZE": (E, "102", True, "a segment is longer than settings.hl7v2.max_segment_length"),
    "HL7-SIZE": (E, "207", True, "the input is larger than settings.hl7v2.max_message_bytes"),
    "HL7-SEGMENTS": (E, "207", True, "a message has more segments than settings.hl7v2.max_segments"),
    "HL7-MESSAGE-TYPE": (E, "200", True, "message type not handled by the billing gateway"),
    "HL7-IGNORED-TYPE": (I, "0", False, "message type accepted and ignored (settings.hl7v2.accept_other_types)"),
    "HL7-BATCH": (E, "100", True, "batch envelope problem (mixed senders, no messages)"),
    "HL7-BATCH-COUNT": (W, "0", False, "BTS-1/FTS-1 count differs from the messages found"),
    "HL7-NO-PID": (E, "100", False, "required segment PID is missing"),
    "HL7-REQUIRED": (E, "101", False, "a required field is empty"),
    "HL7-DATE": (E, "102", False, "a date field is not a date"),
    "HL7-DATE-PRECISION": (W, "0", False, "a date has no day (year or month only); left out"),
    "HL7-NUMBER": (E, "102", False, "a numeric field is not a number, or out of range (gateway.money)"),
    "HL7-DOB": (W, "0", False, "a birth date before 1900 or after the message date (MSH-7)"),
    "HL7-NO-VISIT": (W, "0", False, "no visit number (PV1-19); the message control id is used"),
    "HL7-NO-CHARGES": (I, "0", False, "a charge message without billable FT1 charges"),
    "HL7-NOT-BILLED": (I, "0", False, "credit, payment or adjustment transaction kept, not billed"),
    "HL7-CHARGE-TYPE": (W, "0", False, "FT1-6 is empty or unknown"),
    "HL7-REVERSAL": (W, "0", False, "a charge with a negative quantity or amount (reversal) is not billed"),
    "HL7-AMOUNT": (W, "0", False, "extended amount differs from unit amount × quantity; extended amount used"),
    "HL7-CURRENCY": (W, "0", False, "an amount is not in USD"),
    "HL7-NO-CODE": (W, "0", False, "a charge has neither a procedure code nor a charge code"),
    "HL7-MODIFIERS": (W, "0", False, "more than 4 modifiers; the first 4 are kept"),
    "HL7-POINTERS": (W, "0", False, "more than 4 diagnoses on a charge; the first 4 are pointed to"),
    "HL7-NPI": (W, "0", False, "an identifier sent as an NPI fails the NPI check digit"),
    "HL7-COVERAGE": (E, "101", False, "an IN1 cannot become a coverage (no payer or member id)"),
    "HL7-COVERAGES": (W, "0", False, "more than 3 coverages; the first 3 are kept"),
    "HL7-RELATIONSHIP": (
        W,
        "0",
        False,
        "insured's name and birth date are the patient's but the relationship is not self",
    ),
    "HL7-STRICT": (E, "102", False, "strict validation (hl7apy) failed"),
    "HL7-INTERNAL": (E, "207", False, "the message could not be read (a value the model refuses); see the location"),
}


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
        return self.severity or RULES[self.rule][0]

    @property
    def code(self) -> str:
        return RULES[self.rule][1]

    @property
    def reject(self) -> bool:
        return RULES[self.rule][2]

    def location(self, prefix: str = "") -> str | None:
        if self.segment is None:
            return prefix.rstrip("/") or None
        where = self.segment if self.index is None else f"{self.segment}[{self.index}]"
        if self.field is not None:
            where += f"-{self.field}"
        return prefix + where

    def finding(self, prefix: str = "") -> Finding:
        return Finding(
            severity=self.level,
            rule=self.rule,
            message=self.message,
            location=self.location(prefix),
            plugin=PLUGIN,
        )


@dataclass
class Problems:
    """Problems of one message, in the order found."""

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
