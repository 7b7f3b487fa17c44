"""Running one input through a gateway's pure pipeline, and asserting on findings."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from gateway.app import Gateway
from gateway.config import Clinic
from gateway.messages import MemoryRecords, MessageMeta, RecordLookup
from gateway.model import Claim, Encounter, Finding, Severity, Statement
from gateway.pipeline import EncounterResult, MessageResult
from gateway.testing.builders import TODAY
from gateway.testing.fhir import FhirBundle
from gateway.testing.hl7 import Hl7Message

Input = bytes | str | Hl7Message | FhirBundle | Encounter


@dataclass
class RunResult:
    """What one input became: encounters, the claims and statements that
    would be sent (none for a quarantined encounter), and every finding."""

    encounters: list[Encounter] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    statements: list[Statement] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    #: the pipeline's own results (per encounter), and the message's when bytes went in
    results: list[EncounterResult] = field(default_factory=list)
    message: MessageResult | None = None

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.is_error]

    @property
    def rules(self) -> list[str]:
        """Rule ids of every finding, in order."""
        return [f.rule for f in self.findings]

    @property
    def quarantined(self) -> bool:
        """True when anything was quarantined (the message or an encounter)."""
        return bool(self.errors)


def _clinic(gateway: Gateway, clinic: str | None) -> Clinic:
    if clinic is None:
        return next(iter(gateway.clinics.values()))
    if clinic not in gateway.clinics:
        raise KeyError(f"no clinic {clinic!r} (clinics: {', '.join(gateway.clinics)})")
    return gateway.clinics[clinic]


def _add(out: RunResult, enc: EncounterResult) -> None:
    out.results.append(enc)
    out.encounters.append(enc.encounter)
    out.claims += enc.claims
    out.statements += enc.statements
    out.findings += enc.findings


def run_one(
    gateway: Gateway,
    message: Input,
    *,
    clinic: str | None = None,
    today: date = TODAY,
    records: RecordLookup | None = None,
) -> RunResult:
    """Run one input through ``gateway``'s pure pipeline.

    ``message`` is raw bytes (or text), an :class:`Hl7Message`, a
    :class:`FhirBundle`, or an :class:`~gateway.model.Encounter` (mapped,
    coded, claimed and scrubbed for ``clinic``, default the first clinic,
    without a parse step). Bytes are routed by sender unless ``clinic`` is
    given. ``today`` is the processing date the rules see.
    """
    out = RunResult()
    if isinstance(message, Encounter):
        target = _clinic(gateway, clinic)
        meta = MessageMeta(source="test", today=today, clinic_id=target.id)
        _add(out, gateway.pipeline.process_encounter(message.model_copy(deep=True), target, meta))
        return out
    if isinstance(message, Hl7Message | FhirBundle):
        raw = message.encode()
    elif isinstance(message, str):
        raw = message.encode()
    else:
        raw = message
    meta = MessageMeta(source="test", today=today, clinic_id=clinic, name="test-input")
    result = gateway.pipeline.process(raw, meta, records if records is not None else MemoryRecords())
    out.message = result
    out.findings += result.findings
    for enc in result.encounters:
        _add(out, enc)
    return out


def run_claim(gateway: Gateway, claim: Claim, *, clinic: str | None = None, today: date = TODAY) -> RunResult:
    """The claim additions, clean-claim and payer rules (``gateway_claim_additions``,
    ``gateway_scrub_claim``, ``gateway_payer_rules``) of every loaded plugin on
    one claim, as the pipeline runs them, for ``clinic`` (default: the claim's)."""
    target = _clinic(gateway, clinic or claim.clinic_id)
    meta = MessageMeta(source="test", today=today, clinic_id=target.id)
    host = gateway.host
    findings = gateway.pipeline.claim_additions(claim, target)
    findings += host.findings("gateway_scrub_claim", claim=claim, clinic=target, meta=meta)
    findings += host.findings("gateway_payer_rules", claim=claim, clinic=target, meta=meta)
    return RunResult(claims=[claim], findings=findings)


Findings = RunResult | MessageResult | EncounterResult | Iterable[Finding]


def _findings(result: Findings) -> list[Finding]:
    if isinstance(result, MessageResult):
        return result.all_findings()
    if isinstance(result, RunResult | EncounterResult):
        return list(result.findings)
    return list(result)


def _describe(findings: list[Finding]) -> str:
    if not findings:
        return "no findings"
    rows = [
        f"  {f.severity.value:<7} {f.rule} ({f.plugin or '?'}) at {f.location or '-'}: {f.message}" for f in findings
    ]
    return "findings:\n" + "\n".join(rows)


def assert_finding(
    result: Findings,
    rule: str,
    *,
    severity: Severity | str | None = None,
    plugin: str | None = None,
    location: str | None = None,
    message: str | None = None,
) -> Finding:
    """The finding of ``rule`` (matching ``severity``, ``plugin``, ``location``
    and containing ``message`` when given); AssertionError listing every
    finding when there is none."""
    want = Severity(severity) if severity is not None else None
    for f in _findings(result):
        if (
            f.rule == rule
            and (want is None or f.severity is want)
            and (plugin is None or f.plugin == plugin)
            and (location is None or f.location == location)
            and (message is None or message in f.message)
        ):
            return f
    wanted = ", ".join(
        f"{k}={v!r}"
        for k, v in (("severity", severity), ("plugin", plugin), ("location", location), ("message", message))
        if v is not None
    )
    raise AssertionError(
        f"no finding {rule}" + (f" with {wanted}" if wanted else "") + "; " + _describe(_findings(result))
    )


def assert_no_finding(result: Findings, rule: str) -> None:
    """No finding of ``rule``."""
    found = [f for f in _findings(result) if f.rule == rule]
    if found:
        raise AssertionError(f"unexpected {rule}; " + _describe(found))


def assert_no_errors(result: Findings) -> None:
    """No error finding (nothing quarantined)."""
    errors = [f for f in _findings(result) if f.is_error]
    if errors:
        raise AssertionError(f"{len(errors)} error finding(s); " + _describe(errors))
