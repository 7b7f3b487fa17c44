"""The FHIR plugin's rule catalogue: every finding it reports is declared here once.

A finding is made from its rule (:func:`.models.finding` looks the id up), so an
undeclared id fails at once; ``gateway rules`` and docs/rules.md list them.
"""

from __future__ import annotations

from gateway.model import Severity
from gateway.rules import Catalogue

E, W, I = Severity.ERROR, Severity.WARNING, Severity.INFO  # noqa: E741

RULES = Catalogue("fhir", prefix="FHIR")

RULES.add("FHIR-TOO-LARGE", E, "Input above `settings.fhir.max_bytes`.")
RULES.add("FHIR-JSON", E, "Not UTF-8, or not JSON (with line and column).")
RULES.add("FHIR-DEPTH", E, "JSON nested too deeply to read, or a resource too deep to validate.")
RULES.add(
    "FHIR-NUMBER", E, "An amount above 99,999,999.99, a quantity above 99,999, or a number of more than 4,300 digits."
)
RULES.add("FHIR-XML", E, "Not well-formed XML, wrong namespace, too deep (libxml2 limits).")
RULES.add("FHIR-XML-DTD", E, "DOCTYPE or entity declarations (refused).")
RULES.add("FHIR-XML-ELEMENT", E, "An element the R4B model does not define, or in a foreign namespace.")
RULES.add("FHIR-RESOURCE-TYPE", E, "Unknown or missing `resourceType`.")
RULES.add("FHIR-INVALID", E, "R4B validation problem (location = JSON path).")
RULES.add("FHIR-BUNDLE-ID", W, "Invalid `Bundle.id` ignored.")
RULES.add("FHIR-BUNDLE-TYPE", E, "`history`, `*-response` bundles: nothing to bill.")
RULES.add("FHIR-NO-ENCOUNTER", I, "Nothing to bill; resources kept as records.")
RULES.add(
    "FHIR-ENCOUNTER-SKIPPED",
    I,
    "Encounter cancelled or entered in error (info); each of its charges and Claims, not billed (warning).",
)
RULES.add(
    "FHIR-CLAIM-TYPE", W, "A pharmacy or dental Claim is not billed here (error with `other_claim_types: quarantine`)."
)
RULES.add(
    "FHIR-CLAIM-INSTITUTIONAL",
    E,
    "An institutional Claim: held until 837I exists (warning when billed as professional).",
)
RULES.add(
    "FHIR-CHARGE-VISIT",
    E,
    "A billable ChargeItem without context, or whose Encounter is not in the message (the message is held).",
)
RULES.add("FHIR-CHARGE-CLAIMED", W, "A ChargeItem of an encounter whose Claim is billed instead.")
RULES.add(
    "FHIR-VISIT-ID", W, "A visit without identifier or id: its id is derived from the fullUrl or bundle and entry."
)
RULES.add("FHIR-REF", E, "Reference missing, display-only or not found.")
RULES.add("FHIR-REF-NPI", I, "Practitioner not available; the NPI in the reference is used.")
RULES.add("FHIR-PATIENT-NAME", E, "Patient without family name.")
RULES.add("FHIR-PATIENT-ID", W, "Patient without any id: derived from the fullUrl or bundle and entry (`id_derived`).")
RULES.add("FHIR-PAYER", E, "Coverage without payor, or payor Organization without identifier.")
RULES.add("FHIR-MEMBER-ID", E, "Coverage without `subscriberId` or member identifier.")
RULES.add("FHIR-SUBSCRIBER-NAME", E, "Subscriber without family name.")
RULES.add("FHIR-RELATIONSHIP", W, "Subscriber ≠ patient and no relationship: sent as 21.")
RULES.add("FHIR-COVERAGE-INACTIVE", I, "Cancelled/draft Coverage ignored.")
RULES.add("FHIR-COVERAGE-LIMIT", W, "More than three coverages.")
RULES.add("FHIR-COVERAGE-REQUIRED", E, "No usable Coverage and `require_coverage` is set.")
RULES.add(
    "FHIR-COVERAGE-DISPLAY",
    W,
    "Insurer named only by display text: looked up by name in the payer directory, no member id sent.",
)
RULES.add(
    "FHIR-COVERAGE-SELF-PAY", I, "Insurer named only by a self-pay name (`self_pay_names`): the patient is billed."
)
RULES.add("FHIR-GUARANTOR", W, "Guarantor without name; the patient gets the statement.")
RULES.add("FHIR-DX-SYSTEM", W, "Diagnosis without an ICD-10-CM coding (not on the claim).")
RULES.add("FHIR-DX-WHO", W, "Diagnosis in WHO ICD-10: used as ICD-10-CM when valid there.")
RULES.add("FHIR-POS-SYSTEM", W, "A Claim item's place of service is not in the CMS code set: not used.")
RULES.add("FHIR-DX-SEQUENCE", W, "`diagnosisSequence` not in `Claim.diagnosis`.")
RULES.add("FHIR-CARETEAM", W, "`careTeamSequence` not in `Claim.careTeam`.")
RULES.add("FHIR-CLAIM-DX-ITEM", I, "Claim items that only restate a diagnosis were not billed.")
RULES.add("FHIR-CLAIM-REMAINDER", I, "One unpriced item priced at `Claim.total` minus the others.")
RULES.add("FHIR-CLAIM-TOTAL", W, "`Claim.total` ≠ sum of the items (the items are billed).")
RULES.add("FHIR-LINE-CODE", E, "A service without a code.")
RULES.add("FHIR-LINE-DATE", E, "A service without a date (and an encounter without a start date).")
RULES.add("FHIR-LINE-UNITS", E, "A service with a quantity of zero or less.")
RULES.add("FHIR-MODIFIERS", W, "More than four modifiers (first four sent), or a modifier without a code (not sent).")
