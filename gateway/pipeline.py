"""The pure pipeline: raw bytes + metadata + clinic config in, encounters,
claims, statements and findings out. No I/O happens here.

    sniff → route to clinic → parse → per encounter: map → code →
    build claims/statements → scrub + payer rules per claim

    sniff → read responses (999, 277CA, 835…) → route each document to a
    clinic by the provider it names (payee, billing provider)

An error finding on the message (unknown format, no clinic, parse error)
quarantines the whole message; an error finding on an encounter or a
response document quarantines that encounter or document only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from gateway.claims import DEFAULT_TERMS_DAYS, build_claims, build_statements
from gateway.config import Clinic
from gateway.messages import Envelope, MessageMeta, ParseResult, RecordLookup, RecordUpdate
from gateway.model import (
    Claim,
    ClaimAdditions,
    Encounter,
    Finding,
    Remit835,
    ResponseBatch,
    ResponseDocument,
    Severity,
    Statement,
)
from gateway.plugins import PluginError, PluginHost, plugin_failure
from gateway.rules import CORE


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
class ResponseResult:
    """One response document (a 999, a 277CA claim answer, an 835…) and the
    clinic it belongs to: ``clinic_id`` None means unmatched (kept and
    reported, never dropped). ``matched_by`` says which id matched;
    ``findings`` are the document's own plus routing's."""

    document: ResponseDocument
    clinic_id: str | None = None
    matched_by: str | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def quarantined(self) -> bool:
        return any(f.is_error for f in self.findings)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view (``gateway inspect``; a streamed remit's claims read again)."""
        document = self.document.model_dump(mode="json", exclude_none=True, exclude={"findings"})
        if isinstance(self.document, Remit835) and self.document.streamed:
            document["claims"] = [c.model_dump(mode="json", exclude_none=True) for c in self.document.iter_claims()]
        return {
            "kind": self.document.kind,
            "clinic": self.clinic_id,
            "matched_by": self.matched_by,
            "quarantined": self.quarantined,
            "document": document,
            "findings": [f.model_dump(mode="json", exclude_none=True) for f in self.findings],
        }


@dataclass
class MessageResult:
    """Everything the pipeline learnt from one message: encounters (with
    their claims and statements) or, for a response file, ``responses``."""

    meta: MessageMeta
    envelope: Envelope | None = None
    clinic_id: str | None = None
    findings: list[Finding] = field(default_factory=list)
    encounters: list[EncounterResult] = field(default_factory=list)
    responses: list[ResponseResult] = field(default_factory=list)
    updates: list[RecordUpdate] = field(default_factory=list)
    acknowledgement: bytes | None = None

    @property
    def quarantined(self) -> bool:
        """True when the whole message is quarantined."""
        return any(f.is_error for f in self.findings)

    def all_findings(self) -> list[Finding]:
        return (
            self.findings
            + [f for e in self.encounters for f in e.findings]
            + [f for r in self.responses for f in r.findings]
        )


def _core(rule: str, message: str, severity: Severity | None = None) -> Finding:
    """A finding of the gateway's own rule ``rule`` (KeyError when :data:`CORE` lacks it)."""
    return CORE[rule].finding(message, severity=severity)


def statement_terms(host: PluginHost, clinic: Clinic) -> int:
    """The clinic's payment terms in days from ``gateway_statement_terms``
    (:data:`gateway.claims.DEFAULT_TERMS_DAYS` when no plugin answers)."""
    terms, failed = host.first_result("gateway_statement_terms", clinic=clinic)
    if failed:
        raise PluginError(f"clinic {clinic.id}: {failed[0].message}")
    if terms is not None and (not isinstance(terms, int) or isinstance(terms, bool) or terms < 0):
        raise PluginError(f"clinic {clinic.id}: gateway_statement_terms returned {terms!r}, not a number of days")
    return DEFAULT_TERMS_DAYS if terms is None else terms


