"""Code lists of the response transactions, in the project's own plain words.

Only codes a biller meets in practice are listed; an unknown code is said to
be unknown (``describe``) rather than guessed. Claim adjustment reason codes
(CARC) and remark codes (RARC) are not here: they are a deployment-replaceable
table read by :mod:`gateway.adjustment_codes`; the CAS adjustment groups
are one table in :mod:`gateway.codes`; the models keep the codes themselves.
"""

from __future__ import annotations

from gateway.codes import ADJUSTMENT_GROUPS as ADJUSTMENT_GROUPS  # re-exported: one table

#: TA104 interchange acknowledgement codes
TA1_STATUS = {"A": "accepted", "E": "accepted with errors noted", "R": "rejected"}

#: TA105 interchange note codes
TA1_NOTES = {
    "000": "no error",
    "001": "ISA13 and IEA02 do not match",
    "002": "this standard is not supported",
    "003": "this version of the envelope is not supported",
    "004": "the segment terminator is not valid",
    "005": "the sender id qualifier is not valid",
    "006": "the sender id is not valid",
    "007": "the receiver id qualifier is not valid",
    "008": "the receiver id is not valid",
    "009": "the receiver id is unknown",
    "010": "the authorization information qualifier is not valid",
    "011": "the authorization information is not valid",
    "012": "the security information qualifier is not valid",
    "013": "the security information is not valid",
    "014": "the interchange date is not valid",
    "015": "the interchange time is not valid",
    "016": "the standards identifier is not valid",
    "017": "the version id is not valid",
    "018": "the interchange control number is not valid",
    "019": "the acknowledgment requested flag is not valid",
    "020": "the test indicator is not valid",
    "021": "the number of included groups is not valid",
    "022": "the control structure is not valid",
    "023": "the file ended too early",
    "024": "the interchange content is not valid",
    "025": "the interchange control number was used before",
    "026": "the element separator is not valid",
    "027": "the component separator is not valid",
}

#: AK901 functional group answers
GROUP_STATUS = {
    "A": "accepted",
    "E": "accepted with errors noted",
    "M": "rejected: message authentication failed",
    "P": "partially accepted: at least one transaction set was rejected",
    "R": "rejected",
    "W": "rejected: failed validity tests",
    "X": "rejected: content could not be analysed after decryption",
}

#: IK501 transaction set answers
SET_STATUS = {k: v for k, v in GROUP_STATUS.items() if k != "P"}

#: AK905-AK909 functional group error codes
GROUP_ERRORS = {
    "1": "functional group not supported",
    "2": "functional group version not supported",
    "3": "functional group trailer (GE) missing",
    "4": "GS06 and GE02 do not match",
    "5": "GE01 does not match the number of transaction sets",
    "6": "the group control number is not valid",
    "19": "the group control number was used before in this interchange",
}

#: IK502-IK506 transaction set error codes
SET_ERRORS = {
    "1": "transaction set not supported",
    "2": "transaction set trailer (SE) missing",
    "3": "ST02 and SE02 do not match",
    "4": "SE01 does not match the number of segments",
    "5": "one or more segments in error",
    "6": "transaction set id missing or not valid",
    "7": "transaction set control number missing or not valid",
    "18": "transaction set not inside a functional group",
    "19": "implementation convention reference not valid",
    "23": "transaction set control number used twice in the group",
    "I5": "implementation: one or more segments in error",
    "I6": "implementation convention not supported",
}

#: IK304 segment error codes
SEGMENT_ERRORS = {
    "1": "unrecognised segment id",
    "2": "unexpected segment",
    "3": "required segment missing",
    "4": "loop occurs more often than allowed",
    "5": "segment used more often than allowed",
    "6": "segment not in the defined transaction set",
    "7": "segment out of sequence",
    "8": "segment has data element errors",
    "I4": "segment the implementation guide says is not used",
    "I6": "implementation-dependent segment missing",
    "I7": "loop occurs fewer times than the implementation guide requires",
    "I8": "segment used fewer times than the implementation guide requires",
    "I9": "implementation-dependent segment present although not used",
}

#: IK403 element error codes
ELEMENT_ERRORS = {
    "1": "required element missing",
    "2": "conditionally required element missing",
    "3": "too many elements",
    "4": "element too short",
    "5": "element too long",
    "6": "invalid character in element",
    "7": "invalid code value",
    "8": "invalid date",
    "9": "invalid time",
    "10": "element present although excluded by another",
    "12": "too many repetitions",
    "13": "too many components",
    "I6": "code value not used in this implementation",
    "I9": "implementation-dependent element missing",
    "I10": "element the implementation guide says is not used",
    "I11": "too few repetitions for the implementation guide",
    "I12": "value does not match the implementation guide's pattern",
    "I13": "implementation-dependent element present although not used",
}

#: STC01-1 claim status categories (code source 507)
STATUS_CATEGORIES = {
    "A0": "acknowledged: forwarded to another entity",
    "A1": "acknowledged: received",
    "A2": "acknowledged: accepted into adjudication",
    "A3": "returned as unprocessable",
    "A4": "not found",
    "A5": "acknowledged: split claim",
    "A6": "rejected: missing information",
    "A7": "rejected: invalid information",
    "A8": "rejected: relational field in error",
    "E0": "no answer possible: error in the request",
    "E1": "no answer possible: system status",
    "E2": "no answer possible: the information holder does not answer",
    "E3": "correction required: relational fields in error",
    "E4": "trading partner agreement requirement not met",
    "F0": "finalized",
    "F1": "finalized: payment",
    "F2": "finalized: denial",
    "F3": "finalized: revised",
    "F4": "finalized: adjudication complete, no payment forthcoming",
    "P0": "pending: adjudication",
    "P1": "pending: in process",
    "P2": "pending: payer review",
    "P3": "pending: provider requested information",
    "P4": "pending: patient requested information",
    "P5": "pending: payer administrative or system hold",
}

