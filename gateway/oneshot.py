"""One-shot runs (``gateway process``, ``demo``, ``inspect``): files in,
documents out, no daemon and no database.

The pipeline stays pure; this module does the I/O around it: reading input
files, rendering the batch per clinic and destination, writing documents
through the folder transport and the quarantine report.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from gateway.app import Gateway
from gateway.documents import ControlNumbers, RenderContext
from gateway.messages import MemoryRecords, MessageMeta
from gateway.model import Claim, Finding, Severity, Statement
from gateway.pipeline import EncounterResult, MessageResult

DUPLICATE_CLAIM = "GW-DUPLICATE-CLAIM"


def duplicate_claim(claim_id: str) -> Finding:
    return Finding(
        severity=Severity.ERROR,
        rule=DUPLICATE_CLAIM,
        message=f"claim {claim_id} was already produced from another message with different content; "
        "send a replacement (frequency 7) or fix the visit number",
        location="claim.id",
        plugin="core",
    )


def expand_inputs(paths: Iterable[Path]) -> list[Path]:
    """Files given, and every file below folders given (sorted; dotfiles skipped)."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
        else:
            out.append(p)
    return out


@dataclass
class RunSummary:
    inputs: int = 0
    duplicates: int = 0
    duplicate_claims: int = 0
    messages_quarantined: int = 0
    encounters: int = 0
    encounters_quarantined: int = 0
    claims: int = 0
    statements: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    outputs: list[tuple[str, str]] = field(default_factory=list)
    quarantine_reports: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        d = self.__dict__.copy()
        d["reasons"] = dict(sorted(self.reasons.items()))
        return d


@dataclass
class Run:
    """Processes inputs for one gateway and collects results until rendered."""

    gateway: Gateway
    today: date
    clinic_id: str | None = None
    records: MemoryRecords = field(default_factory=MemoryRecords)
    summary: RunSummary = field(default_factory=RunSummary)
    claims: dict[str, list[Claim]] = field(default_factory=dict)
    statements: dict[str, list[Statement]] = field(default_factory=dict)
    #: allocator for ISA13/GS06/ST02 and file sequence numbers; default: the
    #: deployment's persisted one in its state folder (never reused)
    control_numbers: ControlNumbers | None = None
    _seen: set[str] = field(default_factory=set)
    _claim_digests: dict[tuple[str, str], str] = field(default_factory=dict)

    def process_bytes(self, raw: bytes, name: str) -> MessageResult | None:
        """Run one input; None when the same bytes were already processed."""
        digest = hashlib.sha256(raw).hexdigest()
        self.summary.inputs += 1
        if digest in self._seen:
            self.summary.duplicates += 1
            return None
        self._seen.add(digest)
        meta = MessageMeta(source=f"file:{name}", name=name, today=self.today, clinic_id=self.clinic_id)
        result = self.gateway.pipeline.process(raw, meta, self.records)
        if result.clinic_id:
            self.records.apply(result.clinic_id, result.updates)
        s = self.summary
        if result.quarantined:
            s.messages_quarantined += 1
            s.reasons.update(f.rule for f in result.findings if f.is_error)
        for enc in result.encounters:
            s.encounters += 1
            if enc.quarantined:
                s.encounters_quarantined += 1
                s.reasons.update(f.rule for f in enc.findings if f.is_error)
            self._admit_claims(enc)
            for c in enc.claims:
                self.claims.setdefault(c.clinic_id, []).append(c)
            for st in enc.statements:
                self.statements.setdefault(st.clinic_id, []).append(st)
        s.claims = sum(len(v) for v in self.claims.values())
        s.statements = sum(len(v) for v in self.statements.values())
        return result

    def _admit_claims(self, enc: EncounterResult) -> None:
        """Claims are unique per clinic by CLM01: an identical repeat is
        dropped, a different claim under a CLM01 already used in this run is
        quarantined (the same visit billed twice needs a person, or a
        replacement claim)."""
        for claim in list(enc.claims):
            key = (claim.clinic_id, claim.id)
            digest = hashlib.sha256(claim.model_dump_json().encode()).hexdigest()
            known = self._claim_digests.get(key)
            if known is None:
                self._claim_digests[key] = digest
            elif known == digest:
                enc.claims.remove(claim)
                self.summary.duplicate_claims += 1
            else:
                enc.claims.clear()
                enc.findings.append(duplicate_claim(claim.id))
                self.summary.encounters_quarantined += 1
                self.summary.reasons[DUPLICATE_CLAIM] += 1
                return

    def write_outputs(self, out_dir: Path, created: datetime) -> None:
        """Render each clinic's claims and statements with its destination's
        format and write them to ``out_dir/<destination>/``."""
        if self.control_numbers is None:  # the deployment's store: the numbers gateway run uses
            from gateway.store import FILE_NAME, open_store

            state = self.gateway.loaded.state_dir
            self.control_numbers = open_store(state / FILE_NAME, state_dir=state).control_numbers()
        numbers = self.control_numbers
        for kind, batches in (("claims", self.claims), ("statements", self.statements)):
            for clinic_id, items in sorted(batches.items()):
                clinic = self.gateway.clinics[clinic_id]
                dest = getattr(clinic.config, f"{kind}_to")
                if dest is None:
                    self.summary.reasons[f"GW-NO-DESTINATION ({kind})"] += len(items)
                    continue
                renderer = self.gateway.renderer(dest)
                ctx = RenderContext(
                    created=created,
                    config=self.gateway.config,
                    control_numbers=numbers,
                    settings=self.gateway.format_settings.get(dest),
                    clinics=self.gateway.clinics,
                )
                with self.gateway.folder_transport(out_dir / dest) as transport:
                    for doc in renderer.render(items, ctx):
                        transport.deliver(doc)
                        self.summary.outputs.append((dest, doc.name))


