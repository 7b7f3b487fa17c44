"""The money invariant, written once: every billable input line ends on a
claim, on a statement, in a kept record, or in an error or warning finding
that names it; and no line is on two claims.

Billable input lines are counted from the input itself, not from what a
reader built (a reader that drops a line cannot also hide it here):

* HL7 v2: every FT1 whose FT1-6 is a billed type of the field map, or empty:
  ``FT1[i]`` (``MSG[n]/FT1[i]`` in an input with several messages or a batch
  envelope). The input is split into messages and segments by the plugin's
  low-level reader (``read_batch``); which FT1 is billable is decided here.
* FHIR (JSON or XML): every ChargeItem with status billable, billed or
  planned (its JSON path), and every item of a Claim with use ``claim`` that
  is not cancelled, in error or a draft (``<claim>.item[j]``), except items
  without a price that only restate a diagnosis (Synthea lists conditions
  as Claim items: no money, nothing to bill).
* canonical JSON: every ``$.encounters[i].service_lines[j]``.
* X12 responses (999, 277CA, 835): none; they are answers, not charges.

Where a line may end (:func:`check_nothing_vanishes`):

* the whole message is quarantined (an error finding on the message): it is
  kept whole, nothing of it was used;
* a claim line or statement line whose ``source_ref`` is the line's;
* a service line of a quarantined encounter (held with it; its error
  findings say why);
* an error or warning finding whose location names the line, a path inside
  it, or the resource holding it (a Claim skipped as a whole).

(A "kept record" is the fourth way the design allows; no reader keeps a
billable line as a record today: a FHIR charge without its visit is
quarantined with its message.)
"""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal
from typing import Any

from gateway_plugins.inbound.fhir.xml import XmlProblem, xml_to_json
from gateway_plugins.inbound.hl7v2.fieldmap import FieldMap, default_map
from gateway_plugins.inbound.hl7v2.reader import decode_text, read_batch

from gateway.model import Severity
from gateway.pipeline import MessageResult

#: ChargeItem statuses that mean "bill this"
BILLABLE_CHARGE_STATUSES = frozenset({"billable", "billed", "planned"})
_INACTIVE_CLAIM = frozenset({"cancelled", "entered-in-error", "draft"})


def hl7_refs(raw: bytes, fm: FieldMap | None = None) -> list[str]:
    """``FT1[i]`` of every billable FT1 (``MSG[n]/`` prefixed in multi-message inputs)."""
    fm = fm or default_map()
    batch = read_batch(decode_text(raw)[0])
    multi = len(batch.messages) > 1 or bool(batch.envelope)
    out = []
    for msg in batch.messages:
        prefix = f"MSG[{msg.number}]/" if multi else ""
        for seg in msg.all(fm.charge.segment):
            kind = seg.value(fm.charge.type.field, fm.charge.type.component or 1).strip().upper()
            if kind == "" or kind in fm.charge.billed_types:
                out.append(prefix + seg.label)
    return out


def _codes(concept: Any) -> set[tuple[str, str]]:
    if not isinstance(concept, dict):
        return set()
    return {
        (str(c.get("system") or ""), str(c.get("code")))
        for c in concept.get("coding") or []
        if isinstance(c, dict) and c.get("code")
    }


