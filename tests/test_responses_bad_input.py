"""Bad response files: every problem is a finding naming the segment (and
the amounts, for money), never an exception, never patient data."""

from __future__ import annotations

from decimal import Decimal

import pytest
from gateway_plugins.inbound.x12_responses import read_responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.model import Finding, ResponseBatch
from tests.responses_helpers import ACK_BODY, CLAIM_ACK_BODY, PATIENT_TEXT, REMIT_BODY, at, envelope, remit, replace


def findings(batch: ResponseBatch) -> list[Finding]:
    return batch.findings + [f for d in batch.documents for f in d.findings]


def errors(batch: ResponseBatch) -> dict[str, Finding]:
    return {f.rule: f for f in findings(batch) if f.is_error}


def assert_no_patient_data(batch: ResponseBatch) -> None:
    for f in findings(batch):
        text = f"{f.message} {f.location or ''}"
        assert not any(p in text for p in PATIENT_TEXT), f


def test_a_good_remit_has_no_finding() -> None:
    assert findings(read_responses(remit())) == []


def test_payment_out_of_balance_names_the_amounts_and_bpr02() -> None:
    batch = read_responses(remit(replace(REMIT_BODY, "BPR*", REMIT_BODY[0].replace("*96.9*", "*100*"))))
    (doc,) = batch.documents
    (f,) = [f for f in doc.findings if f.is_error]
    assert f.rule == "X12-835-BALANCE-PAYMENT" and f.location == "segment 4 (BPR02)"
    assert "BPR02 pays 100" in f.message and "paid 104.4" in f.message and "7.5" in f.message and "96.9" in f.message


def test_line_out_of_balance_names_the_line_and_its_amounts() -> None:
    body = replace(REMIT_BODY, "SVC*HC:99213", "SVC*HC:99213*125*70**1")
    (doc,) = read_responses(remit(body)).documents
    (f,) = [f for f in doc.findings if f.is_error]
    assert (f.rule, f.location) == ("X12-835-BALANCE-LINE", at(body, "SVC*HC:99213", 3))
    assert "claim RIV-1001" in f.message and "125 − paid 70 = 55" in f.message and "53.60" in f.message


def test_claim_out_of_balance_names_the_claim() -> None:
    body = replace(REMIT_BODY, "CAS*CO*45*18", "CAS*CO*45*17")
    (doc,) = read_responses(remit(body)).documents
    (f,) = [f for f in doc.findings if f.is_error]
    assert f.rule == "X12-835-BALANCE-CLAIM" and f.location == at(body, "CLP*RIV-1002*1*", 4)
    assert "charge 90 − paid 72 = 18" in f.message and "add up to 17" in f.message


def test_patient_responsibility_that_differs_from_pr_is_a_warning() -> None:
    body = replace(REMIT_BODY, "CLP*RIV-1001", "CLP*RIV-1001*1*160.5*95.4*20*12*ICN0001*11*1")
    (doc,) = read_responses(remit(body)).documents
    assert [(f.rule, f.severity.value) for f in doc.findings] == [("X12-835-PATIENT-RESP", "warning")]


