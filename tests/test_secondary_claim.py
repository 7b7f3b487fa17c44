"""The claim to the next payer (gateway.secondary) and its 837P (2320/2330/2430):
built from a primary claim and the primary's 835 answer, balanced as 5010
requires, rendered to files pyx12 accepts; `gateway validate` catches an
unbalanced secondary 837 made by hand."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from gateway_plugins.renderers.x12.facts import cas_order, facts_of, to_claim
from gateway_plugins.renderers.x12.reader import read_837
from gateway_plugins.renderers.x12.validate import FileValidator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.model import Adjustment, Claim, RemitClaim, RemitLine, SecondaryBilling
from gateway.secondary import imbalances, next_payer_claim, without_claim_numbers
from gateway.x12 import SegmentStream
from tests.x12check import PAYER, assert_valid_837, fixture_claims, render

D = Decimal
PAID_ON = date(2026, 11, 20)


def two_coverages() -> Claim:
    """A primary claim (Example Health Plan) whose patient has a secondary (Sample Supplemental)."""
    c = fixture_claims()["secondary"]
    primary = c.other_coverages[0].model_copy(update={"prior_payer_paid": None})
    return c.model_copy(update={"coverage": primary, "other_coverages": [c.coverage]})


def tertiary_too() -> Claim:
    c = two_coverages()
    third = c.other_coverages[0].model_copy(
        update={"order": 3, "payer": PAYER.model_copy(update={"id": "EXPAYER3", "name": "Third Party Plan"})}
    )
    return c.model_copy(update={"other_coverages": [c.other_coverages[0], third]})


def adj(group: str, reason: str, amount: str) -> Adjustment:
    return Adjustment(group=group, reason=reason, amount=D(amount), segment=0)


def answer(claim: Claim, lines: list[tuple[str, list[Adjustment]]], status: str = "1",
           claim_cas: list[Adjustment] | None = None, icn: str | None = "ICN-P-1") -> RemitClaim:  # fmt: skip
    """An 835 CLP for ``claim``: per line (paid, CAS), plus claim-level CAS."""
    out = []
    for i, (ln, (paid, cas)) in enumerate(zip(claim.service_lines, lines, strict=True), 1):
        out.append(RemitLine(qualifier="HC", procedure=ln.procedure_code, modifiers=ln.modifiers, charge=ln.charge,
                             paid=D(paid), units=ln.units, control_number=f"{claim.id}-{i}", adjustments=cas,
                             segment=0))  # fmt: skip
    claim_cas = claim_cas or []
    all_cas = claim_cas + [a for _, cas in lines for a in cas]
    pr = sum((a.amount for a in all_cas if a.group == "PR"), D(0))
    return RemitClaim(claim_id=claim.id, status=status, status_text="processed", charge=claim.total_charge,
                      paid=sum((ln.paid for ln in out), D(0)), patient_responsibility=pr, payer_claim_id=icn,
                      adjustments=claim_cas, lines=out, segment=0)  # fmt: skip


def segments(data: bytes) -> list[list[str]]:
    return [s.elements for s in SegmentStream(data)]


def coinsurance(claim: Claim) -> RemitClaim:
    # 99214 165.00: allowed 120, PR-2 24, paid 96; 36415 15.00: allowed 10, PR-1 10 (deductible), paid 0
    return answer(claim, [("96", [adj("CO", "45", "45"), adj("PR", "2", "24")]),
                          ("0", [adj("CO", "45", "5"), adj("PR", "1", "10")])])  # fmt: skip


def test_secondary_claim_carries_the_primarys_answer_and_renders_valid() -> None:
    primary = two_coverages()
    secondary, problems = next_payer_claim(primary, coinsurance(primary), PAID_ON)
    assert problems == [] and secondary is not None
    assert (secondary.id, secondary.coverage.order, secondary.coverage.payer.id) == (primary.id, 2, "EXPAYER2")
    assert secondary.frequency_code == "1" and secondary.total_charge == primary.total_charge
    (earlier,) = secondary.other_coverages
    a = earlier.adjudication
    assert (earlier.order, earlier.payer.id, a.paid, a.patient_responsibility) == (1, "EXPAYER1", D(96), D(34))
    assert [(la.line, la.procedure_code, la.paid) for la in a.lines] == [(1, "99214", D(96)), (2, "36415", D(0))]
    assert a.claim_control_number == "ICN-P-1" and a.adjudication_date == PAID_ON
    assert imbalances(secondary) == []
    data = render([secondary]).content
    assert_valid_837(data)
    segs = segments(data)
    ids = [s[0] for s in segs]
    sbr = [s for s in segs if s[0] == "SBR"]
    assert [s[1] for s in sbr] == ["S", "P"]  # 2000B the secondary, 2320 the primary
    amt_d = [s for s in segs if s[:2] == ["AMT", "D"]]
    assert amt_d == [["AMT", "D", "96"]]
    assert not any(s[:2] == ["AMT", "EAF"] for s in segs)  # line-level answers: not required
    svd = [s for s in segs if s[0] == "SVD"]
    assert [(s[1], s[2], s[3]) for s in svd] == [("EXPAYER1", "96", "HC:99214"), ("EXPAYER1", "0", "HC:36415")]
    # each 2430: SVD, its CAS, then DTP*573
    first = ids.index("SVD")
    cas_after = segs[first + 1 : first + 3]
    assert cas_after == [["CAS", "CO", "45", "45"], ["CAS", "PR", "2", "24"]]
    assert segs[first + 3] == ["DTP", "573", "D8", "20261120"]
    # balancing as a payer checks it, from the file: CLM02 = AMT*D + Σ 2430 CAS; SV102 = SVD02 + its CAS
    clm02 = D(next(s for s in segs if s[0] == "CLM")[2])
    cas_total = sum((D(s[i]) for s in segs if s[0] == "CAS" for i in range(3, len(s), 3) if s[i]), D(0))
    assert clm02 == D(amt_d[0][2]) + cas_total
    assert FileValidator().validate(data).errors == []


def test_claim_level_answer_sends_remaining_liability_and_date_in_2330b() -> None:
    primary = two_coverages()
    clp = answer(primary, [("96", []), ("0", [])], claim_cas=[adj("CO", "45", "50"), adj("PR", "2", "34")])
    clp = clp.model_copy(update={"lines": []})
    secondary, problems = next_payer_claim(primary, clp, PAID_ON)
    assert problems == [] and secondary is not None
    data = render([secondary]).content
    assert_valid_837(data)
    segs = segments(data)
    assert ["AMT", "EAF", "34"] in segs and ["CAS", "CO", "45", "50"] in segs and ["CAS", "PR", "2", "34"] in segs
    assert not any(s[0] == "SVD" for s in segs)
    nm1_pr = [i for i, s in enumerate(segs) if s[:2] == ["NM1", "PR"]]
    assert segs[nm1_pr[-1] + 1] == ["DTP", "573", "D8", "20261120"]  # 2330B: no 2430 carries the date
    assert FileValidator().validate(data).errors == []


def test_icn_in_2330b_ref_f8_only_when_kept() -> None:
    primary = two_coverages()
    secondary, _ = next_payer_claim(primary, coinsurance(primary), PAID_ON)
    assert secondary is not None
    with_icn = segments(render([secondary]).content)
    assert ["REF", "F8", "ICN-P-1"] in with_icn
    assert not any(s[:2] == ["REF", "F8"] for s in segments(render([primary]).content))
    stripped = Claim.model_validate_json(without_claim_numbers(secondary.model_dump_json(exclude_none=True)))
    data = render([stripped]).content
    assert_valid_837(data)
    assert not any(s[:2] == ["REF", "F8"] for s in segments(data))


def test_a_line_the_payer_answered_that_is_not_ours_builds_nothing() -> None:
    primary = two_coverages()
    clp = coinsurance(primary)
    lines = [*clp.lines, clp.lines[1].model_copy(update={"control_number": "NOT-OURS-9"})]
    clp = clp.model_copy(update={"lines": lines})
    built, problems = next_payer_claim(primary, clp, PAID_ON)
    assert built is None
    assert problems == ["the payer's service line 3 (SVC) matches none of the claim's lines"]


def test_an_answer_that_does_not_balance_per_line_builds_nothing() -> None:
    primary = two_coverages()
    # line 1 short by 5.00 at line level, made up by a claim-level CAS: the claim balances, the line does not
    clp = answer(primary, [("96", [adj("CO", "45", "40"), adj("PR", "2", "24")]),
                           ("0", [adj("CO", "45", "5"), adj("PR", "1", "10")])], claim_cas=[adj("OA", "23", "5")])  # fmt: skip
    built, problems = next_payer_claim(primary, clp, PAID_ON)
    assert built is None
    assert problems == [
        "payer 1 (P) line 1: charge 165.00 ≠ paid 96.00 + adjustments 64.00 (5010 COB balancing: charge = paid + Σ CAS)"
    ]


def test_no_next_coverage_builds_nothing() -> None:
    c = two_coverages().model_copy(update={"other_coverages": []})
    built, problems = next_payer_claim(c, coinsurance(c), PAID_ON)
    assert built is None and problems == ["the claim has no coverage of order 2 to bill next"]


def test_tertiary_carries_both_earlier_answers() -> None:
    primary = tertiary_too()
    secondary, problems = next_payer_claim(primary, coinsurance(primary), PAID_ON)
    assert secondary is not None and not problems
    assert [c.order for c in secondary.other_coverages] == [1, 3]
    # the secondary pays 80% of what the primary left, OA-23 for the primary's part, PR for the rest
    sec_answer = answer(secondary, [("19.20", [adj("OA", "23", "141"), adj("PR", "2", "4.80")]),
                                    ("8", [adj("OA", "23", "5"), adj("PR", "1", "2")])], status="2", icn="ICN-S-1")  # fmt: skip
    tertiary, problems = next_payer_claim(secondary, sec_answer, date(2026, 12, 4))
    assert tertiary is not None and not problems
    assert (tertiary.coverage.order, tertiary.coverage.payer.id) == (3, "EXPAYER3")
    assert [(c.order, c.adjudication.paid) for c in tertiary.other_coverages] == [(1, D(96)), (2, D("27.20"))]
    data = render([tertiary]).content
    assert_valid_837(data)
    segs = segments(data)
    assert [s[1] for s in segs if s[0] == "SBR"] == ["T", "P", "S"]
    assert [s[1] for s in segs if s[0] == "SVD"] == ["EXPAYER1", "EXPAYER2", "EXPAYER1", "EXPAYER2"]
    assert FileValidator().validate(data).errors == []


def test_hand_made_unbalanced_secondary_is_caught_by_validate() -> None:
    primary = two_coverages()
    secondary, _ = next_payer_claim(primary, coinsurance(primary), PAID_ON)
    assert secondary is not None
    text = render([secondary]).content.decode()
    bad = text.replace("AMT*D*96~", "AMT*D*90~", 1)
    assert bad != text
    report = FileValidator().validate(bad.encode())
    rules = sorted({i.rule for i in report.errors})
    assert rules == ["X12-COB-BALANCE"], [i.describe() for i in report.issues]
    (issue,) = report.errors
    assert issue.seg_id == "AMT" and "payer 1 (P) claim: charge 180.00 ≠ paid 90" in issue.message
    bad_line = text.replace("SVD*EXPAYER1*96*", "SVD*EXPAYER1*95*", 1)
    report = FileValidator().validate(bad_line.encode())
    messages = [i.message for i in report.errors if i.rule == "X12-COB-BALANCE"]
    assert any("line 1: charge 165.00 ≠ paid 95" in m for m in messages), messages
    assert next(i for i in report.errors if "line 1" in i.message).seg_id == "SVD"


def test_secondary_billing_settings() -> None:
    assert SecondaryBilling().model_dump() == {"wait_for_crossover": False, "delay_days": 0,
                                               "prior_claim_number": False}  # fmt: skip
    with pytest.raises(ValueError, match="wait_for_crossover needs delay_days"):
        SecondaryBilling(wait_for_crossover=True)
    assert SecondaryBilling(wait_for_crossover=True, delay_days=14).delay_days == 14


cents = st.integers(0, 30_000).map(lambda n: D(n) / 100)


@st.composite
def primary_answers(draw: st.DrawFn) -> tuple[Claim, RemitClaim]:
    """A two-coverage claim of 1-4 lines and a random primary answer that balances (as a valid 835 must)."""
    base = two_coverages()
    n = draw(st.integers(1, 4))
    template = base.service_lines
    lines = []
    for i in range(n):
        charge = draw(st.integers(100, 50_000).map(lambda c: D(c) / 100))
        lines.append(template[i % 2].model_copy(update={"charge": charge}))
    claim = base.model_copy(update={"service_lines": lines, "total_charge": sum((ln.charge for ln in lines), D(0))})
    answers = []
    for ln in lines:
        left = ln.charge
        cas = []
        for group, reason in (("CO", "45"), ("PR", "1"), ("PR", "2"), ("PR", "3")):
            part = min(left, draw(cents))
            if draw(st.booleans()) and part > 0:
                cas.append(adj(group, reason, str(part)))
                left -= part
        answers.append((str(left), cas))
    clp = answer(claim, answers)
    if draw(st.booleans()):  # answered at claim level only: every CAS on the claim, no SVC
        clp = clp.model_copy(update={"lines": [], "adjustments": clp.all_adjustments()})
    return claim, clp


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(primary_answers())
def test_any_primary_answer_gives_a_balanced_secondary_pyx12_accepts(case: tuple[Claim, RemitClaim]) -> None:
    claim, clp = case
    secondary, problems = next_payer_claim(claim, clp, PAID_ON)
    assert problems == [] and secondary is not None
    assert imbalances(secondary) == []
    a = secondary.other_coverages[0].adjudication
    line_cas = sum((x.amount for la in a.lines for x in la.adjustments), D(0))
    assert secondary.total_charge == a.paid + sum((x.amount for x in a.adjustments), D(0)) + line_cas
    data = render([secondary]).content
    assert_valid_837(data)


def test_the_reader_reads_back_what_was_written_2320_2330_2430() -> None:
    primary = tertiary_too()
    secondary, _ = next_payer_claim(primary, coinsurance(primary), PAID_ON)
    assert secondary is not None
    claim_level = coinsurance(primary).model_copy(
        update={"lines": [], "adjustments": coinsurance(primary).all_adjustments()}
    )
    other, _ = next_payer_claim(primary, claim_level, PAID_ON)
    assert other is not None
    for claim in (secondary, other.model_copy(update={"id": "RIV-3002"})):
        (read,) = read_837(render([claim]).content).claims
        assert read == facts_of(claim)
        back = to_claim(read)
        written = [  # the 837P writes one CAS per group code
            c.adjudication.model_copy(update={"adjustments": cas_order(c.adjudication.adjustments)})
            for c in claim.other_coverages
            if c.adjudication
        ]
        assert [c.adjudication for c in back.other_coverages if c.adjudication] == written
