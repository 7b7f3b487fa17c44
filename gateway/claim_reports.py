"""The operator reports read from the store: claim positions for AR aging,
the follow-up list and the ``gateway_clinic_claims_without_response``
metric, through the store interface (``open_balances``, ``ledger``,
``list_submissions``). The reports themselves are pure
(:mod:`gateway.reports`); the CLI, the console, the metric and the demo all
come through here, so they agree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from gateway.adjustment_codes import AdjustmentCodes
from gateway.money import ZERO
from gateway.reports import (
    REJECTED,
    AgingReport,
    ClaimPosition,
    FollowUpDays,
    FollowUpReport,
    ar_aging,
    follow_up,
    without_response,
)
from gateway.store.reports_sql import ReportQueries
from gateway.store.submissions import SubmissionFilter

#: the most rejected submissions one follow-up list reads per status
REJECTED_LIMIT = 10_000


def day_of(t: float | None) -> date | None:
    """The UTC day of a store timestamp."""
    return datetime.fromtimestamp(t, UTC).date() if t is not None else None


def today() -> date:
    return datetime.now(UTC).date()


def follow_up_days(clinics: dict[str, Any]) -> Callable[[str, str], FollowUpDays]:
    """``days_for(clinic, payer)`` from each clinic's payer directory
    (``follow_up`` per payer; defaults for a payer or clinic without one)."""

    def days_for(clinic_id: str, payer_id: str) -> FollowUpDays:
        clinic = clinics.get(clinic_id)
        directory = clinic.resources.get("payer_directory") if clinic is not None else None
        if directory is None:
            return FollowUpDays()
        days = directory.follow_up_for(payer_id)
        return FollowUpDays(days.ack_days, days.remit_days)

    return days_for


def _denials(store: Any, clinic_id: str, clm01: str) -> tuple[tuple[str, str, Decimal], ...]:
    sums: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for e in store.ledger(clinic_id, clm01):
        if e.kind == "denial" and e.reason:
            sums[e.group or "", e.reason] += e.amount
    return tuple((g, r, a) for (g, r), a in sums.items())


def positions(
    store: Any, clinic_id: str | None = None, with_rejected: bool = True, with_denials: bool = True
) -> list[ClaimPosition]:
    """Every sent claim still owed or unanswered (``open_balances``), a denied
    one with its denial CAS; and, with ``with_rejected``, the claims whose
    latest submission a 999/277CA rejected (not yet sent again)."""
    out = []
    for b in store.open_balances(clinic_id):
        denials = _denials(store, b.clinic_id, b.clm01) if with_denials and b.status == "denied" else ()
        out.append(ClaimPosition(b.clinic_id, b.clm01, b.payer_id or "", b.status, b.charge, b.balance,
                                 day_of(b.delivered_at), denials))  # fmt: skip
    if with_rejected:
        out += rejected(store, clinic_id)
    return out


def rejected(store: Any, clinic_id: str | None = None) -> list[ClaimPosition]:
    """Claims whose latest submission for its payer place was rejected by a 999 or 277CA."""
    out = []
    for status in sorted(REJECTED):
        for s in store.list_submissions("claims", SubmissionFilter(clinic_id, status, None, None, REJECTED_LIMIT)):
            later = [x for x in store.submissions("claims", s.clinic_id, s.key, s.payer_seq) if x.version > s.version]
            if later:
                continue
            charge = Decimal(s.total_charge or "0")
            # ``delivered`` of a rejected claim is the day of the rejection (its days count from there)
            out.append(ClaimPosition(s.clinic_id, s.key, s.payer_id or "", s.status, charge, charge,
                                     day_of(s.updated_at)))  # fmt: skip
    return out


def aging(store: Any, as_of: date, clinic_id: str | None = None) -> AgingReport:
    """AR aging as of ``as_of`` from the store, with what patients owe per clinic and payer."""
    owed = [(o.clinic_id, o.payer_id or "", o.balance) for o in ReportQueries(store).patient_owed(clinic_id, as_of)]
    return ar_aging(positions(store, clinic_id, with_rejected=False, with_denials=False), as_of, owed)


def follow_up_list(
    store: Any, clinics: dict[str, Any], codes: AdjustmentCodes, as_of: date, clinic_id: str | None = None
) -> FollowUpReport:
    """The follow-up list from the store, with each clinic's payer days."""
    return follow_up(positions(store, clinic_id), as_of, follow_up_days(clinics), codes)


def without_response_counts(
    store: Any, clinics: dict[str, Any], as_of: date | None = None
) -> Iterable[tuple[dict[str, str], int]]:
    """Samples of ``gateway_clinic_claims_without_response``: every configured
    clinic, both kinds of answer, 0 included (an alert needs the series).
    Reads only the claims waiting for an answer (:mod:`gateway.store.reports_sql`)."""
    claims = [ClaimPosition(r.clinic_id, r.clm01, r.payer_id or "", r.status, ZERO, ZERO, day_of(r.delivered_at))
              for r in ReportQueries(store).awaiting_answer()]  # fmt: skip
    counts = without_response(claims, as_of or today(), follow_up_days(clinics))
    ids = sorted(set(clinics) | {c for c, _ in counts})
    return [({"clinic": c, "awaiting": a}, counts.get((c, a), 0)) for c in ids for a in ("ack", "remit")]