@pytest.mark.parametrize(
    ("old", "new", "rule", "element"),
    [
        ("CAS*CO*45*18", "CAS*XX*45*18", "X12-835-QUALIFIER", 1),
        ("CLP*RIV-2003", "CLP*RIV-2003*9*150*0*0*12*ICN0002", "X12-835-QUALIFIER", 2),
        ("BPR*", REMIT_BODY[0].replace("*ACH*", "*ZZZ*"), "X12-835-QUALIFIER", 4),
        ("N1*PE", "N1*PE*RIVERSIDE*ZZ*1234567893", "X12-835-QUALIFIER", 3),
        ("SVC*HC:99392", "SVC*XX:99392*150*0**1", "X12-835-QUALIFIER", 1),
        ("PLB*", "PLB*1234567893*20261231*QQ*-2.5*WO:ICN0009*10", "X12-835-QUALIFIER", 3),
        ("CLP*RIV-1002*1*", "CLP*RIV-1002*1*90*72,00*0*12*ICN0004", "X12-AMOUNT", 4),
        ("CAS*CO*45*18", "CAS*CO*45*1e1", "X12-AMOUNT", 3),
        ("CAS*CO*45*18", "CAS*CO*45*NaN", "X12-AMOUNT", 3),
        ("CAS*CO*45*18", "CAS*CO*45*١٨", "X12-AMOUNT", 3),
        ("CAS*CO*45*18", "CAS*CO**18", "X12-835-CAS", 3),
        # beyond gateway.money.MAX_AMOUNT (99999999.99): a finding, not a model that refuses it
        ("CLP*RIV-1002*1*", "CLP*RIV-1002*1*123456789*72*0*12*ICN0004", "X12-AMOUNT", 3),
        ("CAS*CO*45*18", "CAS*CO*45*99999999.991", "X12-AMOUNT", 3),
        ("SVC*HC:99213", "SVC*HC:99213*125*-100000000**1", "X12-AMOUNT", 3),
        ("DTM*150*20261001", "DTM*150*20261301", "X12-DATE", 2),
        ("BPR*", REMIT_BODY[0].replace("20261201", "2026120"), "X12-DATE", 16),
        ("TRN*", "TRN*2*", "X12-835-TRN", 2),
        ("PLB*", "PLB*1234567893*20261231" + "*L6*-2.5*WO:ICN0009*10" + "*CS*0" * 5, "X12-835-PLB", 15),
        ("LQ*HE*N130", "LQ*ZZ*N130", None, None),
    ],
)
def test_bad_values_are_findings_at_the_element(old: str, new: str, rule: str | None, element: int | None) -> None:
    body = replace(REMIT_BODY, old, new)
    batch = read_responses(remit(body))
    assert_no_patient_data(batch)
    if rule is None:  # an unknown LQ qualifier is only a warning
        assert not errors(batch) and [f.rule for f in findings(batch)] == ["X12-835-QUALIFIER"]
        return
    found = errors(batch)
    assert rule in found, [f"{f.rule} {f.location}" for f in findings(batch)]
    assert found[rule].location == at(body, new, element)
    if rule == "X12-AMOUNT":  # an unreadable amount is not also reported as a balance problem
        assert not any(r.startswith("X12-835-BALANCE") for r in found)
        assert "range" not in found[rule].message or "at most 99,999,999.99" in found[rule].message


def test_missing_parties_and_payment_are_errors() -> None:
    body = [s for s in REMIT_BODY if not s.startswith(("N1*PE", "REF*TJ", "BPR", "TRN"))]
    (doc,) = read_responses(remit(body)).documents
    assert doc.payment is None and doc.payee is None and doc.payer is not None
    rules = [f.rule for f in doc.findings if f.is_error]
    assert "X12-835-PARTY" in rules and "X12-835-BPR" in rules


def test_segments_out_of_place_are_structure_errors() -> None:
    body = [*REMIT_BODY[:11], "SVC*HC:99213*10*10", "CAS*CO*45*1", *REMIT_BODY[11:]]
    (doc,) = read_responses(remit(body)).documents
    assert {(f.rule, f.location) for f in doc.findings if f.is_error} >= {
        ("X12-835-STRUCTURE", "segment 15 (SVC)"),
        ("X12-835-STRUCTURE", "segment 16 (CAS)"),
    }


def test_bad_counts_and_control_numbers_in_the_envelope() -> None:
    text = remit().replace("SE*", "SE*9", 1).replace("GE*1*501", "GE*2*502").replace("IEA*1*", "IEA*3*")
    batch = read_responses(text)
    assert batch.documents[0].findings[0].rule == "X12-SE-COUNT"
    assert batch.documents[0].findings[0].location == f"segment {len(REMIT_BODY) + 4} (SE01)"
    assert {f.rule for f in batch.findings} == {"X12-GE-COUNT", "X12-GE-CONTROL", "X12-IEA-COUNT"}
    wrong_se02 = remit().replace("SE*" + str(len(REMIT_BODY) + 2) + "*0001", "SE*" + str(len(REMIT_BODY) + 2) + "*0002")
    assert [f.rule for f in read_responses(wrong_se02).documents[0].findings] == ["X12-SE-CONTROL"]


