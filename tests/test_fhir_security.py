"""Hostile input: XXE, entity expansion (billion laughs), external DTDs over
the network, oversized and deeply nested documents. Each is refused with a
finding, quickly, and nothing it points at is read."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import pytest
import yaml
from gateway_plugins.inbound.fhir import FhirSettings, parse
from gateway_plugins.inbound.fhir.xml import XmlProblem, hardened_parser, parse_xml
from lxml import etree

from gateway.app import Gateway
from gateway.messages import MemoryRecords
from tests.test_fhir_fixtures import FHIR, run

PATIENT = b'<Patient xmlns="http://hl7.org/fhir"><id value="p1"/><name><family value="&xxe;"/></name></Patient>'
#: the entity in element text (the narrative), where a parser would expand it
PATIENT_TEXT = (
    b'<Patient xmlns="http://hl7.org/fhir"><text><status value="generated"/>'
    b'<div xmlns="http://www.w3.org/1999/xhtml">&xxe;</div></text></Patient>'
)
BILLION_LAUGHS = (
    b"""<?xml version="1.0"?>
<!DOCTYPE Patient [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY xxe "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
"""
    + PATIENT
)


def xxe_payload(secret: Path, body: bytes = PATIENT) -> bytes:
    return (
        b'<?xml version="1.0"?>\n<!DOCTYPE Patient [<!ENTITY xxe SYSTEM "' + secret.as_uri().encode() + b'">]>\n' + body
    )


def hardened(payload: bytes) -> bytes:
    """What the hardened parser makes of ``payload`` (b"" when it refuses)."""
    try:
        return etree.tostring(etree.fromstring(payload, parser=hardened_parser()))
    except etree.XMLSyntaxError:
        return b""


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text("TOP-SECRET-XXE-MARKER")
    return path


def dump(result: object) -> str:
    return json.dumps([f.model_dump(mode="json") for f in result.all_findings()]) + repr(result.encounters)  # type: ignore[attr-defined]


def test_xxe_is_refused_and_the_file_is_never_read(example_gateway: Gateway, secret: Path, tmp_path: Path) -> None:
    path = tmp_path / "xxe.xml"
    path.write_bytes(xxe_payload(secret))
    result = run(example_gateway, path, clinic_id="riverside")
    assert result.envelope.format == "fhir-xml"
    assert result.quarantined
    assert [f.rule for f in result.findings] == ["FHIR-XML-DTD"]
    assert "TOP-SECRET" not in dump(result)


def test_the_hardened_parser_itself_does_not_resolve_external_entities(secret: Path) -> None:
    # defence in depth: even without the DOCTYPE check the parser leaves entities alone
    for body in (PATIENT, PATIENT_TEXT):
        assert b"TOP-SECRET" not in hardened(xxe_payload(secret, body))
    # while a parser that resolves entities reads the file: the payload is a real XXE
    naive = etree.XMLParser(resolve_entities=True, load_dtd=True)
    assert b"TOP-SECRET" in etree.tostring(etree.fromstring(xxe_payload(secret, PATIENT_TEXT), parser=naive))


def test_billion_laughs_is_refused_quickly(example_gateway: Gateway, tmp_path: Path) -> None:
    path = tmp_path / "laughs.xml"
    path.write_bytes(BILLION_LAUGHS)
    started = time.perf_counter()
    result = run(example_gateway, path, clinic_id="riverside")
    assert time.perf_counter() - started < 2
    assert [f.rule for f in result.findings] == ["FHIR-XML-DTD"]


def test_the_hardened_parser_does_not_expand_entities() -> None:
    for payload in (BILLION_LAUGHS, BILLION_LAUGHS.replace(PATIENT, PATIENT_TEXT)):
        assert len(hardened(payload)) < 10_000


def test_an_external_dtd_is_never_fetched() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.5)
    port = server.getsockname()[1]
    hits: list[bool] = []

    def accept() -> None:
        try:
            server.accept()
            hits.append(True)
        except OSError:
            pass

    listener = threading.Thread(target=accept)
    listener.start()
    payload = f'<!DOCTYPE Patient SYSTEM "http://127.0.0.1:{port}/evil.dtd">'.encode() + PATIENT.replace(b"&xxe;", b"x")
    with pytest.raises(XmlProblem) as refused:
        parse_xml(payload)
    assert refused.value.rule == "FHIR-XML-DTD"
    hardened(payload)  # the parser alone: no network either
    listener.join()
    server.close()
    assert hits == []


def test_oversized_input_is_refused_before_parsing() -> None:
    raw = (FHIR / "riverside-transaction-urn-uuid.json").read_bytes()
    result = parse(raw, "fhir-json", "riverside", MemoryRecords(), FhirSettings(max_bytes=1000))
    (finding,) = result.findings
    assert finding.rule == "FHIR-TOO-LARGE" and finding.is_error
    assert str(len(raw)) in finding.message and result.encounters == []
    xml = (FHIR / "lakeside-searchset.xml").read_bytes()
    result = parse(xml, "fhir-xml", "lakeside", MemoryRecords(), FhirSettings(max_bytes=len(xml) - 1))
    assert [f.rule for f in result.findings] == ["FHIR-TOO-LARGE"]


def test_the_size_cap_comes_from_the_clinic_settings(example_config: Path) -> None:
    data = yaml.safe_load(example_config.read_text())
    data["clinics"][0].setdefault("settings", {})["fhir"] = {"max_bytes": 2000}
    example_config.write_text(yaml.safe_dump(data))
    gw = Gateway.from_config(example_config)
    result = run(gw, "riverside-transaction-urn-uuid.json")
    assert result.clinic_id == "riverside" and result.quarantined
    assert [f.rule for f in result.findings] == ["FHIR-TOO-LARGE"]
    assert not run(gw, "lakeside-searchset.xml").quarantined  # the other clinic keeps the default


def test_deep_nesting_is_a_finding_not_a_crash() -> None:
    deep_json = b'{"resourceType": "Patient", "extension": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    result = parse(deep_json, "fhir-json", "c", None, FhirSettings())
    assert [f.rule for f in result.findings] == ["FHIR-DEPTH"]
    deep_xml = b'<Patient xmlns="http://hl7.org/fhir">' + b"<extension>" * 5000 + b"</extension>" * 5000 + b"</Patient>"
    result = parse(deep_xml, "fhir-xml", "c", None, FhirSettings())
    assert [f.rule for f in result.findings] == ["FHIR-XML"]


def test_malformed_xml_and_foreign_namespaces() -> None:
    result = parse(b'<Patient xmlns="http://hl7.org/fhir"><id value="1"/>', "fhir-xml", "c", None, FhirSettings())
    assert [f.rule for f in result.findings] == ["FHIR-XML"]
    foreign = b'<Patient xmlns="http://hl7.org/fhir"><x:id xmlns:x="urn:other" value="1"/></Patient>'
    result = parse(foreign, "fhir-xml", "c", None, FhirSettings())
    assert [(f.rule, f.location) for f in result.findings] == [("FHIR-XML-ELEMENT", "Patient.id")]
