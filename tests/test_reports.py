"""AR aging and the follow-up list: pure report functions over claim positions."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from gateway.adjustment_codes import shipped_codes
from gateway.reports import (
    AGING_BUCKETS,
    ClaimPosition,
    FollowUpDays,
    ar_aging,
    bucket_of,
    follow_up,
    without_response,
)

D = Decimal
AS_OF = date(2026, 6, 30)


def pos(
    claim: str,
    status: str,
    balance: str,
    days: int | None,
    clinic: str = "riverside",
    payer: str = "P1",
    charge: str = "100.00",
    denials: tuple = (),
) -> ClaimPosition:
    delivered = AS_OF - timedelta(days=days) if days is not None else None
    return ClaimPosition(clinic, claim, payer, status, D(charge), D(balance), delivered, denials)


@pytest.mark.parametrize(
    ("days", "bucket"),
    [
        (-2, "0-30"),
        (0, "0-30"),
        (30, "0-30"),
        (31, "31-60"),
        (60, "31-60"),
        (61, "61-90"),
        (90, "61-90"),
        (91, "90+"),
        (4000, "90+"),
    ],
)
def test_bucket_bounds(days: int, bucket: str) -> None:
    assert bucket_of(days) == bucket


def test_aging_per_clinic_and_payer_sums_to_the_cent() -> None:
    claims = [
        pos("A", "acknowledged_277", "100.10", 5),
        pos("B", "partially_paid", "20.05", 45),
        pos("C", "delivered", "300.00", 75),
        pos("D", "denied", "80.00", 120),
        pos("E", "paid", "0.00", 10),  # nothing owed
        pos("F", "closed", "5.00", 10),  # settled
        pos("G", "batched", "50.00", None),  # not delivered yet
        pos("H", "delivered", "40.00", -1),  # delivered after the as-of date
        pos("I", "paid", "-12.34", 40),  # overpaid: a credit
        pos("J", "acknowledged_277", "10.00", 31, payer="P2"),
        pos("K", "acknowledged_277", "7.00", 91, clinic="lakeside"),
    ]
    report = ar_aging(claims, AS_OF)
    assert [(r.clinic, r.payer_id, r.claims) for r in report.rows] == [
        ("lakeside", "P1", 1),
        ("riverside", "P1", 5),
        ("riverside", "P2", 1),
    ]
    riverside = report.rows[1]
    assert riverside.buckets == {"0-30": D("100.10"), "31-60": D("7.71"), "61-90": D("300.00"), "90+": D("80.00")}
    assert riverside.total == D("487.81")
    (lake, river) = report.clinic_totals()
    assert river.buckets["31-60"] == D("17.71") and river.total == D("497.81") and river.claims == 6
    assert lake.buckets["90+"] == D("7.00")
    assert list(riverside.buckets) == [b[0] for b in AGING_BUCKETS]
    # the same claims a month later: everything moves one bucket on
    later = ar_aging(claims, AS_OF + timedelta(days=30)).rows[1]
    assert later.buckets["0-30"] == D("40.00") and later.buckets["31-60"] == D("100.10")


def limits(clinic: str, payer: str) -> FollowUpDays:
    return FollowUpDays(2, 21) if payer == "P1" else FollowUpDays()


def test_follow_up_lists_late_answers_by_the_payers_days() -> None:
    claims = [
        pos("ACK-LATE", "delivered", "100.00", 3),  # P1: ack after 2 days
        pos("ACK-OK", "delivered", "100.00", 2),
        pos("ACK-OK-P2", "accepted_999", "100.00", 3, payer="P2"),  # P2: 3 days
        pos("ACK-LATE-P2", "accepted_999", "100.00", 4, payer="P2"),
        pos("REMIT-LATE", "acknowledged_277", "100.00", 22),
        pos("REMIT-OK", "acknowledged_277", "100.00", 21),
        pos("REMIT-OK-P2", "acknowledged_277", "100.00", 22, payer="P2"),
        pos("REJ", "rejected_277", "100.00", 1),
        pos("PAID", "paid", "0.00", 90),
    ]
    report = follow_up(claims, AS_OF, limits, shipped_codes())
    got = [(i.claim_id, i.awaiting, i.days, i.limit) for i in report.overdue]
    assert got == [
        ("REMIT-LATE", "remit", 22, 21),
        ("ACK-LATE-P2", "ack", 4, 3),
        ("ACK-LATE", "ack", 3, 2),
        ("REJ", "rejected", 1, None),
    ]
    assert without_response(claims, AS_OF, limits) == {("riverside", "remit"): 1, ("riverside", "ack"): 2}


def test_denied_claims_grouped_by_main_reason_in_plain_words() -> None:
    co96 = (("CO", "96", D("100.00")),)
    claims = [
        pos("D1", "denied", "0.00", 10, denials=co96),
        pos("D2", "denied", "0.00", 10, clinic="lakeside", denials=(("PR", "1", D("5.00")), ("CO", "96", D("95.00")))),
        pos("D3", "denied", "0.00", 10, charge="40.00", denials=(("CO", "Z9", D("40.00")),)),
        pos("D4", "denied", "0.00", 10, charge="10.00"),
        pos("P", "paid", "0.00", 10, denials=co96),
    ]
    groups = follow_up(claims, AS_OF, limits, shipped_codes()).denied
    assert [(g.reason, [c.claim_id for c in g.claims], g.total) for g in groups] == [
        ("96", ["D2", "D1"], D("200.00")),
        ("", ["D4"], D("10.00")),
        ("Z9", ["D3"], D("40.00")),
    ]
    assert groups[0].description == "a charge the plan does not cover; see the remark codes"
    assert groups[1].description == "no adjustment reason given"
    assert groups[2].description == "reason code Z9 (not in the gateway's list)"
