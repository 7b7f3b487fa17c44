"""Every third-party 999, 277CA and 835 in the corpus read into the typed
models; the malformed 277CA quarantined with a reason and a position; our
835 reader against edi-835-parser on every corpus 835 it can read."""

from __future__ import annotations

import warnings
from decimal import Decimal
from pathlib import Path

import pytest
from gateway_plugins.inbound.x12_responses import read_responses
from gateway_plugins.inbound.x12_responses.sniff import sniff

from gateway.app import Gateway
from gateway.messages import MemoryRecords, MessageMeta
from gateway.model import Ack999, ClaimAck277, Remit835, ResponseBatch
from tests.conftest import TODAY
from tests.edi835 import edi_view, our_view

MALFORMED = "oopfactory_277CA_X214_MALFORMED_garbled_values.x12"
MASKED = "oopfactory_835_X221A1_deidentified_medicaid_56_claims.x12"
#: documents per file, and the error rules each file is expected to carry
EXPECTED: dict[str, tuple[list[str], set[str]]] = {
    "ims_277CA_X214_accepted.x12": (["277CA"], set()),
    "ims_277CA_X214_rejected_single_line_pipe_component.x12": (["277CA"], set()),
    MALFORMED: (["277CA"], {"X12-IEA-CONTROL", "X12-DATE"}),
    "ims_999_X231A1_accepted.x12": (["999"], {"X12-IEA-CONTROL"}),  # IEA02 000000001, ISA13 000000286
    "ims_999_X231A1_rejected.x12": (["999"], set()),
    "oopfactory_999_X231_partial_accept_IK3_IK4_CTX.x12": (["999"], set()),
    "lfh_835_X221A1_managed_care.x12": (["835"], {"X12-DATE"}),  # BPR16 20002316 is not a date
    "lfh_835_X221A1_medicare_part_a_PLB_MIA_MOA.x12": (["835"], set()),
    "pyx12_835_X221A1_multiple_service_lines.x12": (["835"], set()),
    # values masked to 9s and Xs: the amounts cannot balance, SVC01-1 reads "XX"
    MASKED: (
        ["835", "835", "835"],
        {"X12-835-BALANCE-CLAIM", "X12-835-BALANCE-LINE", "X12-835-BALANCE-PAYMENT", "X12-835-QUALIFIER"},
    ),
}
#: corpus 835s edi-835-parser cannot read, and why (reported, never silently skipped)
EDI_CANNOT_READ = {"lfh_835_X221A1_managed_care.x12": "ValueError: month must be in 1..12"}


def responses(corpus: Path) -> list[Path]:
    return sorted(p for p in (corpus / "x12").iterdir() if any(k in p.name for k in ("_999_", "_277CA_", "_835_")))


def errors(batch: ResponseBatch) -> set[str]:
    return {f.rule for f in batch.findings + [f for d in batch.documents for f in d.findings] if f.is_error}


def test_every_response_in_the_corpus_is_recognised_and_read(corpus: Path) -> None:
    files = responses(corpus)
    assert {p.name for p in files} == set(EXPECTED)
    for path in files:
        raw = path.read_bytes()
        assert sniff(raw) is not None, path.name
        batch = read_responses(raw)
        kinds, rules = EXPECTED[path.name]
        assert [d.kind for d in batch.documents] == kinds, path.name
        assert errors(batch) == rules, (path.name, [f"{f.rule} {f.location}" for f in batch.findings])
        assert ResponseBatch.model_validate_json(batch.model_dump_json()) == batch


