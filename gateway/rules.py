"""Rule catalogues: the one way a plugin declares the rules it reports.

A plugin declares its rules once, at module level, in a :class:`Catalogue`
bound to the module attribute ``RULES``: a stable id, a default severity and a
one-line description per rule. Findings are made from the rule object, so a
rule id is never typed twice. The plugin host collects every loaded plugin's
``RULES`` (``gateway rules`` lists them; docs are generated from them with
:func:`catalogue_markdown`) and refuses a third-party plugin whose rule ids
use a prefix in :data:`RESERVED_PREFIXES` or repeat another plugin's id.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from gateway.model import Finding, Severity

#: Rule-id prefixes of the gateway and its built-in plugins; a third-party
#: plugin uses its own (``ACME-PRIOR-AUTH``), never one of these.
RESERVED_PREFIXES = frozenset(
    {"GW", "HL7", "FHIR", "JSON", "X12", "SCRUB", "CM", "MAP", "PAYER", "ICD10", "PROC", "MB", "STMT"}
)
#: A rule id: upper-case prefix, a hyphen, upper-case words joined by hyphens.
RULE_ID = re.compile(r"[A-Z][A-Z0-9]*(-[A-Z0-9]+)+")


def prefix_of(rule_id: str) -> str:
    """``ACME`` for ``ACME-PRIOR-AUTH``."""
    return rule_id.split("-", 1)[0]


@dataclass(frozen=True)
class Rule:
    """One check: ``id`` is stable (findings, docs and overrides use it)."""

    id: str
    severity: Severity
    description: str
    plugin: str

    def finding(self, message: str, location: str | None = None, severity: Severity | None = None) -> Finding:
        """A finding of this rule. ``message`` must not contain patient data."""
        return Finding(
            severity=severity or self.severity,
            rule=self.id,
            message=message,
            location=location,
            plugin=self.plugin,
        )


class Catalogue:
    """The rules of one plugin, in declaration order.

    ``plugin`` is the plugin's name (its entry-point name; findings carry
    it). With ``prefix`` every id must start with ``PREFIX-``.
    """

    def __init__(self, plugin: str, prefix: str | None = None) -> None:
        self.plugin = plugin
        self.prefix = prefix
        self._rules: dict[str, Rule] = {}

    def add(self, rule_id: str, severity: Severity, description: str) -> Rule:
        """Declare a rule; a malformed or repeated id is a ValueError at import time."""
        if not RULE_ID.fullmatch(rule_id):
            raise ValueError(f"rule id {rule_id!r} of {self.plugin} is not PREFIX-NAME in upper case")
        if self.prefix and prefix_of(rule_id) != self.prefix:
            raise ValueError(f"rule id {rule_id} of {self.plugin} does not start with its prefix {self.prefix}-")
        if rule_id in self._rules:
            raise ValueError(f"rule {rule_id} declared twice in {self.plugin}")
        rule = Rule(rule_id, severity, description, self.plugin)
        self._rules[rule_id] = rule
        return rule

    def __iter__(self) -> Iterator[Rule]:
        return iter(self._rules.values())

    def __contains__(self, rule_id: object) -> bool:
        return rule_id in self._rules

    def __getitem__(self, rule_id: str) -> Rule:
        return self._rules[rule_id]

    def __len__(self) -> int:
        return len(self._rules)


E, W, I = Severity.ERROR, Severity.WARNING, Severity.INFO  # noqa: E741

#: The gateway's own rules (``plugin="core"`` on their findings): journal,
#: routing, claim building, duplicates, plugin failures, response posting.
#: The core finding constructors look the id up, so an undeclared id is a KeyError.
CORE = Catalogue("core", prefix="GW")
# journal and routing
CORE.add("GW-TOO-LARGE", E, "Input above `max_input_bytes`: refused before any plugin reads it, stored quarantined.")
CORE.add("GW-INPUT-REFUSED", E, "One-shot run: an input refused unread (not a regular file, above `max_input_bytes`).")
CORE.add("GW-SNIFF", E, "The process examining the input died (input too big or malformed).")
CORE.add("GW-FORMAT", E, "Input in no format a loaded plugin recognises.")
CORE.add("GW-ROUTE", E, "No clinic for the message's sender; add it to a clinic's senders.")
CORE.add("GW-CONTROL-ID-REUSED", W, "The sender reused a control id (MSH-10) for different content.")
CORE.add("GW-DEAD", E, "Processing failed on every attempt; the message is left for an operator (reprocess).")
# plugins
CORE.add("GW-PARSE", E, "No plugin parses the message's format, or its parser returned something else than a message.")
CORE.add("GW-PLUGIN-ERROR", E, "A plugin raised (only the exception type is kept: its text may quote patient data).")
CORE.add("GW-PLUGIN-RESULT", E, "A plugin returned the wrong type from a hook.")
CORE.add("GW-ADDITIONS", E, "Claim additions of two plugins overlap (the same qualifier or line).")
# claims and statements
CORE.add("GW-NO-CHARGES", I, "An encounter without charges: nothing to bill.")
CORE.add("GW-VISIT-ID", E, "An encounter with charges but a placeholder visit id (it would collide as a claim id).")
CORE.add("GW-LINE-CODE", E, "A service line without CPT/HCPCS code after mapping (charge master, code maps).")
CORE.add(
    "GW-LINE-CHARGE",
    E,
    "A service line without charge, a charge or total out of range, or fractions of a cent on a statement.",
)
CORE.add("GW-PAYER-ID", E, "A coverage whose payer has no payer id (named by name only).")
CORE.add("GW-MEMBER-ID", E, "A coverage without member id.")
CORE.add("GW-DUPLICATE-CLAIM", E, "A claim id already produced with different content: held for an operator.")
CORE.add("GW-DUPLICATE-STATEMENT", E, "A statement already produced with different content: held for an operator.")
CORE.add("GW-RESENT-CLAIM", I, "A claim identical to one already produced: not billed again.")
CORE.add("GW-RESENT-STATEMENT", I, "A statement identical to one already produced: not billed again.")
# responses (999, 277CA, 835)
CORE.add("GW-READ", E, "A response file with no document, or whose reader returned something else than a batch.")
CORE.add("GW-RESPONSE-CONTROL", I, "A TA1 or 999: matched to the file sent by control numbers, not by clinic.")
CORE.add("GW-RESPONSE-UNMATCHED", W, "A response whose NPI / tax id matches no clinic, or several: kept as unmatched.")
CORE.add("GW-RESPONSE-CHANNEL", E, "A response for one clinic that came on another clinic's channel: kept unmatched.")
CORE.add("GW-RESPONSE-POSTED", I, "A document of a reprocessed response file posted before: not posted again.")
CORE.add("GW-ACK-DUPLICATE", I, "An acknowledgment posted before: not posted again.")
CORE.add("GW-ACK-UNMATCHED", W, "An acknowledgment that matches no claim or file we sent: kept as unmatched.")
CORE.add("GW-REMIT-DUPLICATE", I, "An 835 posted before (same content, or same payer and check/EFT number).")
CORE.add("GW-REMIT-UNMATCHED", W, "An 835, or a claim in it, that matches no clinic or claim: kept as unmatched.")


def core_catalogues() -> list[Catalogue]:
    """The gateway's own catalogue (:data:`CORE`)."""
    return [CORE]