class Pipeline:
    """Runs plugins over messages for a set of clinics. Build once, reuse."""

    def __init__(self, host: PluginHost, clinics: dict[str, Clinic]) -> None:
        self.host = host
        self.clinics = clinics
        self.by_sender = {s: c.id for c in clinics.values() for s in c.config.senders}
        self.providers = ProviderIndex(clinics)
        #: payment terms of each clinic's statements (``gateway_statement_terms``)
        self.terms_days = {cid: statement_terms(host, c) for cid, c in clinics.items()}

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

    def process(
        self,
        raw: bytes,
        meta: MessageMeta,
        records: RecordLookup,
        each: Callable[[EncounterResult], None] | None = None,
    ) -> MessageResult:
        """One input through the pipeline. With ``each``, every encounter's
        result is handed to it as soon as it is built and not kept in
        ``result.encounters`` (a batch file is never held whole); the caller
        drops what it was handed when the result is ``quarantined``."""
        result = MessageResult(meta=meta)
        envelope, errors = self.host.first_result("gateway_sniff", raw=raw, meta=meta)
        result.findings += errors
        if envelope is None:
            result.findings.append(_core("GW-FORMAT", "input is not in a format any loaded plugin recognises"))
            return result
        result.envelope = envelope
        batch, errors = self.host.first_result("gateway_read_responses", raw=raw, envelope=envelope)
        result.findings += errors
        if batch is not None or errors:
            return self.process_responses(batch, meta, result)
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
        if parsed.stream is not None and not result.quarantined:
            self.process_stream(parsed, clinic, meta, result, each, envelope.format)
        parsed.drain()  # what a stream left (nothing, or its rest after a failure)
        result.findings += parsed.findings
        result.updates = parsed.updates
        result.acknowledgement = parsed.acknowledgement
        if result.quarantined:
            result.encounters = []
            return result
        for i, encounter in enumerate(parsed.encounters):
            found = parsed.encounter_findings.get(i, [])
            self._keep(self.process_encounter(encounter, clinic, meta, found), result, each)
        return result

    def process_stream(
        self,
        parsed: ParseResult,
        clinic: Clinic,
        meta: MessageMeta,
        result: MessageResult,
        each: Callable[[EncounterResult], None] | None,
        fmt: str,
    ) -> None:
        """Each encounter of a streaming parse processed as it is read; a
        reader that fails midway is reported like a failed ``gateway_parse``."""
        stream, parsed.stream = parsed.stream, None
        assert stream is not None
        while True:
            try:
                item = next(stream, None)
            except Exception as exc:  # a plugin's fault: reported as its finding
                result.findings.append(plugin_failure(fmt, "gateway_parse", exc))
                return
            if item is None:
                return
            encounter, found = item
            self._keep(self.process_encounter(encounter, clinic, meta, found), result, each)
            del item, encounter

    @staticmethod
    def _keep(done: EncounterResult, result: MessageResult, each: Callable[[EncounterResult], None] | None) -> None:
        if each is None:
            result.encounters.append(done)
        else:
            each(done)

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
            out.findings += self.claim_additions(claim, clinic)
            out.findings += self.host.findings("gateway_scrub_claim", claim=claim, clinic=clinic, meta=meta)
            out.findings += self.host.findings("gateway_payer_rules", claim=claim, clinic=clinic, meta=meta)
        if not encounter.service_lines:
            out.findings.append(_core("GW-NO-CHARGES", "encounter has no charges to bill", Severity.INFO))
        if not out.quarantined:
            out.claims = claims
            out.statements = build_statements(encounter, clinic, meta.today, self.terms_days.get(clinic.id))
        return out

    def claim_additions(self, claim: Claim, clinic: Clinic) -> list[Finding]:
        """Merge every plugin's ``gateway_claim_additions`` into ``claim.additions``;
        findings for a plugin that failed, returned something else or overlaps."""
        hook = "gateway_claim_additions"
        out: list[Finding] = []
        for plugin, result, error in self.host.call_each(hook, claim=claim, clinic=clinic):
            if error is not None:
                out.append(plugin_failure(plugin, hook, error))
                continue
            if result is None:
                continue
            if not isinstance(result, ClaimAdditions):
                text = f"plugin {plugin} returned {type(result).__name__} from {hook}, expected ClaimAdditions"
                out.append(Finding(severity=Severity.ERROR, rule="GW-PLUGIN-RESULT", message=text, plugin=plugin))
                continue
            try:
                claim.additions = claim.additions.merged(result)
            except ValidationError as exc:  # the messages name qualifiers and lines, never values
                why = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors(include_input=False))
                text = f"plugin {plugin}'s claim additions overlap others: {why}"
                out.append(Finding(severity=Severity.ERROR, rule="GW-ADDITIONS", message=text, plugin=plugin))
        return out

    def process_responses(self, batch: object, meta: MessageMeta, result: MessageResult) -> MessageResult:
        """Route each document of a response file to its clinic (by the
        provider ids it names, never by sender); findings as usual."""
        if batch is None:
            return result
        if not isinstance(batch, ResponseBatch):
            fmt = result.envelope.format if result.envelope else "?"
            result.findings.append(
                _core("GW-READ", f"response reader for '{fmt}' returned {type(batch).__name__}, not a ResponseBatch")
            )
            return result
        result.findings += batch.findings
        if not batch.documents and not batch.findings:
            result.findings.append(_core("GW-READ", "the response file holds no document"))
        for doc in batch.documents:
            clinic_id, matched_by, found = self.providers.route(doc, meta.clinic_id)
            result.responses.append(ResponseResult(doc, clinic_id, matched_by, [*doc.findings, *found]))
        clinics = {r.clinic_id for r in result.responses}
        if len(clinics) == 1:
            result.clinic_id = clinics.pop()
        return result


