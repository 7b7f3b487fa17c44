"""The situational claim data payers require (field map section ``claim``):
authorization and referral numbers (AUT-6, IN1-14, RF1-6 by default), the
accident (ACC), onset and last-seen dates, a claim note and the delay reason,
as Encounter fields. Line-level values (``charge`` keys) are read with the
charge (:mod:`.charges`)."""

from __future__ import annotations

from typing import Any

from .fieldmap import ClaimMap
from .problems import Issues
from .values import Scope, to_date

_TEXTS = ("prior_authorization", "referral_number", "note", "delay_reason")
_DATES = ("onset_date", "accident_date", "last_seen_date")


def read_claim_info(fm: ClaimMap, scope: Scope, problems: Issues) -> dict[str, Any]:
    """Encounter fields of the ``claim`` section (only those sent)."""
    out: dict[str, Any] = {}
    for key in _TEXTS:
        paths = getattr(fm, key)
        if paths and (value := scope.first(paths)[0]):
            out[key] = value
    for key in _DATES:
        paths = getattr(fm, key)
        if not paths:
            continue
        text, path, seg = scope.first(paths)
        if path is not None:
            when = to_date(text, problems, seg, path.field, path)
            if when is not None:
                out[key] = when
    causes: list[str] = []
    cause, _, _ = scope.first(fm.related_causes)
    if cause:
        causes.append(fm.related_cause_codes.get(cause.upper(), cause.upper()))
    employment, _, _ = scope.first(fm.employment_related)
    if employment.upper() in ("Y", "YES") and "EM" not in causes:
        causes.append("EM")
    if causes:
        out["related_causes"] = causes
    state, _, _ = scope.first(fm.accident_state)
    if state:
        out["accident_state"] = state.upper()
    return out
