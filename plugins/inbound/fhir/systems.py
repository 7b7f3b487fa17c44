"""Code systems and identifier systems the FHIR reader understands.

System URIs are compared after :func:`norm`, so ``https://`` and a trailing
slash do not matter (senders write the CMS and AMA URIs both ways).
"""

from __future__ import annotations

from functools import lru_cache


def norm(system: object) -> str:
    """A system URI in comparable form: ``http`` scheme, no trailing slash
    (anything but a string, as a hostile input may send, is no system)."""
    return _norm(system) if isinstance(system, str) and system else ""


@lru_cache(maxsize=4096)
def _norm(system: str) -> str:
    s = system.strip().rstrip("/")
    return "http://" + s[8:] if s.startswith("https://") else s


def _set(*uris: str) -> frozenset[str]:
    return frozenset(norm(u) for u in uris)


ICD10CM = _set("http://hl7.org/fhir/sid/icd-10-cm", "urn:oid:2.16.840.1.113883.6.90")
#: WHO ICD-10: accepted as ICD-10-CM with a warning (the ICD-10-CM check decides)
ICD10_WHO = _set("http://hl7.org/fhir/sid/icd-10", "urn:oid:2.16.840.1.113883.6.3")
ICD10_WHO_URI = "http://hl7.org/fhir/sid/icd-10"
CPT = _set("http://www.ama-assn.org/go/cpt", "urn:oid:2.16.840.1.113883.6.12")
HCPCS = _set("http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets", "urn:oid:2.16.840.1.113883.6.285")
NPI = _set("http://hl7.org/fhir/sid/us-npi", "urn:oid:2.16.840.1.113883.4.6")
#: employer identification number (federal tax id of an organisation)
EIN = _set("urn:oid:2.16.840.1.113883.4.4", "http://hl7.org/fhir/sid/us-ein")
SSN = _set("http://hl7.org/fhir/sid/us-ssn", "urn:oid:2.16.840.1.113883.4.1")
NDC = _set("http://hl7.org/fhir/sid/ndc", "urn:oid:2.16.840.1.113883.6.69")
#: CMS place-of-service codes (ex-serviceplace uses the same codes), compared
#: with :func:`pos_key` (case, ``https``, a trailing ``.html`` or ``/`` ignored)
POS = frozenset(
    {
        "http://www.cms.gov/medicare/coding/place-of-service-codes/place_of_service_code_set",
        "http://terminology.hl7.org/codesystem/ex-serviceplace",
        "urn:oid:2.16.840.1.113883.6.50",
    }
)


def pos_key(system: str | None) -> str:
    """A system URI as compared with :data:`POS`: the R4 specification's own
    Claim examples write the CMS URL with ``.html`` and in other cases."""
    return norm(system).lower().removesuffix(".html")


TAXONOMY = _set("http://nucc.org/provider-taxonomy", "urn:oid:2.16.840.1.113883.6.101")
#: Source of Payment Typology (Coverage.type)
SOPT = _set("https://nahdo.org/sopt", "urn:oid:2.16.840.1.113883.3.221.5")
V2_0203 = _set("http://terminology.hl7.org/CodeSystem/v2-0203")

#: Encounter.class (v3 ActCode) → CMS place of service, where unambiguous.
CLASS_POS = {"VR": "02", "HH": "12", "EMER": "23", "IMP": "21", "ACUTE": "21", "OBSENC": "22"}

#: Source of Payment Typology prefix → X12 claim filing indicator (SBR09),
#: longest prefix first.
SOPT_FILING = (
    ("311", "CH"),  # TRICARE
    ("32", "VA"),
    ("111", "16"),  # Medicare HMO
    ("1", "MB"),
    ("2", "MC"),
    ("6", "BL"),
    ("5", "CI"),
)
#: X12 SBR09 codes accepted as sent.
X12_FILING = frozenset("11 12 13 14 15 16 17 AM BL CH CI DS FI HM LM MA MB MC OF TV VA WC ZZ".split())
#: Coverage.type codes meaning the patient pays (no claim).
SELF_PAY_TYPES = frozenset({"pay", "81", "8", "SELFPAY"})