@pytest.mark.parametrize("cut", ["CLP*RIV-2003", "CAS*CO*45*5.5", "PLB*", "SE*", "GE*", "IEA*"])
def test_a_truncated_file_is_an_error_at_its_last_segment(cut: str) -> None:
    text = remit()
    batch = read_responses(text[: text.index(cut) + 3])
    assert any(f.is_error for f in batch.findings), "the file is incomplete: the message is quarantined"
    assert all(f.location and f.location.startswith("segment ") for f in findings(batch) if f.is_error)
    file_rules = {f.rule for f in batch.findings}
    assert file_rules & {"X12-TRUNCATED", "X12-IEA-COUNT"}, file_rules
    (doc,) = batch.documents
    if cut not in ("GE*", "IEA*"):  # the remit itself is incomplete (no SE, or a broken one): it must not post
        assert {f.rule for f in doc.findings if f.is_error} & {"X12-TRUNCATED", "X12-SE-COUNT"}


def test_999_and_277_problems() -> None:
    ack = read_responses(envelope("999", [[s for s in ACK_BODY if not s.startswith("AK9")]]))
    assert [f.rule for f in ack.documents[0].findings] == ["X12-999-AK9"]
    bad_ik5 = read_responses(envelope("999", [replace(ACK_BODY, "IK5*A", "IK5*Q")]))
    assert [(f.rule, f.location) for f in bad_ik5.documents[0].findings] == [("X12-999-STATUS", "segment 6 (IK501)")]
    claims = read_responses(
        envelope("277", [replace(CLAIM_ACK_BODY, "STC*A2:20*20261202*WQ", "STC*Z9:20*20261202*WQ")])
    )
    first, second = claims.documents
    assert [(f.rule, f.location) for f in first.findings] == [("X12-277-QUALIFIER", "segment 24 (STC01)")]
    assert second.findings == []  # a problem in one claim's loop stays with that claim
    orphan = read_responses(envelope("277", [replace(CLAIM_ACK_BODY, "HL*4*3*PT", "HL*4*9*PT")]))
    assert ("X12-277-HL", "segment 21 (HL02)") in [(f.rule, f.location) for f in orphan.documents[0].findings]


@pytest.mark.parametrize("raw", [b"", b"garbage", b"ISA*00*", b"ISA*0" + b"\xff" * 300, b"\x00" * 200])
def test_not_x12_at_all(raw: bytes) -> None:
    batch = read_responses(raw)
    assert batch.documents == [] and [f.rule for f in batch.findings] == ["X12-SYNTAX"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_damage_never_raises_nor_leaks_patient_data(data: st.DataObject) -> None:
    text = remit() + envelope("277", [CLAIM_ACK_BODY], control=502) + envelope("999", [ACK_BODY], control=503)
    edits = data.draw(st.lists(st.tuples(st.integers(0, len(text) - 1), st.sampled_from(["", "*", "~", ":", "9", "X",
                                                                                         "-", ".", "ISA", "\n"])),
                               min_size=1, max_size=6))  # fmt: skip
    for pos, new in edits:
        text = text[:pos] + new + text[pos + 1 :]
    cut = data.draw(st.integers(len(text) // 2, len(text)))
    batch = read_responses(text[:cut])
    assert_no_patient_data(batch)
    for f in findings(batch):
        assert f.plugin == "x12_responses" and f.message
    assert ResponseBatch.model_validate_json(batch.model_dump_json()) == batch
    for doc in batch.documents:
        if doc.kind == "835" and not doc.findings:
            assert doc.payment.signed_amount == sum((c.paid for c in doc.claims), Decimal(0)) - sum(
                (a.amount for a in doc.provider_adjustments), Decimal(0)
            )


@pytest.mark.parametrize(
    ("make", "old", "new"),
    [
        (lambda b: envelope("999", [b]), "IK3*CLM*22*2300*8", "IK3*CLM*²*2300*8"),
        (lambda b: envelope("999", [b]), "IK4*2*782*1", "IK4*١:²*782*1"),
        (lambda b: envelope("277", [b]), "HL*4*3*PT", "HL*²*3*PT"),
        (lambda b: envelope("999", [b]), "AK9*P*2*2*1", "AK9*P*²*9" + "9" * 5000 + "*1"),
    ],
)
def test_digits_that_python_but_not_x12_calls_digits_never_raise(make, old: str, new: str) -> None:
    body = {"IK": ACK_BODY, "AK": ACK_BODY, "HL": CLAIM_ACK_BODY}[old[:2]]
    batch = read_responses(make(replace(body, old, new)))
    assert batch.documents and all(f.message for f in findings(batch))
