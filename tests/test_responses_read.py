"""Reading 999, TA1, 277CA and 835 files into the typed models (the
x12_responses plugin), on hand-written files checked with pyx12."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from gateway_plugins.inbound.x12_responses import read_responses, stream_responses
from gateway_plugins.inbound.x12_responses.sniff import FORMAT, sniff

from gateway.model import (
    Ack999,
    ClaimAck277,
    InterchangeAck,
    Remit835,
    RemitClaim,
    RemitEnd,
    ResponseBatch,
)
from tests.responses_helpers import (
    ACK_BODY,
    CLAIM_ACK_BODY,
    REMIT_BODY,
    RIVERSIDE_NPI,
    RIVERSIDE_TAX_ID,
    TA1,
    envelope,
    isa,
    remit,
)
from tests.x12check import assert_valid_x12

D = Decimal


def only(batch: ResponseBatch, kind: type):
    (doc,) = batch.documents
    assert isinstance(doc, kind) and not doc.findings, doc.findings
    assert not batch.findings, batch.findings
    return doc


def test_the_hand_written_files_are_valid_x12() -> None:
    assert_valid_x12(remit().encode(), "835")
    assert_valid_x12(envelope("999", [ACK_BODY]).encode(), "999")
    assert_valid_x12(envelope("277", [CLAIM_ACK_BODY]).encode(), "277")


def test_835_payment_parties_and_envelope() -> None:
    doc = only(read_responses(remit()), Remit835)
    p = doc.payment
    assert (p.handling, p.amount, p.credit_debit, p.method, p.payment_format) == ("I", D("96.9"), "C", "ACH", "CCP")
    assert (p.payment_date, p.trace_number, p.originator, p.segment) == (date(2026, 12, 1), "EFT0000012345",
                                                                        "1999999999", 4)  # fmt: skip
    assert doc.production_date == date(2026, 11, 30)
    assert (doc.payer.name, doc.payer.payer_id, doc.payer.address.city) == ("EXAMPLE HEALTH PLAN", "EXPAYER1",
                                                                            "SPRINGFIELD")  # fmt: skip
    assert (doc.payee.npi, doc.payee.tax_id, doc.payee.id_qualifier) == (RIVERSIDE_NPI, RIVERSIDE_TAX_ID, "XX")
    c = doc.control
    assert (c.interchange, c.sender, c.receiver, c.group, c.version, c.transaction, c.segment, c.usage) == (
        "000000501", "EXPAYER1", "EXBILL01", "501", "005010X221A1", "0001", 3, "T",
    )  # fmt: skip


def test_835_claims_lines_adjustments_and_remarks() -> None:
    doc = only(read_responses(remit()), Remit835)
    first, denied, reversal, corrected = doc.claims
    assert (first.claim_id, first.status, first.charge, first.paid, first.patient_responsibility) == (
        "RIV-1001", "1", D("160.5"), D("95.4"), D("23.85"),
    )  # fmt: skip
    assert (first.filing_indicator, first.payer_claim_id, first.facility_type, first.frequency) == ("12", "ICN0001",
                                                                                                    "11", "1")  # fmt: skip
    assert first.status_text == "processed as primary" and first.segment == 15
    assert (first.patient.family, first.member_id, first.rendering_npi) == ("TESTPERSON", "XHP000001001", "1543210987")
    assert (first.service_date, first.received_date, first.remarks) == (date(2026, 10, 5), date(2026, 10, 20), ["MA01"])
    office, test = first.lines
    assert (office.qualifier, office.procedure, office.charge, office.paid, office.units) == ("HC", "99213", D(125),
                                                                                             D("71.4"), D(1))  # fmt: skip
    assert (office.service_date, office.service_end, office.control_number, office.allowed) == (
        date(2026, 10, 5), date(2026, 10, 5), "RIV-1001-1", D("89.25"),
    )  # fmt: skip
    assert [(a.group, a.reason, a.amount) for a in office.adjustments] == [("CO", "45", D("35.75")),
                                                                           ("PR", "2", D("17.85"))]  # fmt: skip
    # the payer paid 87880-QW for the 87081 we billed (SVC06)
    assert (test.procedure, test.modifiers, test.original_qualifier, test.original_procedure) == ("87880", ["QW"],
                                                                                                  "HC", "87081")  # fmt: skip
    assert [(a.group, a.reason, a.amount, a.segment) for a in test.adjustments] == [
        ("CO", "45", D("5.5"), 29), ("PR", "1", D(4), 30), ("PR", "2", D(2), 30),
    ]  # fmt: skip
    assert test.remarks == ["N20"] and test.segment == 27
    assert (denied.status, denied.status_text, denied.paid) == ("4", "denied", D(0))
    (line,) = denied.lines
    assert (line.service_date, line.service_end, line.remarks) == (date(2026, 10, 1), date(2026, 10, 2), ["N130"])
    assert [(a.group, a.reason, a.amount) for a in line.adjustments] == [("CO", "96", D(150))]
    assert reversal.reversal and (reversal.charge, reversal.paid) == (D(-90), D(-63))
    assert [(a.group, a.reason, a.amount) for a in reversal.adjustments] == [("CO", "45", D(-27))]
    assert not corrected.reversal and corrected.payer_claim_id == "ICN0004" and corrected.paid == D(72)
    assert sum((c.paid for c in doc.claims), D(0)) == D("104.4")
    assert len(first.all_adjustments()) == 5


def test_835_provider_adjustments() -> None:
    doc = only(read_responses(remit()), Remit835)
    assert [(a.provider_id, a.fiscal_period, a.reason, a.reference, a.amount) for a in doc.provider_adjustments] == [
        (RIVERSIDE_NPI, date(2026, 12, 31), "L6", None, D("-2.5")),
        (RIVERSIDE_NPI, date(2026, 12, 31), "WO", "ICN0009", D(10)),
    ]
    assert doc.payment.signed_amount == sum((c.paid for c in doc.claims), D(0)) - D("7.5")


def test_the_stream_yields_header_claims_then_the_end() -> None:
    items = list(stream_responses(remit()))
    header, *claims, end = items
    assert isinstance(header, Remit835) and header.claims == [] and header.payee.npi == RIVERSIDE_NPI
    assert all(isinstance(c, RemitClaim) for c in claims) and len(claims) == 4
    assert isinstance(end, RemitEnd) and (end.claims, end.paid, end.findings) == (4, D("104.4"), [])
    assert len(end.provider_adjustments) == 2 and end.segment == 3 + len(REMIT_BODY) + 1


def test_999_group_sets_errors_and_context_in_plain_words() -> None:
    ack = only(read_responses(envelope("999", [ACK_BODY], sender="EXCLEAR01")), Ack999)
    assert (ack.functional_id, ack.group_control, ack.convention) == ("HC", "1001", "005010X222A1")
    assert (ack.status, ack.sets_included, ack.sets_received, ack.sets_accepted) == ("P", 2, 2, 1)
    assert ack.status_text.startswith("partially accepted")
    ok, bad = ack.transactions
    assert (ok.control_number, ok.status, ok.accepted, ok.errors) == ("0001", "A", True, [])
    assert (bad.control_number, bad.status, bad.accepted, bad.codes) == ("0002", "R", False, ["5"])
    assert bad.code_texts == ["one or more segments in error"]
    clm, ref = bad.errors
    assert (clm.segment_id, clm.position, clm.loop, clm.code) == ("CLM", 22, "2300", "8")
    assert clm.description == "segment has data element errors"
    assert [(c.name, c.reference) for c in clm.context] == [("CLM01", "RIV-1001")]
    (element,) = clm.elements
    assert (element.position, element.element_ref, element.code, element.description) == (2, "782", "1",
                                                                                         "required element missing")  # fmt: skip
    assert (ref.code, ref.description) == ("3", "required segment missing")
    (trigger,) = ref.context
    assert (trigger.name, trigger.segment_id, trigger.position, trigger.element) == ("SITUATIONAL TRIGGER", "CLM", 43,
                                                                                     "5:3")  # fmt: skip


def test_ta1_is_read_by_the_interchange_it_answers() -> None:
    text = isa(7, "EXCLEAR01") + "~" + TA1 + "~IEA*0*000000007~"
    ta1 = only(read_responses(text), InterchangeAck)
    assert (ta1.interchange, ta1.status, ta1.accepted, ta1.note) == ("000001001", "R", False, "022")
    assert ta1.note_text == "the control structure is not valid" and ta1.ack_date == date(2026, 12, 1)
    assert sniff(text.encode()).message_type == "TA1"


def test_277ca_one_document_per_claim() -> None:
    batch = read_responses(envelope("277", [CLAIM_ACK_BODY], sender="EXCLEAR01"))
    assert not batch.findings
    accepted, rejected = batch.documents
    assert isinstance(accepted, ClaimAck277) and not accepted.findings
    assert (accepted.claim_id, accepted.payer_claim_id, accepted.clearinghouse_trace) == ("RIV-1001", "ICN0001",
                                                                                          "CH000123")  # fmt: skip
    assert (accepted.billing_npi, accepted.billing_tax_id, accepted.batch_reference) == (RIVERSIDE_NPI,
                                                                                         RIVERSIDE_TAX_ID, "BATCH0001")  # fmt: skip
    assert (accepted.payer_id, accepted.charge, accepted.rejected) == ("EXPAYER1", D("160.5"), False)
    assert (accepted.service_date, accepted.service_end) == (date(2026, 10, 5), date(2026, 10, 6))
    (status,) = accepted.statuses
    assert (status.codes[0].category, status.codes[0].code, status.status_date) == ("A2", "20", date(2026, 12, 2))
    assert status.codes[0].category_text == "acknowledged: accepted into adjudication"
    (line,) = accepted.lines
    assert (line.procedure, line.charge, line.units, line.control_number) == ("99213", D(125), D(1), "RIV-1001-1")
    assert [p.codes[0].category for p in accepted.provider_statuses] == ["A1"]
    assert (rejected.claim_id, rejected.rejected, rejected.payer_claim_id) == ("RIV-2003", True, None)
    codes = rejected.statuses[0].codes
    assert [(c.category, c.code, c.entity) for c in codes] == [("A7", "164", "IL"), ("A7", "21", "IL")]
    assert codes[0].code_text == "the entity's member or contract number" and codes[0].entity_text == "subscriber"


def test_a_file_may_hold_several_interchanges_of_several_kinds() -> None:
    text = remit() + envelope("999", [ACK_BODY], control=502) + envelope("277", [CLAIM_ACK_BODY], control=503)
    batch = read_responses("\ufeff" + text.replace("~\n", "~\r\n    "))
    assert not batch.findings
    assert [d.kind for d in batch.documents] == ["835", "999", "277CA", "277CA"]
    assert [d.control.interchange for d in batch.documents] == ["000000501", "000000502", "000000503", "000000503"]
    assert not any(d.findings for d in batch.documents)
    # positions count over the whole file
    assert batch.documents[1].control.segment == len(REMIT_BODY) + 6 + 3


def test_several_835_transaction_sets_are_separate_documents() -> None:
    other = [s.replace("RIV-", "RIX-") for s in REMIT_BODY]
    batch = read_responses(envelope("835", [REMIT_BODY, other]))
    one, two = batch.documents
    assert (one.control.transaction, two.control.transaction) == ("0001", "0002")
    assert [c.claim_id for c in two.claims][:2] == ["RIX-1001", "RIX-2003"]
    assert not one.findings and not two.findings and not batch.findings


def test_component_separator_comes_from_the_isa() -> None:
    text = remit().replace(":", ">")
    doc = only(read_responses(text), Remit835)
    assert doc.claims[0].lines[1].modifiers == ["QW"] and doc.claims[0].lines[1].original_procedure == "87081"


@pytest.mark.parametrize(
    "make", [remit, lambda: envelope("999", [ACK_BODY]), lambda: envelope("277", [CLAIM_ACK_BODY])]
)
def test_every_document_survives_a_json_round_trip(make) -> None:
    batch = read_responses(make())
    assert ResponseBatch.model_validate_json(batch.model_dump_json()) == batch
    for doc in batch.documents:
        assert type(doc).model_validate_json(doc.model_dump_json()) == doc


def test_sniff_recognises_responses_and_leaves_claims_alone() -> None:
    env = sniff(remit().encode())
    assert (env.format, env.message_type, env.sender, env.control_id, env.version) == (
        FORMAT, "835", "EXPAYER1", "000000501", "005010X221A1",
    )  # fmt: skip
    assert sniff(envelope("999", [ACK_BODY]).encode()).message_type == "999"
    assert sniff(("\ufeff  " + envelope("277", [CLAIM_ACK_BODY])).encode()).message_type == "277CA"
    claim = isa(9) + "~GS*HC*A*B*20261201*0600*9*X*005010X222A1~ST*837*0001*005010X222A1~"
    assert sniff(claim.encode()) is None
    assert sniff(b"MSH|^~\\&|X") is None and sniff(b'{"resourceType": "Bundle"}') is None and sniff(b"") is None


def test_835_crossover_carrier_nm1_tt() -> None:
    """NM1*TT (the payer forwarded the claim, CLP02 19): the crossover payer's id and name."""
    body = [
        *REMIT_BODY[:10],
        "LX*1",
        "CLP*RIV-3001*19*180*100*16*MB*ICN0301*11*1",
        "NM1*QC*1*EXAMPLESON*CASEY****MI*XHP000001002",
        "NM1*TT*2*SAMPLE SUPPLEMENTAL INSURANCE*****PI*EXPAYER2",
        "SVC*HC:99214*165*100**1",
        "DTM*472*20261005",
        "CAS*CO*45*49",
        "CAS*PR*2*16",
        "SVC*HC:36415*15*0**1",
        "DTM*472*20261005",
        "CAS*CO*45*15",
    ]
    body[0] = "BPR*I*100*C*ACH*CCP*01*999999992*DA*123456789*1999999999**01*999988880*DA*98765*20261201"
    data = remit(body)
    assert_valid_x12(data.encode(), "835")
    doc = only(read_responses(data), Remit835)
    (claim,) = doc.claims
    assert (claim.status, claim.crossover_payer, claim.crossover_name) == ("19", "EXPAYER2",
                                                                          "SAMPLE SUPPLEMENTAL INSURANCE")  # fmt: skip
    plain = only(read_responses(remit()), Remit835)
    assert all(c.crossover_payer is None and c.crossover_name is None for c in plain.claims)
