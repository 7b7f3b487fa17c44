"""The 837P plugin's rule catalogue: the problems its tolerant 837P reader and
``gateway validate`` report (pyx12's own findings and the scrubber's rules are
listed elsewhere).

The X12 syntax checks the 837P reader shares with the response reader
(``x12_responses``: SE counts, amounts, unreadable envelopes) are declared here
once; a rule id is declared by one plugin only.
"""

from __future__ import annotations

from gateway.model import Severity
from gateway.rules import Catalogue

E = Severity.ERROR

RULES = Catalogue("x12", prefix="X12")

# shared with the response reader (x12_responses)
RULES.add("X12-SYNTAX", E, "The file cannot be split into segments (no ISA, or its separators are unusable).")
RULES.add("X12-SE-COUNT", E, "SE01 does not match the number of segments in the transaction set.")
RULES.add("X12-SE-CONTROL", E, "SE02 does not match ST02.")
RULES.add("X12-AMOUNT", E, "An amount element (CLM02, SV102, AMT02; in a response, any amount) is not an amount.")
# the 837P reader
RULES.add("X12-NOT-837P", E, "The file is an X12 claim file, but not a 5010 837P (an 837I, 837D or another version).")
RULES.add("X12-NO-ISA", E, "No interchange (ISA) found.")
RULES.add("X12-HL-NUMBER", E, "HL01 does not count up by one.")
RULES.add("X12-HL-PARENT", E, "A subscriber or patient HL without the parent level it needs (HL02).")
RULES.add("X12-HL-LEVEL", E, "HL03 is a level code an 837P does not use.")
RULES.add("X12-NPI", E, "An NM109 NPI of a provider fails the NPI check digit.")
RULES.add("X12-CLM-PLACE", E, "A CLM outside a subscriber or patient HL.")
RULES.add("X12-CLM01", E, "CLM01 (patient control number) is empty or longer than 20 characters.")
RULES.add("X12-HI-FORMAT", E, "An HI element has a qualifier but no diagnosis code.")
RULES.add("X12-HI-MISSING", E, "A claim without an HI (diagnosis) segment.")
RULES.add("X12-LX-NUMBER", E, "LX01 does not count up by one within the claim.")
RULES.add("X12-POINTER", E, "SV107 holds a diagnosis pointer that is not a number.")
RULES.add("X12-NO-LINES", E, "A claim without a service line.")
RULES.add("X12-UNREADABLE", E, "`gateway validate`: a claim's values cannot be read to run the clean-claim checks.")
RULES.add(
    "X12-COB-BALANCE",
    E,
    "`gateway validate`: an earlier payer's answer on a secondary or tertiary claim does not balance (5010: "
    "CLM02 = 2320 AMT*D + Σ 2320 and 2430 CAS; each SV102 = Σ its 2430 SVD02 + CAS).",
)
