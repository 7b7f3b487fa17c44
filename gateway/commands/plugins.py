"""Plugins and rules: ``gateway plugins`` and ``gateway rules``."""

from __future__ import annotations

import json

import click


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def plugins(as_json: bool) -> None:
    """List plugins: name, distribution, version, plugin API range and hooks.

    A plugin that could not be loaded (import error, incompatible API range,
    bad rule catalogue) is listed with the reason. Switch one off with
    `plugins.disable` in gateway.yaml or GATEWAY_DISABLE_PLUGINS=name,name.
    """
    from gateway.plugins import PluginHost

    host = PluginHost()
    host.load_all()  # plugins load lazily: import each to report the ones that cannot run, and rule counts
    if as_json:
        click.echo(json.dumps([i.as_dict() for i in host.infos], indent=2))
        return
    for info in host.infos:
        dist = f"{info.distribution} {info.version}" if info.distribution else "(registered directly)"
        api = f"  api {info.api}" if info.api else ""
        click.echo(f"{info.name}  [{info.module}]  {dist}{api}")
        if info.error:
            click.echo(f"    NOT LOADED: {info.error}")
        for hook in info.hooks:
            click.echo(f"    {hook}")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--markdown", is_flag=True, help="Print the Markdown table the docs embed.")
def rules(as_json: bool, markdown: bool) -> None:
    """List the gateway's own rules and every loaded plugin's: id, severity, plugin, what it checks.

    Findings name these ids; docs/rules.md lists the built-in ones.
    """
    from gateway.plugins import PluginHost
    from gateway.rules import CORE, catalogue_markdown

    host = PluginHost()
    catalogues = [CORE, *host.catalogues.values()]
    if markdown:
        click.echo(catalogue_markdown(catalogues), nl=False)
    elif as_json:
        rows = [
            {"id": r.id, "severity": r.severity.value, "plugin": r.plugin, "description": r.description}
            for c in catalogues
            for r in c
        ]
        click.echo(json.dumps(rows, indent=2))
    else:
        for cat in catalogues:
            for r in cat:
                click.echo(f"{r.id:<28} {r.severity.value:<8} {r.plugin:<18} {r.description}")
