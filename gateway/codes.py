"""X12 837P and HL7 code tables shared by plugins (so no plugin copies another's)."""

from __future__ import annotations

#: X12 individual relationship codes (SBR02 / PAT01): patient to subscriber.
X12_RELATIONSHIPS: dict[str, str] = {
    "18": "self",
    "01": "spouse",
    "19": "child",
    "20": "employee",
    "21": "unknown",
    "39": "organ donor",
    "40": "cadaver donor",
    "53": "life partner",
    "G8": "other relationship",
}

# HL7 v2 table 0063 / 0344 codes and FHIR subscriber-relationship codes,
# upper-cased, to X12 relationship codes.
_TO_X12: dict[str, str] = {
    # self
    "SEL": "18", "SELF": "18", "01": "18", "18": "18", "S": "18",
    # spouse / partner
    "SPO": "01", "SPOUSE": "01", "02": "01", "DOM": "53", "PAR": "53", "LIFE PARTNER": "53",
    "COMMON": "01",
    # child
    "CHD": "19", "CHILD": "19", "03": "19", "DEP": "19", "FCH": "19", "SCH": "19", "ADOPTED": "19",
    # employee
    "EME": "20", "EMPLOYEE": "20", "04": "20",
    # other
    "OTH": "G8", "OTHER": "G8", "PARENT": "G8", "GRD": "G8", "MTH": "G8", "FTH": "G8",
    "INJURED": "G8", "UNK": "21", "UNKNOWN": "21",
}  # fmt: skip


def x12_relationship(code: str | None, default: str = "18") -> str:
    """Map an HL7 v2 (IN1-17, tables 0063/0344) or FHIR
    (Coverage.relationship) relationship code to the X12 code; X12 codes
    pass through; empty → ``default`` (self)."""
    if not code:
        return default
    c = code.strip().upper()
    if c in X12_RELATIONSHIPS or code.strip() in X12_RELATIONSHIPS:
        return code.strip().upper()
    return _TO_X12.get(c, "G8")


#: SBR09 claim filing indicator codes (005010X222A1).
FILING_INDICATORS: dict[str, str] = {
    "11": "other non-federal programs", "12": "PPO", "13": "POS", "14": "EPO", "15": "indemnity",
    "16": "HMO Medicare risk", "17": "dental maintenance organisation", "AM": "automobile medical",
    "BL": "Blue Cross/Blue Shield", "CH": "CHAMPUS/TRICARE", "CI": "commercial insurance", "DS": "disability",
    "FI": "federal employees program", "HM": "HMO", "LM": "liability medical", "MA": "Medicare Part A",
    "MB": "Medicare Part B", "MC": "Medicaid", "OF": "other federal program", "TV": "Title V",
    "VA": "Veterans Affairs plan", "WC": "workers' compensation", "ZZ": "mutually defined",
}  # fmt: skip

#: Patient-to-subscriber relationship codes an 837P accepts: SBR02 "18"
#: (self) or PAT01 for a dependent patient.
CLAIM_RELATIONSHIPS = frozenset(X12_RELATIONSHIPS)

# -- what one 837P claim carries (005010X222A1); inbound plugins trim to these,
# the scrubber and the renderer check them: defined here once.
#: procedure modifiers on a service line (SV101-3..6)
MAX_MODIFIERS = 4
#: diagnosis pointers on a service line (SV107-1..4)
MAX_POINTERS = 4
#: diagnoses on a claim (HI, loop 2300)
MAX_DIAGNOSES = 12
#: payers of a claim: primary, secondary, tertiary (SBR01 P/S/T)
MAX_COVERAGES = 3

#: CLM05-3 claim frequency codes for professional claims.
FREQUENCY_CODES: dict[str, str] = {"1": "original", "7": "replacement", "8": "void"}


#: CAS01 claim adjustment groups of 5010 (CR belonged to 4010), in plain words
ADJUSTMENT_GROUPS: dict[str, str] = {
    "CO": "contractual obligation",
    "OA": "other adjustment",
    "PI": "payer-initiated reduction",
    "PR": "patient responsibility",
}
