"""The response reader's rule catalogue: every problem it reports about a TA1,
999, 277CA or 835 file is declared here once.

The X12 syntax checks it shares with the 837P reader (``X12-SYNTAX``,
``X12-SE-COUNT``, ``X12-SE-CONTROL``, ``X12-AMOUNT``) are declared by the
``x12`` plugin (:mod:`gateway_plugins.renderers.x12.rules`), a rule id being
declared by one plugin only. Severities are the defaults; the description says
where a rule is reported as a warning instead.
"""

from __future__ import annotations

from gateway.model import Severity
from gateway.rules import Catalogue

E, W = Severity.ERROR, Severity.WARNING

RULES = Catalogue("x12_responses", prefix="X12")

# envelopes and values, any response
RULES.add("X12-ISA", E, "An ISA without 16 elements (warning: not version 00501, a bad ISA13, ISA15 not P or T).")
RULES.add("X12-GS", E, "GS06 (group control number) is empty (warning: a set in a group of the wrong GS01).")
RULES.add("X12-ST", E, "ST02 (transaction set control number) is empty.")
RULES.add("X12-KIND", W, "A transaction set that is not a response (TA1, 999, 277CA, 835); skipped.")
RULES.add("X12-STRUCTURE", E, "A GS, ST, SE, GE or IEA out of place, or a segment outside a transaction set.")
RULES.add("X12-TRUNCATED", E, "The file ends inside a transaction set, functional group or interchange.")
RULES.add("X12-GE-MISSING", E, "A GS or IEA before the previous group's GE.")
RULES.add("X12-GE-COUNT", E, "GE01 does not match the number of transaction sets in the group.")
RULES.add("X12-GE-CONTROL", E, "GE02 does not match GS06.")
RULES.add("X12-IEA-MISSING", E, "An ISA before the previous interchange's IEA.")
RULES.add("X12-IEA-COUNT", E, "IEA01 does not match the number of functional groups in the interchange.")
RULES.add("X12-IEA-CONTROL", E, "IEA02 does not match ISA13.")
RULES.add("X12-REQUIRED", E, "A required amount or date element is empty.")
RULES.add("X12-NUMBER", W, "A number element is not a (whole) number.")
RULES.add("X12-DATE", E, "A date element is not a date (warning in ISA09 and TA102).")
# 999
RULES.add("X12-999-SEGMENT", W, "A segment a 999 does not carry; ignored.")
RULES.add("X12-999-STRUCTURE", E, "AK1, AK2, IK3, IK4, IK5 out of place or repeated (warning: a CTX outside an IK3).")
RULES.add("X12-999-AK1", E, "No AK1, or AK102 (the acknowledged GS06) is empty.")
RULES.add("X12-999-AK2", E, "AK202 (the acknowledged ST02) is empty.")
RULES.add("X12-999-AK9", E, "No AK9 (warning: AK904 sets accepted above AK903 sets received).")
RULES.add("X12-999-STATUS", E, "IK501 or AK901 is not an acknowledgment code.")
# 277CA
RULES.add("X12-277-SEGMENT", W, "A segment a 277CA does not carry; ignored.")
RULES.add("X12-277-HL", E, "HL03 is not a 277CA level or the HL has the wrong parent (warning: HL01 out of order).")
RULES.add("X12-277-TRN", E, "A claim's TRN is not TRN*2 or has no claim id in TRN02.")
RULES.add("X12-277-STC", E, "A claim without STC, or STC01 (claim status) is empty.")
RULES.add("X12-277-QUALIFIER", E, "An STC status category code that is not a claim status category.")
RULES.add("X12-277-STRUCTURE", E, "An SVC outside a claim.")
# 835
RULES.add("X12-835-SEGMENT", W, "A segment an 835 does not read; ignored.")
RULES.add("X12-835-STRUCTURE", E, "BPR, N1, CLP, NM1, CAS, LQ or SVC out of place or repeated.")
RULES.add("X12-835-BPR", E, "The BPR (payment) segment is missing.")
RULES.add("X12-835-TRN", E, "The TRN (check or EFT trace) is missing or not TRN*1 with a trace number.")
RULES.add("X12-835-PARTY", E, "The payer (N1*PR) or payee (N1*PE) loop is missing.")
RULES.add("X12-835-QUALIFIER", E, "A code or qualifier an 835 does not allow (warning where the loop is ignored).")
RULES.add("X12-835-CLP01", E, "CLP01 (our claim id) is empty.")
RULES.add("X12-835-CLP07", W, "CLP07 (the payer's claim control number) is empty.")
RULES.add("X12-835-CAS", E, "A CAS without a reason code, an amount without a reason, or more than six adjustments.")
RULES.add("X12-835-SVC", E, "SVC01-2 (procedure code) is empty.")
RULES.add("X12-835-PLB", E, "A PLB without provider id or adjustment, an amount without a reason, or over six.")
RULES.add("X12-835-BALANCE-LINE", E, "A service line's charge less its adjustments is not its payment.")
RULES.add("X12-835-BALANCE-CLAIM", E, "A claim's charge less its adjustments is not its payment.")
RULES.add("X12-835-PATIENT-RESP", W, "CLP05 (patient responsibility) differs from the claim's PR adjustments.")
RULES.add("X12-835-BALANCE-PAYMENT", E, "BPR02 is not the claims' payments less the provider adjustments.")
