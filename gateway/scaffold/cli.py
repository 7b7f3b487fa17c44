"""``gateway new-plugin``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gateway.scaffold import KINDS, ScaffoldError, generate


@click.command("new-plugin")
@click.argument("name")
@click.option(
    "--kind", type=click.Choice(list(KINDS)), default="payer", show_default=True, help="What the plugin does."
)
@click.option(
    "--dir", "target", type=click.Path(path_type=Path, file_okay=False), help="Folder to write (default ./NAME)."
)
@click.option("--prefix", help="Rule-id prefix (default: NAME's first word in upper case, e.g. ACME).")
def new_plugin(name: str, kind: str, target: Path | None, prefix: str | None) -> None:
    """Write a new plugin package NAME: pyproject with the gateway.plugins
    entry point, the plugin module (GATEWAY_API range, settings model, rule
    catalogue, the hooks its kind needs), a README and tests that use
    gateway.testing and pass as generated.

    Kinds: payer (payer rules), inbound (a message format), source (an
    inbound channel for the daemon), coding (mapping data applied to
    encounters), renderer (documents out), transport (delivery).
    """
    try:
        folder = generate(name, kind, target, prefix)
    except ScaffoldError as exc:
        click.echo(f"new-plugin: {exc}", err=True)
        sys.exit(2)
    click.echo(f"wrote {kind} plugin {name} to {folder}")
    click.echo(f'next: cd {folder} && pip install -e ".[test]" && pytest')


def register(cli: click.Group) -> None:
    cli.add_command(new_plugin)
