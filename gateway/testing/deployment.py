"""A deployment for tests: the example deployment in a folder, plus your overrides.

    dep = Deployment(tmp_path / "deployment")      # or the ``gateway_deployment`` fixture
    dep.settings("acme", {"strict_auth": True})    # every clinic's settings.acme
    dep.add_payer("ACME1", "Acme Health", hl7_ids=["ACME"])
    gw = dep.gateway(acme_plugin)                  # loaded whether or not it is pip-installed

Edits go to the parsed gateway.yaml (:attr:`Deployment.config`, a plain dict)
and are written when the gateway is built.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from gateway.app import Gateway
from gateway.examples import write_example_deployment

Plugin = object | tuple[str, object]


def plugin_name(plugin: object) -> str:
    """The name a plugin object is registered under when given without one:
    a module's last dotted part, else the object's class name in lower case."""
    name = getattr(plugin, "__name__", None)
    if isinstance(name, str):
        return name.rsplit(".", 1)[-1]
    return type(plugin).__name__.lower()


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
    return base


class Deployment:
    """The example deployment (two clinics, ``riverside`` and ``lakeside``,
    folder destinations) written to ``folder`` and edited in memory."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.path = write_example_deployment(self.folder)
        self.config: dict[str, Any] = yaml.safe_load(self.path.read_text())

    # -- edits -----------------------------------------------------------------
    def clinic(self, clinic_id: str = "riverside") -> dict[str, Any]:
        """A clinic's config mapping, to edit in place."""
        for clinic in self.config["clinics"]:
            if clinic["id"] == clinic_id:
                return clinic
        known = ", ".join(c["id"] for c in self.config["clinics"])
        raise KeyError(f"no clinic {clinic_id!r} in the deployment (clinics: {known})")

    def settings(self, section: str, values: dict[str, Any], clinic: str | None = None) -> Deployment:
        """Set ``settings.<section>`` of one clinic, or of every clinic when ``clinic`` is None."""
        clinics = [self.clinic(clinic)] if clinic else self.config["clinics"]
        for c in clinics:
            c.setdefault("settings", {})[section] = copy.deepcopy(values)
        return self

    def update(self, changes: dict[str, Any]) -> Deployment:
        """Deep-merge ``changes`` into gateway.yaml (``{"delivery": {"max_attempts": 3}}``)."""
        _merge(self.config, copy.deepcopy(changes))
        return self

    def add_clinic(self, clinic_id: str, **changes: Any) -> dict[str, Any]:
        """A new clinic copied from ``riverside`` with ``id``, ``senders`` (the id in upper
        case) and ``changes`` deep-merged; returns its mapping."""
        clinic = copy.deepcopy(self.clinic("riverside"))
        clinic.update(id=clinic_id, name=f"{clinic_id} (test clinic)", senders=[clinic_id.upper()])
        _merge(clinic, copy.deepcopy(changes))
        self.config["clinics"].append(clinic)
        return clinic

    def add_payer(
        self,
        payer_id: str,
        name: str,
        claim_filing_indicator: str = "CI",
        *,
        hl7_ids: Sequence[str] = (),
        fhir_identifiers: Sequence[str] = (),
        names: Sequence[str] = (),
    ) -> Deployment:
        """Add a payer to the payer directory (payers.yaml) the example clinics share."""
        path = self.folder / "payers.yaml"
        data = yaml.safe_load(path.read_text())
        entry: dict[str, Any] = {"payer_id": payer_id, "name": name, "claim_filing_indicator": claim_filing_indicator}
        for key, values in (("hl7_ids", hl7_ids), ("fhir_identifiers", fhir_identifiers), ("names", names)):
            if values:
                entry[key] = list(values)
        data["payers"].append(entry)
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return self

    def add_destination(self, name: str, transport: str, format: str, **options: Any) -> Deployment:
        """A destination ``name`` (``options`` are the transport's keys, plus ``format_settings``)."""
        self.config.setdefault("destinations", {})[name] = {"transport": transport, "format": format, **options}
        return self

    def write_file(self, relative: str, text: str) -> Path:
        """Write a mapping file next to gateway.yaml (paths in the config are relative to it)."""
        path = self.folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    # -- results -----------------------------------------------------------------
    def save(self) -> Path:
        """Write gateway.yaml; returns its path."""
        self.path.write_text(yaml.safe_dump(self.config, sort_keys=False))
        return self.path

    def gateway(self, *plugins: Plugin) -> Gateway:
        """Save and build the gateway, with ``plugins`` (modules or objects, or
        ``(name, plugin)`` pairs) registered besides the installed ones. A plugin
        that is also pip-installed is loaded once, under its entry-point name."""
        extra = [p if isinstance(p, tuple) else (plugin_name(p), p) for p in plugins]
        return Gateway.from_config(self.save(), extra_plugins=extra)
