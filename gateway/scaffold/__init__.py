"""``gateway new-plugin``: a separate, installable plugin package to start from.

Templates are package data (``templates/common`` plus one folder per kind);
``{{key}}`` placeholders in file names and contents are filled from
:class:`Names`. Each kind implements the hooks its role needs, declares
``GATEWAY_API``, and comes with tests that use :mod:`gateway.testing` and
pass as generated (``tests/test_scaffold.py`` installs and runs them).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from gateway import API_VERSION, __version__
from gateway.rules import RESERVED_PREFIXES

#: kind → what its template does (the role folders of the built-in plugins)
KINDS: dict[str, str] = {
    "payer": "payer-specific claim edits (gateway_payer_rules) with a settings section and a rule catalogue",
    "inbound": "a message format read into encounters (gateway_sniff, gateway_parse)",
    "source": "an inbound source the daemon runs (gateway_register_sources): a polled drop folder",
    "coding": "mapping data loaded per clinic (gateway_load_clinic) applied to encounters (gateway_map_encounter)",
    "renderer": "claims rendered to documents (gateway_register_renderers): a CSV claim list",
    "transport": "documents delivered somewhere (gateway_register_transports): an HTTPS webhook",
}
TEMPLATES = files(__name__).joinpath("templates")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*([_-][A-Za-z0-9]+)*")


class ScaffoldError(ValueError):
    """A name, kind or target folder that cannot be used."""


@dataclass(frozen=True)
class Names:
    """Every spelling of a plugin's name the templates use."""

    name: str  # as typed: acme-payer
    dist: str  # distribution: acme-payer
    package: str  # import package, entry-point name, settings section: acme_payer
    title: str  # Acme Payer
    prefix: str  # rule-id prefix: ACME
    kind: str
    kind_description: str
    api_range: str
    api_version: str
    gateway_version: str

    @classmethod
    def of(cls, name: str, kind: str, prefix: str | None = None) -> Names:
        if kind not in KINDS:
            raise ScaffoldError(f"unknown kind '{kind}' (kinds: {', '.join(KINDS)})")
        if not _NAME.fullmatch(name):
            raise ScaffoldError(f"'{name}' is not a plugin name: letters and digits, words joined by - or _")
        words = re.split(r"[-_]", name.lower())
        package = "_".join(words)
        if package in {"gateway", "gateway_plugins", "test", "tests"}:
            raise ScaffoldError(f"'{name}' would shadow another package; choose another name")
        prefix = (prefix or words[0]).upper()
        if not re.fullmatch(r"[A-Z][A-Z0-9]*", prefix):
            raise ScaffoldError(f"rule-id prefix '{prefix}' must be letters and digits")
        if prefix in RESERVED_PREFIXES:
            raise ScaffoldError(
                f"rule-id prefix '{prefix}' is reserved for the gateway (docs/api.md); pass --prefix with your own"
            )
        major = API_VERSION.split(".")[0]
        minor = ".".join(API_VERSION.split(".")[:2])
        return cls(
            name=name,
            dist="-".join(words),
            package=package,
            title=" ".join(w.capitalize() for w in words),
            prefix=prefix,
            kind=kind,
            kind_description=KINDS[kind],
            api_range=f">={minor},<{int(major) + 1}",
            api_version=API_VERSION,
            gateway_version=__version__,
        )


def render(text: str, values: dict[str, str]) -> str:
    """Fill ``{{key}}`` placeholders; an unknown key is an error, not left in the output."""

    def fill(m: re.Match[str]) -> str:
        key = m.group(1)
        if key not in values:
            raise ScaffoldError(f"template placeholder {{{{{key}}}}} is unknown")
        return values[key]

    return re.sub(r"\{\{(\w+)\}\}", fill, text)


def _walk(folder: Traversable, rel: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Traversable]]:
    out = []
    for item in sorted(folder.iterdir(), key=lambda t: t.name):
        if item.is_dir():
            out += _walk(item, (*rel, item.name))
        elif item.name.endswith(".tmpl"):  # dot-gitignore.tmpl → .gitignore
            name = item.name.removesuffix(".tmpl")
            out.append(((*rel, "." + name[4:] if name.startswith("dot-") else name), item))
    return out


def generate(name: str, kind: str = "payer", target: Path | None = None, prefix: str | None = None) -> Path:
    """Write the plugin package ``name`` of ``kind`` to ``target`` (default ./NAME); returns the folder."""
    names = Names.of(name, kind, prefix)
    target = Path(target) if target is not None else Path.cwd() / name
    if target.exists() and any(target.iterdir()):
        raise ScaffoldError(f"{target} exists and is not empty; choose another folder with --dir")
    values = {k: str(v) for k, v in asdict(names).items()}
    # the kind's part of the README (how to configure and use it)
    values["usage"] = render(TEMPLATES.joinpath(kind, "usage.md").read_text(encoding="utf-8"), values).strip()
    planned = [
        (target.joinpath(*(render(part, values) for part in rel)), render(item.read_text(encoding="utf-8"), values))
        for folder in ("common", kind)
        for rel, item in _walk(TEMPLATES.joinpath(folder))
    ]
    for path, text in planned:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return target
