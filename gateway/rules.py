"""Rule catalogues shared by the mapping, coding and scrubbing plugins.

Each plugin declares its rules once, at module level, in a :class:`Catalogue`:
a stable id, a default severity and a one-line description. Findings are made
from the rule object, so a rule id is never typed twice and docs/scrubbing.md
can be checked against the catalogues (see :func:`all_catalogues`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from gateway.model import Finding, Severity


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
    """The rules of one plugin, in declaration order."""

    def __init__(self, plugin: str) -> None:
        self.plugin = plugin
        self._rules: dict[str, Rule] = {}

    def add(self, rule_id: str, severity: Severity, description: str) -> Rule:
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
    """The catalogues of every built-in mapping/coding/scrubbing plugin (for docs)."""
    from gateway_plugins.coding import chargemaster, codemaps, icd10cm, payers, procedures
    from gateway_plugins.rules import payers_medicare_b, scrubber

    return [m.RULES for m in (chargemaster, codemaps, payers, icd10cm, procedures, scrubber, payers_medicare_b)]


def catalogue_markdown(catalogues: Iterable[Catalogue]) -> str:
    """The rule table docs/scrubbing.md embeds (one row per rule)."""
    rows = ["| Rule | Severity | Plugin | What it checks |", "|---|---|---|---|"]
    for cat in catalogues:
        rows += [f"| `{r.id}` | {r.severity.value} | {r.plugin} | {r.description} |" for r in cat]
    return "\n".join(rows) + "\n"
