"""``gateway dev simulate-payer``: answer 837P files as a clearinghouse and
a payer would (999, 277CA, 835), for tests and demos."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import click

DEV_HELP = "Tools for development, tests and demos (not for production data)."


def dev_group(cli: click.Group) -> click.Group:
    """The ``gateway dev`` group (made once; other plugins may add to it) with ``simulate-payer``."""
    group = cli.commands.get("dev")
    if group is None:
        group = click.Group("dev", help=DEV_HELP)
        cli.add_command(group)
    if not isinstance(group, click.Group):
        raise click.UsageError("another plugin registered a 'dev' command that is not a group")
    group.add_command(simulate_payer)
    return group


@click.command("simulate-payer")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Folder for the response files (created 0700; files 0600).")  # fmt: skip
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same answers.")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True, dir_okay=False))
def simulate_payer(out_dir: Path, seed: int, files: tuple[Path, ...]) -> None:
    """Answer our 837P FILES with the 999, 277CA and 835 files a
    clearinghouse and payer would send back.

    Per input: a 999 (sets with structural problems rejected) and a 277CA
    (claims accepted; one per run rejected for an invalid member id). Per
    payer, two 835 runs: claims paid in full, with CO-45,
    deductible (PR-1), coinsurance (PR-2) or copay (PR-3), one denied (CO-96,
    RARC N130), a PLB (L6 interest); the second run reverses one payment
    (CLP02 = 22) and pays it again. A primary claim with another coverage
    gets a PR coinsurance; secondary and tertiary claims are paid as such
    (CLP02 = 2/3): OA-23 for what the earlier payers settled (their 2430 or
    2320), 80% of the rest, PR coinsurance for what is left.
    Every file balances and is deterministic for the seed.
    """
    from .simulate import SimulationError
    from .simulate import simulate_payer as run

    try:
        sim = run(list(files), out_dir, seed)
    except (SimulationError, OSError) as exc:
        click.echo(f"simulate-payer: {exc}", err=True)
        sys.exit(1)
    for name in sim.files:
        click.echo(f"wrote {out_dir / name}")
    outcomes = Counter(sim.outcomes.values())
    summary = ", ".join(f"{k} {n}" for k, n in sorted(outcomes.items()))
    paid = sum((r.payment.signed_amount for r in sim.remits if r.payment), start=0)
    click.echo(f"{len(sim.outcomes)} claim(s): {summary}; {len(sim.remits)} remit(s) paying {paid}")


#: ``gateway dev``: listed in the ``gateway.commands`` entry-point group
dev = click.Group("dev", help=DEV_HELP, commands=[simulate_payer])
