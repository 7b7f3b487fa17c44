"""HL7 v2 coding-system names (table 0396 and what feeds really send) and
code tables this plugin needs."""

from __future__ import annotations

import re

_CPT = {"C4", "C5", "CPT", "CPT4", "CPT-4", "CPT-5", "2.16.840.1.113883.6.12"}
_HCPCS = {"HCPCS", "HCPC", "HPC", "HC", "HCPCSII", "2.16.840.1.113883.6.285", "2.16.840.1.113883.6.14"}
_ICD10 = {"I10", "I10C", "I10CM", "ICD10", "ICD-10", "ICD10CM", "ICD-10-CM", "I10-CM", "2.16.840.1.113883.6.90"}
_ICD9 = {"I9", "I9C", "I9CM", "ICD9", "ICD-9", "ICD9CM", "ICD-9-CM", "2.16.840.1.113883.6.103"}
_ICD_PROCEDURES = {"I10P", "ICD10PCS", "ICD-10-PCS", "I9CP", "I9P", "2.16.840.1.113883.6.4", "2.16.840.1.113883.6.104"}
#: other systems a code can be sent in → the URI kept in local_system
URIS = {
    "SCT": "http://snomed.info/sct",
    "SNM": "http://snomed.info/sct",
    "SNOMED": "http://snomed.info/sct",
    "SNOMEDCT": "http://snomed.info/sct",
    "LN": "http://loinc.org",
    "LOINC": "http://loinc.org",
    "NDC": "http://hl7.org/fhir/sid/ndc",
    "CVX": "http://hl7.org/fhir/sid/cvx",
}
#: recognised standard code systems: their codes go to the code maps, never
#: to the charge master
STANDARD = frozenset(_CPT | _HCPCS | _ICD10 | _ICD9 | _ICD_PROCEDURES | set(URIS))
#: names that always mean the clinic's own charge codes (and any 99… name)
_LOCAL = {"", "L", "LOCAL", "99LOCAL", "CDM", "CHG"}
_CPT_LIKE = re.compile(r"\d{4}[0-9FTU]")
_HCPCS_LIKE = re.compile(r"[A-V]\d{4}")

#: HL7 table 0344 (patient's relationship to insured) → X12 individual relationship
TABLE_0344 = {
    "01": "18", "02": "01", "03": "19", "04": "19", "05": "19", "06": "19", "07": "G8", "08": "20",
    "09": "21", "10": "G8", "11": "39", "12": "40", "13": "G8", "14": "G8", "15": "G8", "16": "G8",
    "17": "G8", "18": "G8", "19": "G8",
}  # fmt: skip


def procedure_system(system: str, code: str, guess: bool) -> str | None:
    """ "CPT", "HCPCS" or None (not a procedure code). With ``guess``, a code
    sent without a system is classified by its shape (5 digits / 4 digits +
    F, T or U → CPT; a letter A–V + 4 digits → HCPCS)."""
    s = system.upper()
    if s in _CPT:
        return "CPT"
    if s in _HCPCS:
        return "HCPCS"
    if s == "" and guess:
        if _CPT_LIKE.fullmatch(code):
            return "CPT"
        if _HCPCS_LIKE.fullmatch(code):
            return "HCPCS"
    return None


def local_system(system: str, own: frozenset[str] | None = None) -> str | None:
    """The ``ServiceLine.local_system`` of a code that is not CPT/HCPCS:
    None for the clinic's own charge codes (looked up in the charge master),
    else the system's URI (or name, for the code maps).

    A recognised standard (:data:`STANDARD`) is never the clinic's own. Any
    other name is, unless the clinic lists its charge-master systems
    (``own``, upper case): then only those and the generic local names are.
    """
    s = system.upper()
    if "  " in s:
        s = " ".join(s.split())
    if s in _LOCAL or s.startswith("99"):
        return None
    if s in STANDARD:
        return URIS.get(s, system)
    if own is None or s in own:
        return None
    return system


def diagnosis_system(system: str) -> str:
    """Diagnosis.system for a DG1-3 / FT1-19 coding system (empty → ICD-10-CM)."""
    s = system.upper()
    if s in _ICD10 or s == "":
        return "ICD-10-CM"
    if s in _ICD9:
        return "ICD-9-CM"
    return URIS.get(s, system)


def normal_code(code: str) -> str:
    """A code for matching (FT1-19 against DG1-3): no dots or blanks, upper case."""
    return code.replace(".", "").replace(" ", "").upper()
