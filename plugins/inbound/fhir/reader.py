"""One FHIR message (JSON or XML, a Bundle or a single resource) → encounters.

Steps: size cap → load (JSON with exact decimals, or hardened XML converted
to the JSON shape) → validate once with the R4B models (findings carry the
JSON path) → index resources → one canonical Encounter per FHIR Encounter
(and per Claim that names no Encounter of the message) → what the message
teaches later ones (shared resources as records).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from gateway.messages import ParseResult, RecordLookup, RecordUpdate
from gateway.model import Coverage, Encounter, Finding, Guarantor, Patient, Provider, ServiceLine

from .charges import ClaimReader, DxList, add_condition, charge_item_line, pos_code, procedure_line
from .claiminfo import claim_info
from .context import Ctx
from .models import error, info, validate, warning
from .parties import (
    PLACEHOLDER_NAME,
    coverages_of,
    display_only_coverage,
    guarantor_of,
    is_display_only,
    patient_of,
    provider,
)
from .resolve import COVERAGES_KIND, SHARED_TYPES, Res, Resolver, resource_keys
from .settings import FhirSettings
from .sniff import JSON_FORMAT, load_json
from .systems import CLASS_POS
from .values import Json, concept_codes, items, pick_identifier, start_of, valid_id
from .xml import XmlProblem, xml_to_json

BUNDLE_TYPES = frozenset({"transaction", "batch", "collection", "searchset", "message", "document"})
SKIPPED_CLAIM_TYPES = {"pharmacy": "pharmacy claims go to NCPDP, not 837P", "oral": "dental claims go to 837D"}
RENDERING_ROLES = ("PPRF", "ATND", "PRF", "SPRF", "PART")
INACTIVE = frozenset({"cancelled", "entered-in-error"})
#: ChargeItem statuses that are billed
BILLABLE_CHARGES = ("billable", "billed", "planned")
#: messages this big have their equal strings shared while they are parsed (:func:`share_strings`)
SHARE_STRINGS_BYTES = 256 * 1024


def load(raw: bytes, fmt: str, sniffed: Json | None = None) -> tuple[Json | None, list[Finding]]:
    """The message as a JSON-shaped resource (``sniffed``: the document
    gateway_sniff already decoded), or findings saying why not."""
    if fmt == JSON_FORMAT:
        try:
            doc = load_json(raw) if sniffed is None else sniffed
        except UnicodeDecodeError as exc:
            return None, [error("FHIR-JSON", f"not UTF-8 text (byte {exc.start})")]
        except json.JSONDecodeError as exc:
            return None, [error("FHIR-JSON", f"not valid JSON ({exc.msg})", f"line {exc.lineno} column {exc.colno}")]
        except RecursionError:
            return None, [error("FHIR-DEPTH", "JSON is nested too deeply to read")]
        except ValueError:  # an integer of thousands of digits (Python's conversion limit)
            return None, [error("FHIR-NUMBER", "a number in the JSON has too many digits", _long_number(raw))]
    else:
        try:
            doc = xml_to_json(raw)
        except XmlProblem as exc:
            return None, [error(exc.rule, str(exc), exc.location)]
    if not isinstance(doc, dict) or not isinstance(doc.get("resourceType"), str):
        return None, [error("FHIR-RESOURCE-TYPE", "not a FHIR resource (an object with resourceType)", "resourceType")]
    return doc, []


def _long_number(raw: bytes) -> str | None:
    """``line L column C`` of the first run of over 4,300 digits (Python's int limit)."""
    m = re.search(rb"\d{4301}", raw)
    if m is None:
        return None
    start, newline = m.start(), b"\n"
    line = raw.count(newline, 0, start) + 1
    return f"line {line} column {start - raw.rfind(newline, 0, start)}"


def parse(
    raw: bytes,
    fmt: str,
    clinic_id: str,
    records: RecordLookup | None,
    settings: FhirSettings,
    sniffed: Json | None = None,
) -> ParseResult:
    """Parse one FHIR message for one clinic (pure: no I/O); ``sniffed`` is
    the JSON document gateway_sniff decoded, if any."""
    return parse_stream(raw, fmt, clinic_id, records, settings, sniffed).drain()


def parse_stream(
    raw: bytes,
    fmt: str,
    clinic_id: str,
    records: RecordLookup | None,
    settings: FhirSettings,
    sniffed: Json | None = None,
) -> ParseResult:
    """:func:`parse` with the encounters built one at a time: the result's
    ``stream`` yields each visit's encounter as it is read (a bundle of many
    visits is never all models at once); findings are complete once it is
    exhausted. A message with an error before its visits yields none."""
    if len(raw) > settings.max_bytes:
        return ParseResult(
            findings=[
                error(
                    "FHIR-TOO-LARGE",
                    f"input is {len(raw)} bytes; the limit is {settings.max_bytes} (settings.fhir.max_bytes)",
                )
            ]
        )
    doc, problems = load(raw, fmt, sniffed)
    if doc is None:
        return ParseResult(findings=problems)
    if len(raw) >= SHARE_STRINGS_BYTES:
        share_strings(doc)
    root = doc["resourceType"]
    if root == "Bundle" and "id" in doc and not valid_id(doc["id"]):
        doc = {k: v for k, v in doc.items() if k != "id"}
        problems.append(warning("FHIR-BUNDLE-ID", "Bundle.id is not a valid FHIR id; ignored", "Bundle.id"))
    invalid = validate(doc)
    if invalid:
        return ParseResult(findings=problems + invalid)
    if root == "Bundle" and doc.get("type") not in BUNDLE_TYPES:
        problems.append(
            error("FHIR-BUNDLE-TYPE", f"bundles of type '{doc.get('type')}' carry nothing to bill", "Bundle.type")
        )
        return ParseResult(findings=problems)
    message = Message(Resolver(records, clinic_id), settings, problems, identity_of(doc, raw))
    message.index(doc)
    return message.result()


def share_strings(doc: Json) -> None:
    """Make the equal string values of ``doc`` one object each. A decoded
    bundle repeats its systems, references, statuses and dates in every
    entry (about a fifth of a decoded billing bundle, which takes ~5.4x the
    bundle's size), and the bundle stays alive while every visit is built;
    about 15 ms of CPU per MB, so only for messages of
    :data:`SHARE_STRINGS_BYTES` or more."""
    seen: dict[str, str] = {}
    shared = seen.setdefault
    stack: list[Any] = [doc]
    pop, push = stack.pop, stack.append
    while stack:
        node = pop()
        pairs = node.items() if type(node) is dict else enumerate(node)
        for key, value in pairs:
            kind = type(value)
            if kind is str:
                node[key] = shared(value, value)
            elif kind is dict or kind is list:
                push(value)


def identity_of(doc: Json, raw: bytes) -> str:
    """What names this message for derived ids: Bundle.identifier, else its
    (valid) id, else a hash of the bytes (the same message, the same ids)."""
    ident = doc.get("identifier")
    if isinstance(ident, dict) and ident.get("value"):
        return str(ident["value"])
    if valid_id(doc.get("id")):
        return str(doc["id"])
    return "sha256-" + hashlib.sha256(raw).hexdigest()[:16]


@dataclass
class Message:
    """The resources of one message and the encounters built from them."""

    resolver: Resolver
    settings: FhirSettings
    findings: list[Finding] = field(default_factory=list)
    identity: str = ""

    def index(self, doc: Json) -> None:
        if doc["resourceType"] != "Bundle":
            self.resolver.add(Res(doc, doc["resourceType"]))
            return
        for i, entry in enumerate(items(doc.get("entry"))):
            res = entry.get("resource")
            if not isinstance(res, dict) or (entry.get("search") or {}).get("mode") == "outcome":
                continue
            request = entry.get("request") or {}
            full_url = entry.get("fullUrl") or (request.get("url") if request.get("method") == "PUT" else None)
            self.resolver.add(Res(res, f"Bundle.entry[{i}].resource", full_url=full_url), full_url)

    # -- grouping -------------------------------------------------------------------
    def _of_type(self, rtype: str) -> list[Res]:
        return self.resolver.by_type.get(rtype, [])

    def _group(self, rtype: str, key: str, target: tuple[str, ...]) -> dict[int, list[Res]]:
        """Resources of ``rtype`` grouped by the resource their ``key`` reference points at."""
        out: dict[int, list[Res]] = {}
        for res in self._of_type(rtype):
            for ref in items(res.get(key))[:1]:
                found = self.resolver.resolve(ref, res, target)
                if found is not None:
                    out.setdefault(id(found.data), []).append(res)
        return out

    def _claims(self) -> list[Res]:
        """Claims to bill; pharmacy and dental ones are said not to be billed
        here (a warning each, or an error with ``other_claim_types: quarantine``)."""
        usable = []
        hold = self.settings.other_claim_types == "quarantine"
        for claim in self._of_type("Claim"):
            ctype = next((code for _, code in concept_codes(claim.get("type"))), "")
            active = claim.get("use", "claim") == "claim" and claim.get("status") not in (*INACTIVE, "draft")
            if ctype in SKIPPED_CLAIM_TYPES and active:
                text = f"{ctype} Claim not billed here ({SKIPPED_CLAIM_TYPES[ctype]})"
                self.findings.append((error if hold else warning)("FHIR-CLAIM-TYPE", text, claim.path))
            elif active:
                usable.append(claim)
        return usable

    def _unbilled_charges(self, by_encounter: dict[int, list[Res]]) -> None:
        """ChargeItems that reach no visit: no context, or a context that is
        not an Encounter of this message (an error: the bundle is held);
        charges of an encounter whose Claim is billed (a warning)."""
        for charge in self._of_type("ChargeItem"):
            if charge.get("status") not in BILLABLE_CHARGES:
                continue
            refs = items(charge.get("context"))
            where = f"{charge.path}.context"
            if not refs:
                text = "ChargeItem has no context (Encounter): it cannot be billed; send it with its visit"
                self.findings.append(error("FHIR-CHARGE-VISIT", text, where))
                continue
            visit = self.resolver.resolve(refs[0], charge, ("Encounter",))
            if visit is None:
                text = "ChargeItem.context names an Encounter that is not in this message; the charge cannot be billed"
                self.findings.append(error("FHIR-CHARGE-VISIT", text, where))
            elif by_encounter.get(id(visit.data)):
                text = "ChargeItem not billed on its own: its encounter's Claim is billed (the Claim's items)"
                self.findings.append(warning("FHIR-CHARGE-CLAIMED", text, charge.path))

    def _skipped(self, enc: Res, groups: dict[str, dict[int, list[Res]]], claims: list[Res]) -> None:
        """A cancelled encounter: each of its charges and Claims is said not to be billed."""
        self.findings.append(info("FHIR-ENCOUNTER-SKIPPED", "encounter is cancelled or in error", enc.path))
        text = "not billed: its encounter is cancelled or entered in error"
        for res in [*groups["charges"].get(id(enc.data), []), *claims]:
            if res.type == "Claim" or res.get("status") in BILLABLE_CHARGES:
                self.findings.append(warning("FHIR-ENCOUNTER-SKIPPED", f"{res.type} {text}", res.path))

    def result(self) -> ParseResult:
        claims = self._claims()
        by_encounter: dict[int, list[Res]] = {}
        standalone = []
        for claim in claims:
            target = None
            for item in items(claim.get("item")):
                for ref in items(item.get("encounter") if isinstance(item, dict) else None):
                    target = target or self.resolver.resolve(ref, claim, ("Encounter",))
            if target is None:
                standalone.append(claim)
            else:
                by_encounter.setdefault(id(target.data), []).append(claim)
        groups = {
            "conditions": self._group("Condition", "encounter", ("Encounter",)),
            "charges": self._group("ChargeItem", "context", ("Encounter",)),
            "procedures": self._group("Procedure", "encounter", ("Encounter",)),
            "coverages": self._group("Coverage", "beneficiary", ("Patient",)),
            "accounts": self._group("Account", "subject", ("Patient",)),
        }
        self._unbilled_charges(by_encounter)
        out = ParseResult(findings=self.findings, updates=self.resolver.updates() + self._coverage_updates(groups))
        visits = [(enc, by_encounter.get(id(enc.data), [])) for enc in self._of_type("Encounter")]
        visits += [(None, [claim]) for claim in standalone]
        out.stream = self._encounters(visits, groups)
        if any(f.is_error for f in self.findings):  # held whole: its visits are not processed
            out.drain()
        return out

    def _encounters(
        self, visits: list[tuple[Res | None, list[Res]]], groups: dict[str, dict[int, list[Res]]]
    ) -> Iterator[tuple[Encounter, list[Finding]]]:
        """Each visit's encounter and its findings, built as it is asked for."""
        memo: dict = {}
        built = 0
        for enc, enc_claims in visits:
            if enc is not None and enc.get("status") in INACTIVE:
                self._skipped(enc, groups, enc_claims)
                continue
            visit = Visit(Ctx(self.resolver, self.settings, memo=memo, identity=self.identity), groups, enc, enc_claims)
            built += 1
            yield visit.build(), visit.ctx.findings
        if not built:
            taught = sum(1 for r in self.resolver.resources if r.type in SHARED_TYPES)
            message = f"no Encounter or Claim to bill; {taught} resource(s) kept for later messages"
            self.findings.append(info("FHIR-NO-ENCOUNTER", message))

    def _coverage_updates(self, groups: dict[str, dict[int, list[Res]]]) -> list[RecordUpdate]:
        out = []
        for patient in self._of_type("Patient"):
            covs = groups["coverages"].get(id(patient.data))
            if covs:
                value = [c.data for c in covs]
                out += [RecordUpdate(COVERAGES_KIND, key, value) for key in resource_keys(patient.data)]
        return out


@dataclass
class Visit:
    """Builds one canonical Encounter from a FHIR Encounter and/or Claims."""

    ctx: Ctx
    groups: dict[str, dict[int, list[Res]]]
    enc: Res | None
    claims: list[Res]

    @property
    def anchor(self) -> Res:
        return self.enc or self.claims[0]

    def related(self, group: str, res: Res | None) -> list[Res]:
        return self.groups[group].get(id(res.data), []) if res is not None else []

    def build(self) -> Encounter:
        ctx, anchor = self.ctx, self.anchor
        key = "subject" if self.enc else "patient"
        where = f"{anchor.path}.{key}"
        patient_res = ctx.follow(anchor.get(key), anchor, where, ("Patient",), what="patient", required=True)
        if patient_res is not None:
            patient = ctx.once(("patient", id(patient_res.data)), lambda: patient_of(ctx, patient_res))
        else:  # the encounter is held (FHIR-REF error); the placeholder is never billed
            patient = Patient(id="unknown", name=PLACEHOLDER_NAME, id_derived=True)
        start = start_of(anchor.data, "period", "billablePeriod", "created")
        dx = DxList()
        readers = [ClaimReader(ctx, c, dx, start) for c in self.claims]
        for reader in readers:
            reader.diagnoses()
        if not readers:
            self._encounter_diagnoses(dx)
        lines = self._lines(readers, dx, start)
        ranked = self._ranked_coverages(patient_res)
        key = ("coverages", tuple((rank, id(r.data)) for rank, r in ranked), id(patient_res))
        coverages = ctx.once(key, lambda: coverages_of(ctx, ranked, patient_res))
        coverages = coverages + self._display_only_coverages(patient, len(coverages))
        if not coverages and ctx.settings.require_coverage:
            ctx.error("FHIR-COVERAGE-REQUIRED", "no usable Coverage (settings.fhir.require_coverage)", anchor.path)
        if coverages:
            self._institutional()
        rendering = next((r.primary_provider() for r in readers if r.care_team), None) or self._participant(
            RENDERING_ROLES, untyped=True
        )
        facility, facility_pos = self._facility()
        pos = next((ln.place_of_service for ln in lines if ln.place_of_service), None) or facility_pos
        if pos is None and self.enc is not None:
            pos = CLASS_POS.get(str((self.enc.get("class") or {}).get("code")))
        return Encounter(
            id=self._visit_number(),
            source="fhir",
            patient=patient,
            coverages=coverages,
            guarantor=self._guarantor(patient_res),
            rendering_provider=rendering,
            referring_provider=self._participant(("REF",)),
            service_facility=facility,
            place_of_service=pos,
            start_date=start,
            diagnoses=dx.diagnoses,
            service_lines=lines,
            extensions={"fhir": self._extensions(dx)},
            onset_date=dx.onset,
            **claim_info(ctx, self.claims),
        )

    def _visit_number(self) -> str:
        """The visit number; for a visit sent without identifier or id, one
        derived from its fullUrl (else the message and entry), with a warning."""
        anchor = self.anchor
        idents = anchor.get("identifier")
        found = pick_identifier(idents, types=("VN",)) or pick_identifier(idents) or anchor.id
        if found:
            return found
        self.ctx.warning(
            "FHIR-VISIT-ID",
            f"{anchor.type} has no identifier or id; a visit id is derived from its fullUrl (or bundle and entry)",
            anchor.path,
        )
        return self.ctx.derived_id(anchor)

    def _institutional(self) -> None:
        """Institutional Claims are held (837I is not supported yet), or billed
        as professional when the clinic says so."""
        for claim in self.claims:
            if "institutional" not in (code for _, code in concept_codes(claim.get("type"))):
                continue
            where = f"{claim.path}.type"
            if self.ctx.settings.institutional_claims == "professional":
                text = "institutional Claim billed as a professional claim (837P): settings.fhir.institutional_claims"
                self.ctx.warning("FHIR-CLAIM-INSTITUTIONAL", text, where)
            else:
                text = "institutional Claim: 837I is not supported yet; held (settings.fhir.institutional_claims)"
                self.ctx.error("FHIR-CLAIM-INSTITUTIONAL", text, where)

    def _display_only_coverages(self, patient: Patient, have: int) -> list[Coverage]:
        """Coverages a Claim names only by display text (Synthea's ``{"display":
        "Medicare"}``): self-pay names give none; any other name becomes a
        coverage whose payer is looked up by name in the payer directory."""
        out: list[Coverage] = []
        for claim in self.claims:
            for i, ins in enumerate(items(claim.get("insurance"))):
                cov = display_only_coverage(self.ctx, ins, f"{claim.path}.insurance[{i}].coverage", patient)
                if cov is not None and have + len(out) < 3:
                    out.append(cov.model_copy(update={"order": have + len(out) + 1}))
        return out

    def _encounter_diagnoses(self, dx: DxList) -> None:
        enc, seen = self.enc, set()
        if enc is None:
            return
        entries = [(i, d) for i, d in enumerate(items(enc.get("diagnosis"))) if isinstance(d, dict)]
        for i, d in sorted(entries, key=lambda e: int(e[1].get("rank") or 99)):
            where = f"{enc.path}.diagnosis[{i}].condition"
            cond = self.ctx.follow(d.get("condition"), enc, where, ("Condition",), what="diagnosis")
            if cond is not None and id(cond.data) not in seen:
                seen.add(id(cond.data))
                add_condition(self.ctx, dx, cond)
        for cond in self.related("conditions", enc):
            if id(cond.data) not in seen:
                seen.add(id(cond.data))
                add_condition(self.ctx, dx, cond)

    def _lines(self, readers: list[ClaimReader], dx: DxList, start: date | None) -> list[ServiceLine]:
        if readers:
            return [ln for r in readers for ln in r.lines()]
        charges = [c for c in self.related("charges", self.enc) if c.get("status") in ("billable", "billed", "planned")]
        if charges:
            lines = [charge_item_line(self.ctx, dx, c, start) for c in charges]
        elif self.ctx.settings.procedures_as_lines:
            procs = [p for p in self.related("procedures", self.enc) if p.get("status") == "completed"]
            lines = [procedure_line(self.ctx, dx, p, start) for p in procs]
        else:
            lines = []
        return [ln for ln in lines if ln is not None]

    def _ranked_coverages(self, patient: Res | None) -> list[tuple[int, Res]]:
        ranked: list[tuple[int, Res]] = []
        for claim in self.claims:
            for i, ins in enumerate(items(claim.get("insurance"))):
                where = f"{claim.path}.insurance[{i}].coverage"
                if is_display_only(ins.get("coverage")):
                    continue  # see _display_only_coverages
                cov = self.ctx.follow(ins.get("coverage"), claim, where, ("Coverage",), what="coverage", required=True)
                if cov is not None:
                    ranked.append((int(ins.get("sequence") or i + 1), cov))
        if self.claims:
            return ranked
        for acc in self._accounts(patient):
            for i, c in enumerate(items(acc.get("coverage"))):
                where = f"{acc.path}.coverage[{i}].coverage"
                cov = self.ctx.follow(c.get("coverage"), acc, where, ("Coverage",), what="coverage")
                if cov is not None:
                    ranked.append((int(c.get("priority") or 50), cov))
        for cov in self.related("coverages", patient) or (
            self.ctx.resolver.earlier_coverages(patient) if patient is not None and not ranked else []
        ):
            ranked.append((int(cov.get("order") or 60), cov))
        return ranked

    def _accounts(self, patient: Res | None) -> list[Res]:
        if self.enc is not None and self.enc.get("account"):
            found = [
                self.ctx.follow(ref, self.enc, f"{self.enc.path}.account[{i}]", ("Account",), what="account")
                for i, ref in enumerate(items(self.enc.get("account")))
            ]
            return [a for a in found if a is not None]
        return [a for a in self.related("accounts", patient) if a.get("status", "active") == "active"]

    def _guarantor(self, patient: Res | None) -> Guarantor | None:
        for acc in self._accounts(patient):
            g = guarantor_of(self.ctx, acc, patient)
            if g is not None:
                return g
        return None

    def _participant(self, roles: tuple[str, ...], untyped: bool = False) -> Provider | None:
        if self.enc is None:
            return None
        parts = [p for p in items(self.enc.get("participant")) if isinstance(p, dict) and p.get("individual")]
        for role in roles:
            for i, p in enumerate(parts):
                if any(code == role for t in items(p.get("type")) for _, code in concept_codes(t)):
                    return self._provider(p, i)
        if untyped:
            for i, p in enumerate(parts):
                if not p.get("type"):
                    return self._provider(p, i)
        return None

    def _provider(self, participant: Json, i: int) -> Provider | None:
        where = f"{self.enc.path}.participant[{i}].individual"  # type: ignore[union-attr]
        return provider(self.ctx, participant["individual"], self.enc, where, "participant")  # type: ignore[arg-type]

    def _facility(self) -> tuple[Provider | None, str | None]:
        """Service facility (Claim.facility, else Encounter.location) and its place of service."""
        for claim in self.claims:
            if claim.get("facility"):
                return self._location(claim.get("facility"), claim, f"{claim.path}.facility")
        if self.enc is not None:
            for i, loc in enumerate(items(self.enc.get("location"))):
                if isinstance(loc, dict) and loc.get("location"):
                    return self._location(loc["location"], self.enc, f"{self.enc.path}.location[{i}].location")
        return None, None

    def _location(self, ref: Json, at: Res, where: str) -> tuple[Provider | None, str | None]:
        res = self.ctx.follow(ref, at, where, ("Location", "Organization"), what="service facility")
        if res is None:
            return None, None
        pos = next((pos_code(t) for t in items(res.get("type")) if pos_code(t)), None)
        return provider(self.ctx, ref, at, where, "service facility"), pos

    def _extensions(self, dx: DxList) -> dict:
        ext: dict = {"resource": f"{self.anchor.type}/{self.anchor.id}" if self.anchor.id else self.anchor.type}
        if self.enc is not None and (self.enc.get("class") or {}).get("code"):
            ext["class"] = str(self.enc.get("class")["code"])
        if dx.uncoded:
            ext["uncoded_diagnoses"] = dx.uncoded
        return ext