def _diagnosis_codes(doc: dict[str, Any], resources: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """Codes of every Condition in the message and of every Claim.diagnosis concept."""
    out: set[tuple[str, str]] = set()
    for res in resources:
        if res.get("resourceType") == "Condition":
            out |= _codes(res.get("code"))
        for d in res.get("diagnosis") or [] if res.get("resourceType") == "Claim" else []:
            out |= _codes(d.get("diagnosisCodeableConcept") if isinstance(d, dict) else None)
    return out


def _fhir_resources(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    if doc.get("resourceType") != "Bundle":
        return [(str(doc.get("resourceType")), doc)]
    out = []
    for i, entry in enumerate(doc.get("entry") or []):
        res = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(res, dict) and (entry.get("search") or {}).get("mode") != "outcome":
            out.append((f"Bundle.entry[{i}].resource", res))
    return out


def fhir_refs(doc: dict[str, Any]) -> list[str]:
    """JSON paths of the billable ChargeItems and Claim items of a FHIR message."""
    resources = _fhir_resources(doc)
    echoes = _diagnosis_codes(doc, [r for _, r in resources])
    out = []
    for path, res in resources:
        rtype = res.get("resourceType")
        if rtype == "ChargeItem" and res.get("status") in BILLABLE_CHARGE_STATUSES:
            out.append(path)
        elif rtype == "Claim" and res.get("use", "claim") == "claim" and res.get("status") not in _INACTIVE_CLAIM:
            for j, item in enumerate(res.get("item") or []):
                if not isinstance(item, dict):
                    continue
                priced = item.get("net") is not None or item.get("unitPrice") is not None
                if not priced and item.get("diagnosisSequence") and _codes(item.get("productOrService")) & echoes:
                    continue
                out.append(f"{path}.item[{j}]")
    return out


def canonical_refs(doc: Any) -> list[str]:
    encounters = doc.get("encounters") if isinstance(doc, dict) else None
    out = []
    for i, enc in enumerate(encounters if isinstance(encounters, list) else []):
        lines = enc.get("service_lines") if isinstance(enc, dict) else None
        out += [f"$.encounters[{i}].service_lines[{j}]" for j in range(len(lines if isinstance(lines, list) else []))]
    return out


def billable_refs(raw: bytes, fmt: str) -> list[str] | None:
    """The billable input lines of ``raw`` in format ``fmt``; None when the
    input cannot be read at all (then it must be quarantined whole)."""
    if fmt == "x12-response":
        return []  # a payer's answer (999/277CA/835) holds no line to bill
    try:
        if fmt == "hl7v2":
            return hl7_refs(raw)
        if fmt == "fhir-xml":
            return fhir_refs(xml_to_json(raw))
        text = raw.decode("utf-8-sig")
        doc = json.loads(text, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError, RecursionError, XmlProblem):
        return None
    if fmt == "fhir-json":
        return fhir_refs(doc) if isinstance(doc, dict) else None
    if fmt == "gateway-json":
        return canonical_refs(doc)
    raise AssertionError(f"the invariant does not know format {fmt!r}")


def names(location: str | None, ref: str) -> bool:
    """True when a finding at ``location`` names line ``ref``: the same path,
    a path inside it (``FT1[2]-11``, ``….resource.code``) or the resource
    holding it (``….resource`` for ``….resource.item[0]``)."""
    if not location:
        return False
    inner, outer = (location, ref) if len(location) >= len(ref) else (ref, location)
    return inner == outer or (inner.startswith(outer) and inner[len(outer)] in ".[-/")


def where_it_ends(ref: str, result: MessageResult, claimed: Counter[str], stated: set[str]) -> str | None:
    """How line ``ref`` ended, or None when it vanished."""
    if result.quarantined:
        return "message quarantined"
    if ref in claimed:
        return "claim"
    if ref in stated:
        return "statement"
    for er in result.encounters:
        if er.quarantined and any(ln.source_ref == ref for ln in er.encounter.service_lines):
            return "encounter quarantined"
    for f in result.all_findings():
        if f.severity in (Severity.ERROR, Severity.WARNING) and names(f.location, ref):
            return f"finding {f.rule}"
    return None


def check_nothing_vanishes(raw: bytes, result: MessageResult) -> dict[str, str]:
    """Assert the invariant for one input and the pipeline's result; returns
    where each billable line ended (for tests that want to say more)."""
    fmt = result.envelope.format if result.envelope is not None else None
    if fmt is None:
        assert result.quarantined, "an input no plugin recognises must be quarantined"
        return {}
    refs = billable_refs(raw, fmt)
    if refs is None:
        assert result.quarantined, "an input that cannot be read must be quarantined whole"
        return {}
    claimed: Counter[str] = Counter(
        ln.source_ref for er in result.encounters for c in er.claims for ln in c.service_lines if ln.source_ref
    )
    twice = [ref for ref, n in claimed.items() if n > 1]
    assert not twice, f"lines on more than one claim: {twice}"
    stated = {ln.source_ref for er in result.encounters for st in er.statements for ln in st.lines if ln.source_ref}
    ends = {ref: where_it_ends(ref, result, claimed, stated) for ref in refs}
    vanished = [ref for ref, end in ends.items() if end is None]
    assert not vanished, f"billable lines that vanished (no claim, statement, record or finding): {vanished}"
    return ends  # type: ignore[return-value]
