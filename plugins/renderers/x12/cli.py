"""``gateway validate FILE...``: check 837P files before a clearinghouse does."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command()
@click.option(
    "--config",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="gateway.yaml whose plugins and clinic settings the clean-claim rules use.",
)
@click.option("--quiet", "-q", is_flag=True, help="Print only files with problems.")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True, dir_okay=False))
def validate(config: Path | None, quiet: bool, files: tuple[Path, ...]) -> None:
    """Validate 837P FILES: pyx12 (implementation guide) plus clean-claim
    checks pyx12 lacks (NPI check digit, claim total, diagnosis pointers).

    Problems are printed with their segment position (ISA = segment 1).
    Exit 1 when any file has an error.
    """
    from gateway.app import Gateway
    from gateway.config import ConfigError
    from gateway.plugins import PluginError, PluginHost

    from .validate import ClaimRules, FileValidator

    try:
        if config is not None:
            gw = Gateway.from_config(config)
            rules = ClaimRules(gw.host, gw.clinics)
        else:
            rules = ClaimRules(PluginHost())
    except (ConfigError, PluginError) as exc:
        click.echo(f"cannot load the gateway: {exc}", err=True)
        sys.exit(2)
    validator = FileValidator(rules)
    failed = 0
    for path in files:
        report = validator.validate(path.read_bytes(), path.name)
        errors = report.errors
        failed += bool(errors)
        if errors or not quiet:
            status = f"{len(errors)} error(s)" if errors else "OK"
            click.echo(f"{path}: {status} ({report.claims} claim(s))")
        for issue in report.issues:
            click.echo(f"  {issue.severity}: {issue.describe()}")
    if rules.uses_hook:
        click.echo(f"{len(files)} file(s), {failed} with errors; clean-claim rules: gateway_scrub_claim plugins")
    else:
        click.echo(f"{len(files)} file(s), {failed} with errors")
        click.echo(
            "warning: clean-claim rules NOT run: no plugin implements gateway_scrub_claim (is the scrubber disabled?)",
            err=True,
        )
    sys.exit(1 if failed else 0)
