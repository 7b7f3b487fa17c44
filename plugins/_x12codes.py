"""X12 837P code lists used by the payer directory and the scrubber."""

from __future__ import annotations

from gateway.codes import X12_RELATIONSHIPS

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

#: CLM05-3 claim frequency codes for professional claims.
FREQUENCY_CODES: dict[str, str] = {"1": "original", "7": "replacement", "8": "void"}
