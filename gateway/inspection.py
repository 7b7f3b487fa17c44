"""``gateway inspect``: inputs through the pure pipeline alone, without a
store (:class:`Run`), and the JSON-ready views of what it understood. Kept
apart from :mod:`gateway.oneshot` so ``inspect`` imports no store, delivery
or daemon module (start-up, issue 18); ``gateway.oneshot`` re-exports these."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from gateway.messages import MemoryRecords, MessageMeta

if TYPE_CHECKING:
    from gateway.app import Gateway
    from gateway.model import Claim, Statement
    from gateway.pipeline import EncounterResult, MessageResult

__all__ = ["Input", "Run", "expand_inputs", "inspect_encounter", "inspect_result"]


@dataclass(frozen=True)
class Input:
    """An input file and the name it is known by (relative to the folder
    given, with that folder's name: ``x/bad.hl7``)."""

    path: Path
    name: str


def expand_inputs(paths: Iterable[Path]) -> list[Input]:
    """Files given, and every file below folders given (sorted; dotfiles
    skipped). A folder's files are named ``<folder>/<path below it>``, so
    ``x/bad.hl7`` and ``y/bad.hl7`` stay apart."""
    out: list[Input] = []
    for p in paths:
        if p.is_dir():
            base = p.resolve()
            files = sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
            out += [Input(f, (PurePosixPath(base.name) / f.resolve().relative_to(base).as_posix()).as_posix())
                    for f in files]  # fmt: skip
        else:
            out.append(Input(p, p.name))
    return out


@dataclass
class Run:
    """Runs inputs through the pure pipeline without a store (``gateway
    inspect``; tests and benchmarks that want the built claims and statements)."""

    gateway: Gateway
    today: date
    clinic_id: str | None = None
    records: MemoryRecords = field(default_factory=MemoryRecords)
    claims: dict[str, list[Claim]] = field(default_factory=dict)
    statements: dict[str, list[Statement]] = field(default_factory=dict)

    def process_bytes(
        self, raw: bytes, name: str, each: Callable[[EncounterResult], None] | None = None
    ) -> MessageResult:
        """One input through the pipeline; its claims and statements kept in
        :attr:`claims` and :attr:`statements`, unless ``each`` is given: then
        every encounter's result goes to it (see :meth:`Pipeline.process`)
        and nothing is kept."""
        meta = MessageMeta(source=f"file:{name}", name=name, today=self.today, clinic_id=self.clinic_id)
        result = self.gateway.pipeline.process(raw, meta, self.records, each)
        if result.clinic_id:
            self.records.apply(result.clinic_id, result.updates)
        for enc in result.encounters:
            for c in enc.claims:
                self.claims.setdefault(c.clinic_id, []).append(c)
            for st in enc.statements:
                self.statements.setdefault(st.clinic_id, []).append(st)
        return result


def inspect_result(result: MessageResult, name: str) -> dict[str, Any]:
    """JSON-ready view of what the gateway understood from one input."""
    env = result.envelope
    return {
        "input": name,
        "format": env.format if env else None,
        "sender": env.sender if env else None,
        "control_id": env.control_id if env else None,
        "clinic": result.clinic_id,
        "quarantined": result.quarantined,
        "findings": [f.model_dump(mode="json", exclude_none=True) for f in result.findings],
        "encounters": [inspect_encounter(e) for e in result.encounters],
    }


def inspect_encounter(e: EncounterResult) -> dict[str, Any]:
    """JSON-ready view of one encounter with its claims, statements and findings."""
    return {
        "quarantined": e.quarantined,
        "encounter": e.encounter.model_dump(mode="json", exclude_none=True),
        "claims": [c.model_dump(mode="json", exclude_none=True) for c in e.claims],
        "statements": [s.model_dump(mode="json", exclude_none=True) for s in e.statements],
        "findings": [f.model_dump(mode="json", exclude_none=True) for f in e.findings],
    }
