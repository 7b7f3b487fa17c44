"""Response files through the pure pipeline: the gateway_read_responses
hook, routing each document to a clinic by provider ids (never by sender),
unmatched documents kept, and `gateway inspect` on a response file."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from gateway import hookimpl
from gateway.app import Gateway
from gateway.messages import MemoryRecords, MessageMeta
from gateway.model import ResponseBatch, Severity
from gateway.pipeline import MessageResult
from tests.conftest import FIXTURES, TODAY
from tests.responses_helpers import (
    ACK_BODY,
    CLAIM_ACK_BODY,
    LAKESIDE_NPI,
    REMIT_BODY,
    RIVERSIDE_NPI,
    envelope,
    remit,
    replace,
)


def run(gw: Gateway, raw: str | bytes, clinic_id: str | None = None) -> MessageResult:
    data = raw.encode() if isinstance(raw, str) else raw
    return gw.pipeline.process(data, MessageMeta(source="test", today=TODAY, clinic_id=clinic_id), MemoryRecords())


def test_an_835_goes_to_the_clinic_of_its_payee_npi(example_gateway: Gateway) -> None:
    result = run(example_gateway, remit(sender="SOMEONE-ELSE"))
    assert result.envelope.format == "x12-response" and result.envelope.message_type == "835"
    assert not result.quarantined and result.encounters == []
    (r,) = result.responses
    assert (r.clinic_id, r.matched_by, r.findings, r.quarantined) == ("riverside", "payee npi", [], False)
    assert r.document.kind == "835" and len(r.document.claims) == 4
    assert result.clinic_id == "riverside"


def test_the_payee_tax_id_routes_when_there_is_no_npi(example_gateway: Gateway) -> None:
    body = replace(REMIT_BODY, "N1*PE", "N1*PE*LAKESIDE PEDIATRICS PC*FI*987654321")
    body = [s for s in body if not s.startswith("REF*TJ")]
    (r,) = run(example_gateway, remit(body)).responses
    assert (r.clinic_id, r.matched_by) == ("lakeside", "payee tax id")


def test_an_835_for_an_unknown_payee_is_kept_as_unmatched(example_gateway: Gateway) -> None:
    body = replace(REMIT_BODY, "N1*PE", "N1*PE*SOMEBODY*XX*1003000126")
    body = replace(body, "REF*TJ", "REF*TJ*555443333")
    result = run(example_gateway, remit(body))
    assert not result.quarantined
    (r,) = result.responses
    assert r.clinic_id is None and not r.quarantined and result.clinic_id is None
    (f,) = r.findings
    assert (f.rule, f.severity) == ("GW-RESPONSE-UNMATCHED", Severity.WARNING)
    assert "NPI 1003000126" in f.message and "tax id ending 3333" in f.message and "555443333" not in f.message


def test_a_remit_that_does_not_balance_is_quarantined_on_its_own(example_gateway: Gateway) -> None:
    bad = [s.replace("RIV-", "RIX-") for s in replace(REMIT_BODY, "CAS*CO*45*18", "CAS*CO*45*17")]
    result = run(example_gateway, envelope("835", [REMIT_BODY, bad]))
    good, wrong = result.responses
    assert not good.quarantined and wrong.quarantined and not result.quarantined
    assert [f.rule for f in wrong.findings if f.is_error] == ["X12-835-BALANCE-CLAIM"]
    assert {f.rule for f in result.all_findings()} == {"X12-835-BALANCE-CLAIM"}


def test_a_277ca_routes_each_claim_by_its_billing_provider(example_gateway: Gateway) -> None:
    lakeside = [
        "HL*6*2*19*1",
        f"NM1*85*2*LAKESIDE PEDIATRICS PC*****XX*{LAKESIDE_NPI}",
        "TRN*1*PROV0002",
        "STC*A1:19:PR**WQ*90",
        "HL*7*6*PT",
        "NM1*QC*1*SAMPLE*CASEY****MI*XHP000007001",
        "TRN*2*LAK-7001",
        "STC*A2:20*20261202*WQ*90",
        "DTP*472*D8*20261005",
    ]
    result = run(example_gateway, envelope("277", [CLAIM_ACK_BODY + lakeside], sender="EXCLEAR01"))
    assert [(r.document.claim_id, r.clinic_id, r.matched_by) for r in result.responses] == [
        ("RIV-1001", "riverside", "billing provider npi"),
        ("RIV-2003", "riverside", "billing provider npi"),
        ("LAK-7001", "lakeside", "billing provider npi"),
    ]
    assert result.clinic_id is None  # several clinics in one file
    assert result.responses[1].document.rejected


def test_a_999_is_not_routed_by_clinic(example_gateway: Gateway) -> None:
    result = run(example_gateway, envelope("999", [ACK_BODY], sender="EXCLEAR01"))
    (r,) = result.responses
    assert r.clinic_id is None and not r.quarantined and not result.quarantined
    (f,) = r.findings
    assert f.rule == "GW-RESPONSE-CONTROL" and f.severity is Severity.INFO and "group 1001" in f.message


def test_a_clinic_channel_never_receives_another_clinics_remit(example_gateway: Gateway) -> None:
    (r,) = run(example_gateway, remit(), clinic_id="lakeside").responses
    assert r.clinic_id is None and r.quarantined
    assert [f.rule for f in r.findings] == ["GW-RESPONSE-CHANNEL"]
    (same,) = run(example_gateway, remit(), clinic_id="riverside").responses
    assert same.clinic_id == "riverside" and not same.quarantined


def test_envelope_errors_quarantine_the_message(example_gateway: Gateway) -> None:
    result = run(example_gateway, remit().replace("IEA*1*000000501", "IEA*1*000000999"))
    assert result.quarantined and [f.rule for f in result.findings] == ["X12-IEA-CONTROL"]
    assert result.responses[0].clinic_id == "riverside"  # the documents are still there, for the report


def test_other_formats_still_parse_and_claims_are_not_responses(example_gateway: Gateway) -> None:
    hl7 = run(example_gateway, (FIXTURES / "hl7v2" / "dft_p03_v25_cpt_modifiers.hl7").read_bytes())
    assert hl7.envelope.format == "hl7v2" and hl7.encounters and hl7.responses == []
    fhir = next((FIXTURES / "fhir").glob("*.json"))
    assert run(example_gateway, fhir.read_bytes()).envelope.format == "fhir-json"
    claim = remit().replace("GS*HP", "GS*HC").replace("ST*835*0001", "ST*837*0001*005010X222A1")
    result = run(example_gateway, claim)
    assert result.envelope is None and [f.rule for f in result.findings] == ["GW-FORMAT"]


class Raises:
    @hookimpl(tryfirst=True)
    def gateway_read_responses(self, raw, envelope):
        raise RuntimeError("boom with TESTPERSON in it")


class WrongType:
    @hookimpl(tryfirst=True)
    def gateway_read_responses(self, raw, envelope):
        return {"documents": []} if envelope.format == "x12-response" else None


def test_a_failing_reader_is_a_finding_naming_the_plugin(example_config: Path) -> None:
    gw = Gateway.from_config(example_config, extra_plugins=[("broken_reader", Raises())])
    result = run(gw, remit())
    (f,) = [f for f in result.findings if f.rule == "GW-PLUGIN-ERROR"]
    assert "broken_reader" in f.message and "gateway_read_responses" in f.message and "TESTPERSON" not in f.message
    assert result.quarantined and len(result.responses) == 1  # the built-in reader still read it
    hl7 = run(gw, (FIXTURES / "hl7v2" / "dft_p03_v25_cpt_modifiers.hl7").read_bytes())
    assert hl7.quarantined and hl7.encounters == []  # a broken per-message hook quarantines every message


def test_a_reader_returning_the_wrong_type_is_a_finding(example_config: Path) -> None:
    gw = Gateway.from_config(example_config, extra_plugins=[("odd_reader", WrongType())])
    result = run(gw, remit())
    assert [f.rule for f in result.findings] == ["GW-READ"] and result.responses == []
    assert isinstance(ResponseBatch(), ResponseBatch)


def test_inspect_prints_the_typed_documents(example_config: Path, tmp_path: Path) -> None:
    from gateway.cli import cli

    path = tmp_path / "remit.835"
    path.write_text(remit())
    out = CliRunner().invoke(cli, ["inspect", "--config", str(example_config), str(path)])
    assert out.exit_code == 0, out.output
    (item,) = json.loads(out.output)
    assert item["format"] == "x12-response" and item["encounters"] == []
    (doc,) = item["responses"]
    assert (doc["kind"], doc["clinic"], doc["matched_by"], doc["quarantined"]) == ("835", "riverside", "payee npi",
                                                                                   False)  # fmt: skip
    assert doc["document"]["payment"]["amount"] == "96.9"
    assert doc["document"]["claims"][0]["lines"][0]["adjustments"][0] == {"group": "CO", "reason": "45",
                                                                          "amount": "35.75", "segment": 23}  # fmt: skip
    assert f"{RIVERSIDE_NPI}" == doc["document"]["payee"]["npi"]