def quarantine_report(result: MessageResult) -> dict[str, Any]:
    """What an operator needs to act on a quarantined input: where, which
    rules, which encounter (by position and visit number) — findings only."""
    return {
        "input": result.meta.name,
        "format": result.envelope.format if result.envelope else None,
        "clinic": result.clinic_id,
        "message_findings": [f.model_dump(mode="json", exclude_none=True) for f in result.findings],
        "encounters": [
            {
                "index": i,
                "visit": e.encounter.id,
                "findings": [f.model_dump(mode="json", exclude_none=True) for f in e.findings if f.is_error],
            }
            for i, e in enumerate(result.encounters)
            if e.quarantined
        ],
    }


def process_files(
    gateway: Gateway,
    files: list[Path],
    out_dir: Path,
    *,
    clinic_id: str | None = None,
    today: date | None = None,
    progress: Callable[[Path], None] | None = None,
) -> RunSummary:
    """The ``gateway process`` job: every file through the pipeline, outputs
    and quarantine reports into ``out_dir``, a summary back."""
    now = datetime.now().astimezone()
    run = Run(gateway=gateway, today=today or now.date(), clinic_id=clinic_id)
    qdir = out_dir / "quarantine"
    for path in files:
        result = run.process_bytes(path.read_bytes(), path.name)
        if progress:
            progress(path)
        if result is not None and (result.quarantined or any(e.quarantined for e in result.encounters)):
            qdir.mkdir(mode=0o700, parents=True, exist_ok=True)
            report = qdir / f"{path.name}.findings.json"
            report.write_text(json.dumps(quarantine_report(result), indent=2) + "\n")
            report.chmod(0o600)
            run.summary.quarantine_reports.append(str(report))
    run.write_outputs(out_dir, now)
    return run.summary


def inspect_result(result: MessageResult | None, name: str) -> dict[str, Any]:
    """JSON-ready view of what the gateway understood from one input."""
    if result is None:
        return {"input": name, "duplicate": True}
    env = result.envelope
    return {
        "input": name,
        "format": env.format if env else None,
        "sender": env.sender if env else None,
        "control_id": env.control_id if env else None,
        "clinic": result.clinic_id,
        "quarantined": result.quarantined,
        "findings": [f.model_dump(mode="json", exclude_none=True) for f in result.findings],
        "encounters": [
            {
                "quarantined": e.quarantined,
                "encounter": e.encounter.model_dump(mode="json", exclude_none=True),
                "claims": [c.model_dump(mode="json", exclude_none=True) for c in e.claims],
                "statements": [s.model_dump(mode="json", exclude_none=True) for s in e.statements],
                "findings": [f.model_dump(mode="json", exclude_none=True) for f in e.findings],
            }
            for e in result.encounters
        ],
    }