def all_catalogues() -> list[Catalogue]:
    """The catalogues of the built-in mapping/coding/scrubbing plugins, in the
    order docs/scrubbing.md lists them (``PluginHost.catalogues`` has every
    loaded plugin's)."""
    from gateway_plugins.coding import chargemaster, codemaps, icd10cm, payers, procedures
    from gateway_plugins.rules import payers_medicare_b, scrubber

    return [m.RULES for m in (chargemaster, codemaps, payers, icd10cm, procedures, scrubber, payers_medicare_b)]


def inbound_catalogues() -> list[Catalogue]:
    """The catalogues of the built-in inbound formats (HL7 v2, FHIR, canonical JSON)."""
    from gateway_plugins.inbound import canonical_json, fhir, hl7v2

    return [m.RULES for m in (hl7v2, fhir, canonical_json)]


def x12_catalogues() -> list[Catalogue]:
    """The catalogues of the X12 readers: the 837P reader and ``gateway validate``
    (plugin ``x12``), the 999/277CA/835 reader (``x12_responses``)."""
    from gateway_plugins.inbound import x12_responses
    from gateway_plugins.renderers import x12

    return [x12.RULES, x12_responses.RULES]


def rules_markdown() -> str:
    """docs/rules.md: every built-in catalogue, the gateway's own first, then
    inbound formats, the X12 readers, and mapping, coding, scrubbing and payer
    rules (``python -m gateway.docs rules``)."""
    parts = [
        "# Rules\n",
        "Generated by `python -m gateway.docs rules` from the plugins' rule catalogues",
        "(`RULES = Catalogue(...)` in each plugin, see `gateway.rules`); a test fails when",
        "this file is stale. `gateway rules` lists the same for every loaded plugin,",
        "third-party ones included. A finding's severity may differ from the default",
        "shown here where the docs of its plugin say so (a clinic setting, the message type).\n",
    ]
    sections = (
        ("Gateway", core_catalogues()),
        ("Inbound formats", inbound_catalogues()),
        ("X12 files read (837P, responses)", x12_catalogues()),
        ("Mapping, coding, scrubbing, payers", all_catalogues()),
    )
    for title, cats in sections:
        parts.append(f"## {title}\n")
        parts.append(catalogue_markdown(cats))
    return "\n".join(parts)


def catalogue_markdown(catalogues: Iterable[Catalogue]) -> str:
    """The rule table docs/scrubbing.md embeds (one row per rule)."""
    rows = ["| Rule | Severity | Plugin | What it checks |", "|---|---|---|---|"]
    for cat in catalogues:
        rows += [f"| `{r.id}` | {r.severity.value} | {r.plugin} | {r.description} |" for r in cat]
    return "\n".join(rows) + "\n"