#: STC01-2 claim status codes (code source 508), the common ones
STATUS_CODES = {
    "0": "no further status available electronically",
    "1": "see the remittance advice for details",
    "2": "details follow in a letter",
    "3": "adjudicated, waiting for the payment cycle",
    "12": "procedure codes were combined",
    "15": "procedure codes were changed",
    "16": "forwarded to the entity named",
    "17": "forwarded by a third party to the entity named",
    "19": "the entity confirms it received the claim",
    "20": "accepted for processing",
    "21": "information missing or not valid",
    "23": "returned to the entity named",
    "24": "the entity is not approved to submit electronically",
    "25": "the entity is not approved",
    "26": "the entity was not found",
    "29": "subscriber and policy number do not match",
    "33": "subscriber and subscriber id not found",
    "97": "no eligibility found for the patient",
    "116": "sent to the wrong payer",
    "145": "the entity's specialty or taxonomy code",
    "153": "the entity's id number",
    "158": "the entity's date of birth",
    "164": "the entity's member or contract number",
    "187": "the date(s) of service",
    "247": "line information",
    "255": "the diagnosis code",
    "400": "the claim is out of balance",
    "454": "the procedure code",
    "562": "the entity's NPI",
}

#: entity identifier codes (STC01-3 and NM101)
ENTITIES = {
    "03": "dependent",
    "1P": "provider",
    "40": "receiver",
    "41": "submitter",
    "71": "attending provider",
    "77": "service location",
    "82": "rendering provider",
    "85": "billing provider",
    "87": "pay-to provider",
    "DK": "ordering provider",
    "DN": "referring provider",
    "DQ": "supervising provider",
    "GB": "other insured",
    "IL": "subscriber",
    "PR": "payer",
    "PRP": "primary payer",
    "QC": "patient",
    "SEP": "secondary payer",
    "TTP": "tertiary payer",
}

#: CLP02 claim status in an 835
CLAIM_STATUS = {
    "1": "processed as primary",
    "2": "processed as secondary",
    "3": "processed as tertiary",
    "4": "denied",
    "19": "processed as primary, forwarded to another payer",
    "20": "processed as secondary, forwarded to another payer",
    "21": "processed as tertiary, forwarded to another payer",
    "22": "reversal of a previous payment",
    "23": "not our claim, forwarded to another payer",
    "25": "priced only (predetermination), no payment",
}

#: CLP06 claim filing indicators an 835 may carry (5010 dropped CI, BL and others of the 837's list)
REMIT_FILING_INDICATORS = frozenset(
    {"12", "13", "14", "15", "16", "17", "AM", "CH", "DS", "HM", "LM", "MA", "MB", "MC", "OF", "TV", "VA", "WC", "ZZ"}
)

#: BPR01 transaction handling
HANDLING = {
    "C": "payment with remittance advice",
    "D": "payment only",
    "H": "notification only",
    "I": "remittance information only",
    "P": "pre-notification of a future transfer",
    "U": "payment and remittance sent separately",
    "X": "payment and remittance split at the bank's option",
}

#: BPR04 payment methods
PAYMENT_METHODS = {
    "ACH": "automated clearing house (EFT)",
    "BOP": "financial institution option",
    "CHK": "check",
    "FWT": "wire transfer",
    "NON": "no payment",
}

#: PLB03-1 provider adjustment reasons, the common ones
PROVIDER_ADJUSTMENTS = {
    "50": "late charge",
    "51": "interest penalty",
    "72": "authorized return",
    "90": "early payment allowance",
    "AH": "origination fee",
    "AM": "applied to borrower's account",
    "AP": "acceleration of benefits",
    "B2": "rebate",
    "B3": "recovery allowance",
    "BD": "bad debt adjustment",
    "BN": "bonus",
    "C5": "temporary allowance",
    "CR": "capitation interest",
    "CS": "adjustment",
    "CT": "capitation payment",
    "CV": "capital pass-through",
    "CW": "nurse anesthetist pass-through",
    "DM": "direct medical education pass-through",
    "E3": "withholding",
    "FB": "forward balance",
    "FC": "fund allocation",
    "GO": "graduate medical education pass-through",
    "HM": "hemophilia clotting factor supplement",
    "IP": "incentive premium payment",
    "IR": "tax withholding",
    "IS": "interim settlement",
    "J1": "non-reimbursable",
    "L3": "penalty",
    "L6": "interest owed",
    "LE": "levy",
    "LS": "lump sum",
    "OA": "organ acquisition pass-through",
    "OB": "offset for affiliated providers",
    "PI": "periodic interim payment",
    "PL": "final payment",
    "RA": "retroactive adjustment",
    "RE": "return on equity",
    "SL": "student loan repayment",
    "TL": "third-party liability",
    "WO": "overpayment recovery",
    "WU": "unspecified recovery",
}

#: SVC01-1 / SVC06-1 product or service id qualifiers
PROCEDURE_QUALIFIERS = frozenset({"AD", "ER", "HC", "HP", "IV", "N4", "NU", "WK"})


def describe(table: dict[str, str], code: str, what: str) -> str:
    """The plain words for ``code``, or a sentence saying it is not in the table."""
    return table.get(code) or f"{what} {code or '(empty)'} (not in the gateway's list)"
