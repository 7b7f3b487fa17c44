"""The ``gateway`` command line: the root group and ``main``.

Commands live in one module per concern (``gateway/commands/``, and the
service, store, console and scaffold modules); the root group
(:class:`gateway.commands.GatewayGroup`) lists them by name and imports one
only when it runs. Plugins add commands through the ``gateway.commands``
entry-point group; the older ``gateway_register_commands`` hook still works
and is deprecated.
"""

from __future__ import annotations

import warnings

import click

from gateway import API_VERSION, __version__
from gateway.commands import EXIT_CODES_HELP, Exit, GatewayGroup, fail

#: named exit codes (kept for callers that import them from here)
EXIT_FAILED = Exit.FAILED
EXIT_CONFIG = Exit.CONFIG
EXIT_QUARANTINED = Exit.QUARANTINED


@click.group(cls=GatewayGroup, context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES_HELP)
@click.version_option(__version__, prog_name="gateway", message=f"%(prog)s %(version)s (plugin API {API_VERSION})")
def cli() -> None:
    """Billing integration gateway: HL7 v2 and FHIR encounters in, X12 837P
    claims and patient statements out.

    Start with `gateway demo --out DIR`, then `gateway init DIR` for a
    deployment of your own. `gateway COMMAND --help` explains each command.
    """


def add_hook_commands(group: click.Group) -> None:
    """Commands of plugins that still use the deprecated ``gateway_register_commands``
    hook (only those plugins are imported for it; without any, no plugin is read)."""
    from gateway.plugins import PluginError, PluginHost, plugins_mentioning

    if not plugins_mentioning("gateway_register_commands"):
        return
    try:
        host = PluginHost()
    except PluginError as exc:
        fail(f"plugin error: {exc}")
    for plugin, _result, error in host.call_each("gateway_register_commands", cli=group):
        if error is not None:
            click.echo(f"warning: plugin {plugin} could not add commands ({type(error).__name__})", err=True)
        else:
            warnings.warn(
                f"plugin {plugin} adds commands with gateway_register_commands, which is deprecated: "
                "list them in the gateway.commands entry-point group (docs/plugins.md)",
                DeprecationWarning,
                stacklevel=1,
            )


def main() -> None:
    """The ``gateway`` console script."""
    add_hook_commands(cli)
    cli(prog_name="gateway")


if __name__ == "__main__":  # pragma: no cover
    main()
