"""The pure pipeline: routing, quarantine isolation, plugin failures.

Plugin tests here use the plugin test kit (gateway.testing) as a plugin author would."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

from gateway import hookimpl
from gateway.app import Gateway
from gateway.claims import MAX_LINES_PER_CLAIM, claim_id
from gateway.messages import Envelope, MemoryRecords, MessageMeta, ParseResult
from gateway.model import Finding, Severity
from gateway.testing import Deployment, assert_finding, assert_no_errors, build_encounter, run_one
from tests.conftest import FIXTURES, TODAY

INSURED = (FIXTURES / "encounters" / "riverside-insured.json").read_bytes()
SELF_PAY = (FIXTURES / "encounters" / "lakeside-selfpay.json").read_bytes()


def meta(clinic_id: str | None = None) -> MessageMeta:
    return MessageMeta(source="test", today=TODAY, clinic_id=clinic_id)


def run(gw: Gateway, raw: bytes, clinic_id: str | None = None):
    return gw.pipeline.process(raw, meta(clinic_id), MemoryRecords())


def doc(encounters: list[dict], sender: str | None = "RIVERSIDE") -> bytes:
    body: dict = {"gateway_format": "encounters/1", "encounters": encounters}
    if sender:
        body["sender"] = sender
    return json.dumps(body).encode()


def insured_encounter(**changes) -> dict:
    enc = json.loads(INSURED)["encounters"][0]
    enc.update(changes)
    return enc


def test_insured_encounter_becomes_one_claim(example_gateway: Gateway) -> None:
    result = run(example_gateway, INSURED)
    assert not result.findings and result.clinic_id == "riverside"
    (enc,) = result.encounters
    (claim,) = enc.claims
    assert claim.id == "V10001" and claim.total_charge == Decimal("160.50")
    assert claim.billing_provider.npi == "1234567893"  # from the clinic's config
    assert claim.payer.id == "EXPAYER1" and not enc.statements


def test_self_pay_encounter_becomes_a_statement(example_gateway: Gateway) -> None:
    (enc,) = run(example_gateway, SELF_PAY).encounters
    assert not enc.claims
    (st,) = enc.statements
    assert st.account_number == "ACCT-2001" and st.total_due == Decimal("222.25")
    assert (st.due_date - st.statement_date).days == 30


def test_routing_channel_beats_sender(example_gateway: Gateway) -> None:
    assert run(example_gateway, INSURED, clinic_id="lakeside").clinic_id == "lakeside"


def test_unknown_sender_with_two_clinics_is_quarantined(example_gateway: Gateway) -> None:
    result = run(example_gateway, doc([insured_encounter()], sender="NOBODY"))
    assert result.quarantined and [f.rule for f in result.findings] == ["GW-ROUTE"]
    assert "NOBODY" in result.findings[0].message


def test_unrecognised_input(example_gateway: Gateway) -> None:
    result = run(example_gateway, b"\x00\x01 nothing")
    assert result.quarantined and result.findings[0].rule == "GW-FORMAT"


def test_error_quarantines_only_that_encounter(example_gateway: Gateway) -> None:
    bad = insured_encounter(id="BAD1")
    # a local charge code no charge master knows, and no price: nothing can bill it
    bad["service_lines"][0].update(procedure_code=None, code_system=None, local_code="NO-SUCH-CODE")
    del bad["service_lines"][0]["charge"]
    result = run(example_gateway, doc([bad, insured_encounter(id="GOOD1")]))
    assert not result.quarantined
    bad_r, good_r = result.encounters
    assert bad_r.quarantined and not bad_r.claims
    assert {"GW-LINE-CODE", "GW-LINE-CHARGE"} <= {f.rule for f in bad_r.findings if f.is_error}
    assert not good_r.quarantined and [c.id for c in good_r.claims] == ["GOOD1"]


def test_invalid_json_names_the_path(example_gateway: Gateway) -> None:
    enc = insured_encounter()
    enc["service_lines"][1]["units"] = "many"
    result = run(example_gateway, doc([enc]))
    assert result.quarantined
    assert result.findings[0].location == "$.encounters[0].service_lines[1].units"


class Exploding:
    """A plugin that raises in one hook for one visit only."""

    @hookimpl
    def gateway_code_encounter(self, encounter, clinic):
        if encounter.id == "BOOM":
            raise RuntimeError("patient Alma Testperson broke me")  # text must not leak
        return None


def test_plugin_that_raises_becomes_a_finding_naming_it(gateway_deployment: Deployment) -> None:
    gw = gateway_deployment.gateway(Exploding())
    result = run_one(gw, doc([insured_encounter(id="BOOM"), insured_encounter(id="FINE")]))
    boom, fine = result.results
    f = assert_finding(boom, "GW-PLUGIN-ERROR", severity="error", plugin="exploding")
    assert [e.rule for e in boom.findings if e.is_error] == ["GW-PLUGIN-ERROR"]
    assert "gateway_code_encounter" in f.message and "RuntimeError" in f.message
    assert "Testperson" not in f.message  # exception text may carry PHI
    assert boom.quarantined and not fine.quarantined and fine.claims
    assert_no_errors(fine)


def test_other_messages_go_on_after_a_plugin_failure(example_config: Path) -> None:
    class ParseBomb:
        @hookimpl(tryfirst=True)
        def gateway_parse(self, raw, envelope, clinic, records):
            if b"BOMB" in raw:
                raise ValueError("bad")
            return None

    gw = Gateway.from_config(example_config, extra_plugins=[("parse-bomb", ParseBomb())])
    first = run(gw, doc([insured_encounter(id="BOMB")]))
    second = run(gw, doc([insured_encounter(id="OK1")]))
    assert first.quarantined and first.findings[0].plugin == "parse-bomb"
    assert not second.quarantined and second.encounters[0].claims


def test_plugin_returning_garbage_is_reported(gateway_deployment: Deployment) -> None:
    class Garbage:
        @hookimpl
        def gateway_scrub_claim(self, claim, clinic, meta):
            return ["not a finding"]

    result = run_one(gateway_deployment.gateway(Garbage()), build_encounter())
    f = assert_finding(result, "GW-PLUGIN-RESULT", severity="error", plugin="garbage")
    assert "returned str from gateway_scrub_claim" in f.message and [e.rule for e in result.errors] == [f.rule]


def test_scrub_and_payer_hooks_see_each_claim(example_config: Path) -> None:
    seen: list[tuple[str, str]] = []

    class Rules:
        @hookimpl
        def gateway_scrub_claim(self, claim, clinic, meta):
            seen.append(("scrub", claim.id))
            assert meta.today == TODAY

        @hookimpl
        def gateway_payer_rules(self, claim, clinic, meta):
            seen.append(("payer", claim.id))
            if claim.payer.id == "EXPAYER1":
                return [Finding(severity=Severity.WARNING, rule="EX-1", message="example payer edit")]
            return None

    gw = Gateway.from_config(example_config, extra_plugins=[("rules", Rules())])
    result = run_one(gw, INSURED)
    assert seen == [("scrub", "V10001"), ("payer", "V10001")]
    assert_no_errors(result)
    assert result.rules == ["EX-1"] and result.findings[0].plugin == "rules"


def test_long_encounters_split_into_claims_of_50_lines(example_gateway: Gateway) -> None:
    enc = insured_encounter(id="LONG")
    line = enc["service_lines"][0]
    enc["service_lines"] = [dict(line, charge="1.00") for _ in range(MAX_LINES_PER_CLAIM + 7)]
    (r,) = run(example_gateway, doc([enc])).encounters
    assert [len(c.service_lines) for c in r.claims] == [50, 7]
    assert [c.id for c in r.claims] == ["LONG-1", "LONG-2"]
    assert [c.total_charge for c in r.claims] == [Decimal("50.00"), Decimal("7.00")]


def test_claim_ids_are_deterministic_and_short() -> None:
    assert claim_id("c", "V1", 1, 1) == "V1"
    long_id = claim_id("c", "VISIT/with spaces and a very long number 123456789", 1, 1)
    assert len(long_id) == 20 and long_id == claim_id("c", "VISIT/with spaces and a very long number 123456789", 1, 1)
    assert claim_id("a", "X" * 30, 1, 1) != claim_id("b", "X" * 30, 1, 1)
    assert len(claim_id("c", "X" * 30, 2, 3)) == 20


def test_pipeline_reads_no_clock(example_gateway: Gateway) -> None:
    other_day = MessageMeta(source="t", today=date(2030, 1, 1))
    (enc,) = example_gateway.pipeline.process(SELF_PAY, other_day, MemoryRecords()).encounters
    assert enc.statements[0].statement_date == date(2030, 1, 1)


def test_parser_returning_wrong_type(example_config: Path) -> None:
    class Weird:
        @hookimpl(tryfirst=True)
        def gateway_sniff(self, raw, meta):
            return Envelope(format="weird") if raw.startswith(b"WEIRD") else None

        @hookimpl
        def gateway_parse(self, raw, envelope, clinic, records):
            return {"not": "a ParseResult"} if envelope.format == "weird" else None

    gw = Gateway.from_config(example_config, extra_plugins=[("weird", Weird())])
    result = run(gw, b"WEIRD", clinic_id="riverside")
    assert result.quarantined and "returned dict" in result.findings[0].message


def test_parse_updates_are_exposed(example_config: Path) -> None:
    from gateway.messages import RecordUpdate

    class Teacher:
        @hookimpl(tryfirst=True)
        def gateway_sniff(self, raw, meta):
            return Envelope(format="teach", sender="RIVERSIDE", control_id="1") if raw == b"TEACH" else None

        @hookimpl
        def gateway_parse(self, raw, envelope, clinic, records):
            if envelope.format != "teach":
                return None
            return ParseResult(updates=[RecordUpdate("patient", "MRN1", {"x": 1})], acknowledgement=b"ACK")

    gw = Gateway.from_config(example_config, extra_plugins=[("teacher", Teacher())])
    result = run(gw, b"TEACH")
    assert result.updates[0].key == "MRN1" and result.acknowledgement == b"ACK"
    assert result.envelope is not None and result.envelope.dedup_key == "RIVERSIDE|1"
    records = MemoryRecords()
    records.apply("riverside", result.updates)
    assert records.get("riverside", "patient", "MRN1") == {"x": 1}


def test_map_hook_failure_is_attributed(gateway_deployment: Deployment) -> None:
    class BadMapper:
        @hookimpl
        def gateway_map_encounter(self, encounter, clinic):
            raise KeyError("charge master row")

    result = run_one(gateway_deployment.gateway(("bad-mapper", BadMapper())), build_encounter())
    f = assert_finding(result, "GW-PLUGIN-ERROR", plugin="bad-mapper", message="gateway_map_encounter")
    assert "KeyError" in f.message and [e.rule for e in result.errors] == ["GW-PLUGIN-ERROR"]
