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


def all_catalogues() -> list[Catalogue]:
    """The catalogues of the built-in mapping/coding/scrubbing plugins, in the
    order docs/scrubbing.md lists them (``PluginHost.catalogues`` has every
    loaded plugin's)."""
    from gateway_plugins.coding import chargemaster, codemaps, icd10cm, payers, procedures
    from gateway_plugins.rules import payers_medicare_b, scrubber

    return [m.RULES for m in (chargemaster, codemaps, payers, icd10cm, procedures, scrubber, payers_medicare_b)]


def catalogue_markdown(catalogues: Iterable[Catalogue]) -> str:
    """The rule table docs/scrubbing.md embeds (one row per rule)."""
    rows = ["| Rule | Severity | Plugin | What it checks |", "|---|---|---|---|"]
    for cat in catalogues:
        rows += [f"| `{r.id}` | {r.severity.value} | {r.plugin} | {r.description} |" for r in cat]
    return "\n".join(rows) + "\n"