def test_the_well_formed_ones_give_their_content(corpus: Path) -> None:
    x12 = corpus / "x12"
    (accepted,) = read_responses((x12 / "ims_277CA_X214_accepted.x12").read_bytes()).documents
    assert isinstance(accepted, ClaimAck277)
    assert (accepted.claim_id, accepted.payer_claim_id, accepted.billing_npi) == ("5781", "1107000000014420",
                                                                                  "1234567890")  # fmt: skip
    assert accepted.statuses[0].codes[0].category == "A2" and not accepted.rejected
    (rejected,) = read_responses(
        (x12 / "ims_277CA_X214_rejected_single_line_pipe_component.x12").read_bytes()
    ).documents
    assert rejected.rejected and [(c.category, c.code, c.entity) for c in rejected.statuses[0].codes] == [
        ("A7", "562", "85")
    ]
    assert rejected.statuses[0].codes[0].code_text == "the entity's NPI"
    (partial,) = read_responses((x12 / "oopfactory_999_X231_partial_accept_IK3_IK4_CTX.x12").read_bytes()).documents
    assert isinstance(partial, Ack999) and partial.status == "P" and partial.group_control == "17456"
    assert [(t.control_number, t.status) for t in partial.transactions] == [("0001", "A"), ("002", "R"), ("0003", "R")]
    clm = partial.transactions[1].errors[0]
    assert (clm.segment_id, clm.position, clm.elements[0].code) == ("CLM", 22, "1")
    assert [(c.name, c.reference) for c in clm.context] == [("CLM01", "123456789")]
    (medicare,) = read_responses((x12 / "lfh_835_X221A1_medicare_part_a_PLB_MIA_MOA.x12").read_bytes()).documents
    assert isinstance(medicare, Remit835) and medicare.payment.amount == Decimal("150000.00")
    assert [(a.reason, a.reference, a.amount) for a in medicare.provider_adjustments] == [
        ("CV", "CP", Decimal("-1.27"))
    ]
    assert medicare.claims[1].remarks == ["MA02"] and medicare.payee.npi == "6543210903"
    (denied,) = read_responses((x12 / "pyx12_835_X221A1_multiple_service_lines.x12").read_bytes()).documents
    assert denied.claims[0].status == "4" and [ln.remarks for ln in denied.claims[0].lines] == [["N14"]] * 3
    assert denied.payee.tax_id == "444313000" and denied.payment.method == "NON"
    masked = read_responses((x12 / MASKED).read_bytes())
    assert sum(len(d.claims) for d in masked.documents) == 56
    cas = {a.segment for d in masked.documents for c in d.claims for a in c.all_adjustments()}
    assert len(cas) == 91 and sum(len(c.lines) for d in masked.documents for c in d.claims) == 91
    assert len({d.control.interchange for d in masked.documents}) == 3


def test_the_malformed_277ca_is_quarantined_with_reasons_and_positions(corpus: Path, example_config: Path) -> None:
    raw = (corpus / "x12" / MALFORMED).read_bytes()
    gw = Gateway.from_config(example_config)
    result = gw.pipeline.process(raw, MessageMeta(source="corpus", today=TODAY), MemoryRecords())
    assert result.quarantined
    (iea,) = [f for f in result.findings if f.is_error]
    assert iea.rule == "X12-IEA-CONTROL" and iea.location == "segment 31 (IEA02)" and "ISA13" in iea.message
    (claim,) = result.responses
    assert claim.quarantined and claim.clinic_id is None
    dates = {f.location for f in claim.findings if f.rule == "X12-DATE"}
    assert dates == {"segment 13 (STC02)", "segment 26 (STC02)", "segment 28 (DTP03)"}


def test_corpus_files_go_through_the_pipeline_without_a_traceback(corpus: Path, example_config: Path) -> None:
    gw = Gateway.from_config(example_config)
    for path in responses(corpus):
        result = gw.pipeline.process(path.read_bytes(), MessageMeta(source="corpus", today=TODAY), MemoryRecords())
        assert result.envelope.format == "x12-response" and result.responses, path.name
        # none of these fictitious providers is a clinic of the example deployment
        assert all(r.clinic_id is None for r in result.responses), path.name


@pytest.mark.parametrize("name", sorted(n for n in EXPECTED if "_835_" in n))
def test_differential_against_edi_835_parser(corpus: Path, name: str) -> None:
    path = corpus / "x12" / name
    try:
        theirs = edi_view(path)
    except Exception as exc:  # report, never skip silently: the list below must be exactly this
        reason = f"{type(exc).__name__}: {exc}"
        warnings.warn(f"edi-835-parser cannot read {name}: {reason}", stacklevel=1)
        assert EDI_CANNOT_READ.get(name) == reason
        return
    assert name not in EDI_CANNOT_READ, "edi-835-parser reads it now: compare it and update docs/remittance.md"
    ours = our_view(read_responses(path.read_bytes()))
    assert len(ours) == len(theirs) > 0
    assert theirs == ours