def _mask(tax_id: str) -> str:
    """A tax id as findings show it (it may be a person's SSN): the last four digits."""
    return f"ending {tax_id[-4:]}" if len(tax_id) > 4 else "(short)"


class ProviderIndex:
    """Which clinic a response belongs to, by the billing provider NPI or
    tax id (EIN) in each clinic's configuration."""

    def __init__(self, clinics: dict[str, Clinic]) -> None:
        self.by_npi: dict[str, list[str]] = {}
        self.by_tax_id: dict[str, list[str]] = {}
        for c in clinics.values():
            b = c.config.billing_provider
            self.by_npi.setdefault(b.npi, []).append(c.id)
            self.by_tax_id.setdefault(b.tax_id, []).append(c.id)

    def find(self, npi: str | None, tax_id: str | None) -> tuple[str | None, str | None, bool]:
        """(clinic, what matched, ambiguous): the NPI first, the tax id to
        break a tie or when no NPI matches."""
        by_npi = self.by_npi.get(npi or "", [])
        by_tax = self.by_tax_id.get(tax_id or "", [])
        if len(by_npi) == 1:
            return by_npi[0], "npi", False
        if by_npi:
            both = [c for c in by_npi if c in by_tax]
            return (both[0], "npi and tax id", False) if len(both) == 1 else (None, None, True)
        if len(by_tax) == 1:
            return by_tax[0], "tax id", False
        return None, None, bool(by_tax)

    def route(self, doc: ResponseDocument, channel: str | None) -> tuple[str | None, str | None, list[Finding]]:
        """(clinic id or None, matched by, routing findings) for one document."""
        if doc.kind == "835":
            party = doc.payee
            npi, tax_id, who = (party.npi, party.tax_id, "payee") if party else (None, None, "payee")
        elif doc.kind == "277CA":
            npi, tax_id, who = doc.billing_npi, doc.billing_tax_id, "billing provider"
        else:
            what = f"group {doc.group_control}" if doc.kind == "999" else f"interchange {doc.interchange}"
            note = f"{doc.kind} answers our {what}; it is matched to the file sent by its control numbers"
            return None, None, [_core("GW-RESPONSE-CONTROL", note, Severity.INFO)]
        clinic, matched, ambiguous = self.find(npi, tax_id)
        ids = " / ".join(x for x in (f"NPI {npi}" if npi else "", f"tax id {_mask(tax_id)}" if tax_id else "") if x)
        ids = ids or "no NPI or tax id"
        if clinic is None:
            why = "matches several clinics" if ambiguous else "matches no clinic's billing provider"
            return (
                None,
                None,
                [
                    _core(
                        "GW-RESPONSE-UNMATCHED",
                        f"{doc.kind} for {who} {ids} {why}; kept as unmatched",
                        Severity.WARNING,
                    )
                ],
            )
        if channel is not None and clinic != channel:
            note = (
                f"{doc.kind} for {who} {ids} belongs to clinic {clinic} but came in on clinic {channel}'s channel; "
                "kept as unmatched"
            )
            return None, None, [_core("GW-RESPONSE-CHANNEL", note)]
        return clinic, f"{who} {matched}", []
