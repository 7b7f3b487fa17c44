"""The plugin API: its version and the names a plugin may import (docs/api.md).

``API_VERSION`` follows semantic versioning on its own, apart from the package
version: a release that changes nothing a plugin sees keeps it; a name added
to :data:`PUBLIC` (or a new optional hook argument) raises the minor; a
removed or changed name or hook raises the major. A plugin declares the range
it supports as a module attribute ``GATEWAY_API = ">=1.0,<2"``; the plugin
host refuses a plugin whose range excludes this version.

:data:`PUBLIC` is the allow-list: every module and name listed is stable
within a major version; everything else under ``gateway`` may change in any
release. ``tests/test_api.py`` keeps it, docs/api.md and the built-in
plugins' imports in agreement.
"""

from __future__ import annotations

#: The version of the plugin API (not of the package; see docs/api.md).
API_VERSION = "1.6.0"

#: Module attribute in which a plugin declares the API range it supports.
API_ATTRIBUTE = "GATEWAY_API"

#: module → the names in it that plugins may import.
PUBLIC: dict[str, tuple[str, ...]] = {
    "gateway": ("API_VERSION", "__version__", "hookimpl"),
    "gateway.hookspecs": ("MESSAGE_HOOKS", "STARTUP_HOOKS", "hookimpl"),
    "gateway.model": (
        "Ack999",
        "AckContext",
        "AckElementError",
        "AckSegmentError",
        "Address",
        "Adjustment",
        "Aging",
        "AmountAddition",
        "AmountQualifier",
        "Claim",
        "ClaimAck277",
        "ClaimAdditions",
        "Coverage",
        "DateAddition",
        "DateQualifier",
        "Diagnosis",
        "DunningStep",
        "Encounter",
        "Finding",
        "Guarantor",
        "InsurancePaid",
        "InterchangeAck",
        "LineAck277",
        "LineAdjudication",
        "Money",
        "NoteAddition",
        "NoteQualifier",
        "Patient",
        "PatientShare",
        "Payer",
        "PersonName",
        "PriorAdjudication",
        "PriorAdjustment",
        "Provider",
        "ProviderAdjustment",
        "ReferenceAddition",
        "REFERENCE_VALUE",
        "ReferenceQualifier",
        "Remit835",
        "RemitClaim",
        "RemitEnd",
        "RemitLine",
        "RemitParty",
        "RemitPayment",
        "ResponseBatch",
        "ResponseDocument",
        "SecondaryBilling",
        "ServiceLine",
        "Severity",
        "Sex",
        "Statement",
        "StatementCycle",
        "StatementLine",
        "Status277",
        "StatusCode",
        "Subscriber",
        "TransactionAck",
        "X12Control",
    ),
    "gateway.rules": ("RESERVED_PREFIXES", "Catalogue", "Rule", "catalogue_markdown"),
    "gateway.secondary": ("DEFAULT_BILLING", "Imbalance", "imbalances"),
    "gateway.messages": ("Envelope", "MemoryRecords", "MessageMeta", "ParseResult", "RecordLookup", "RecordUpdate"),
    "gateway.config": (
        "NPI",
        "Clinic",
        "ClinicConfig",
        "ConfigError",
        "SecretRef",
        "format_path",
        "line_marks",
        "resolve_secret",
    ),
    "gateway.tables": ("Problems", "Row", "read_csv", "read_text", "read_yaml", "read_yaml_model", "resolve"),
    "gateway.documents": (
        "ControlNumbers",
        "Document",
        "Kind",
        "MemoryControlNumbers",
        "RenderContext",
        "Renderer",
    ),
    "gateway.transport": (
        "BaseTransport",
        "MemoryTransport",
        "Receipt",
        "ResponseSettings",
        "ResponseTransport",
        "Transport",
        "TransportError",
        "is_loopback",
        "local_process_gone",
    ),
    "gateway.sources": (
        "DetailedSource",
        "DetailedSubmit",
        "HttpSource",
        "InputRefused",
        "ReplyBuilder",
        "Source",
        "Submit",
        "SubmitOutcome",
        "acknowledged",
        "read_input",
    ),
    "gateway.console.fhir_outcome": ("operation_outcome",),
    "gateway.money": ("MAX_AMOUNT", "MAX_UNITS", "amount_problem", "as_sent", "cents", "units_problem"),
    "gateway.codes": (
        "ADJUSTMENT_GROUPS",
        "CLAIM_RELATIONSHIPS",
        "FILING_INDICATORS",
        "FREQUENCY_CODES",
        "MAX_COVERAGES",
        "MAX_DIAGNOSES",
        "MAX_MODIFIERS",
        "MAX_POINTERS",
        "X12_RELATIONSHIPS",
        "x12_relationship",
    ),
    "gateway.x12": (
        "Delimiters",
        "Segment",
        "SegmentStream",
        "Tokens",
        "X12SyntaxError",
        "decode",
        "iter_ids",
        "read_delimiters",
        "tokenize",
    ),
    "gateway.identifiers": ("luhn_ok", "npi_check_digit", "npi_is_valid"),
    "gateway.logging": ("RateLimited", "event", "get"),
    "gateway.app": ("Gateway",),
    "gateway.plugins": ("PluginError", "PluginHost"),
    "gateway.testing": (
        "SERVICE_DATE",
        "TODAY",
        "Deployment",
        "FhirBundle",
        "Hl7Message",
        "RunResult",
        "assert_finding",
        "assert_no_errors",
        "assert_no_finding",
        "build_claim",
        "build_coverage",
        "build_encounter",
        "build_line",
        "private_imports",
        "run_claim",
        "run_one",
    ),
    "gateway.testing.transports": ("TransportContract",),
}


def is_public(module: str, name: str | None = None) -> bool:
    """True when ``module`` (and ``name`` in it, if given) is in the allow-list."""
    return module in PUBLIC and (name is None or name in PUBLIC[module])


def api_problem(declared: object) -> str | None:
    """Why a plugin's declared ``GATEWAY_API`` range excludes this gateway, or None."""
    if not isinstance(declared, str):
        return f"{API_ATTRIBUTE} must be a version range string such as '>=1.0,<2', not {type(declared).__name__}"
    from packaging.specifiers import InvalidSpecifier, SpecifierSet  # only for plugins that declare a range
    from packaging.version import Version

    try:
        spec = SpecifierSet(declared)
    except InvalidSpecifier:
        return f"{API_ATTRIBUTE} = {declared!r} is not a version range (write e.g. '>=1.0,<2')"
    if not spec.contains(Version(API_VERSION), prereleases=True):
        return f"it supports gateway plugin API {declared}, this gateway provides {API_VERSION}"
    return None
