"""The pure pipeline: raw bytes + metadata + clinic config in, encounters,
claims, statements and findings out. No I/O happens here.

    sniff → route to clinic → parse → per encounter: map → code →
    build claims/statements → scrub + payer rules per claim

An error finding on the message (unknown format, no clinic, parse error)
quarantines the whole message; an error finding on an encounter quarantines
that encounter only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from gateway.claims import build_claims, build_statements
from gateway.config import Clinic
from gateway.messages import Envelope, MessageMeta, ParseResult, RecordLookup, RecordUpdate
from gateway.model import Claim, Encounter, Finding, Severity, Statement
from gateway.plugins import PluginHost


@dataclass
class EncounterResult:
    encounter: Encounter
    claims: list[Claim] = field(default_factory=list)
    statements: list[Statement] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def quarantined(self) -> bool:
        return any(f.is_error for f in self.findings)


@dataclass
class MessageResult:
    """Everything the pipeline learnt from one message."""

    meta: MessageMeta
    envelope: Envelope | None = None
    clinic_id: str | None = None
    findings: list[Finding] = field(default_factory=list)
    encounters: list[EncounterResult] = field(default_factory=list)
    updates: list[RecordUpdate] = field(default_factory=list)
    acknowledgement: bytes | None = None

    @property
    def quarantined(self) -> bool:
        """True when the whole message is quarantined."""
        return any(f.is_error for f in self.findings)

    def all_findings(self) -> list[Finding]:
        return self.findings + [f for e in self.encounters for f in e.findings]


def _core(rule: str, message: str, severity: Severity = Severity.ERROR) -> Finding:
    return Finding(severity=severity, rule=rule, message=message, plugin="core")


class Pipeline:
    """Runs plugins over messages for a set of clinics. Build once, reuse."""

    def __init__(self, host: PluginHost, clinics: dict[str, Clinic]) -> None:
        self.host = host
        self.clinics = clinics
        self.by_sender = {s: c.id for c in clinics.values() for s in c.config.senders}

    def route(self, meta: MessageMeta, envelope: Envelope) -> Clinic | None:
        """The clinic of the channel, else the sender's, else the only clinic
        when it lists no senders or says ``accept_any_sender`` (a second feed
        pointed at the gateway by mistake is not billed under its practice)."""
        if meta.clinic_id is not None:
            return self.clinics.get(meta.clinic_id)
        if envelope.sender and envelope.sender in self.by_sender:
            return self.clinics[self.by_sender[envelope.sender]]
        if len(self.clinics) == 1:
            only = next(iter(self.clinics.values()))
            if not only.config.senders or only.config.accept_any_sender:
                return only
        return None

    def process(self, raw: bytes, meta: MessageMeta, records: RecordLookup) -> MessageResult:
        result = MessageResult(meta=meta)
        envelope, errors = self.host.first_result("gateway_sniff", raw=raw, meta=meta)
        result.findings += errors
        if envelope is None:
            result.findings.append(_core("GW-FORMAT", "input is not in a format any loaded plugin recognises"))
            return result
        result.envelope = envelope
        clinic = self.route(meta, envelope)
        if clinic is None:
            where = f"sender '{envelope.sender}'" if envelope.sender else "no sender"
            result.findings.append(
                _core("GW-ROUTE", f"no clinic for this message ({where}); add it to a clinic's senders")
            )
            return result
        result.clinic_id = clinic.id
        parsed, errors = self.host.first_result(
            "gateway_parse", raw=raw, envelope=envelope, clinic=clinic, records=records
        )
        result.findings += errors
        if parsed is None:
            if not errors:
                result.findings.append(_core("GW-PARSE", f"no plugin parses format '{envelope.format}'"))
            return result
        if not isinstance(parsed, ParseResult):
            result.findings.append(
                _core("GW-PARSE", f"parser for '{envelope.format}' returned {type(parsed).__name__}")
            )
            return result
        result.findings += parsed.findings
        result.updates = parsed.updates
        result.acknowledgement = parsed.acknowledgement
        if result.quarantined:
            return result
        for i, encounter in enumerate(parsed.encounters):
            found = parsed.encounter_findings.get(i, [])
            result.encounters.append(self.process_encounter(encounter, clinic, meta, found))
        return result

    def process_encounter(
        self, encounter: Encounter, clinic: Clinic, meta: MessageMeta, parse_findings: Iterable[Finding] = ()
    ) -> EncounterResult:
        """Map, code, build claims/statements and scrub one encounter
        (``parse_findings``: what the parser found about this encounter)."""
        encounter.clinic_id = clinic.id
        out = EncounterResult(encounter=encounter, findings=list(parse_findings))
        out.findings += self.host.findings("gateway_map_encounter", encounter=encounter, clinic=clinic)
        out.findings += self.host.findings("gateway_code_encounter", encounter=encounter, clinic=clinic)
        claims, blockers = build_claims(encounter, clinic)
        out.findings += blockers
        for claim in claims:
            out.findings += self.host.findings("gateway_scrub_claim", claim=claim, clinic=clinic, meta=meta)
            out.findings += self.host.findings("gateway_payer_rules", claim=claim, clinic=clinic, meta=meta)
        if not encounter.service_lines:
            out.findings.append(_core("GW-NO-CHARGES", "encounter has no charges to bill", Severity.INFO))
        if not out.quarantined:
            out.claims = claims
            out.statements = build_statements(encounter, clinic, meta.today)
        return out
