"""``gateway statements run``: the statement cycle once, for one clinic or
all, on a date (:mod:`gateway.statement_runs`; the daemon runs it daily).

Output names accounts, actions, reasons, amounts and document names, never
patient data. Exit 1 when an account could not be stated (its ledger
disagrees with itself, no stored encounter names its guarantor) or, with
``--deliver``, a document could not be delivered."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

import click

from gateway.daemon.cli import CONFIG, STORE, _actor, _open
from gateway.remits_cli import _as_of


@click.command("run")
@CONFIG
@STORE
@click.option("--clinic", help="Only this clinic (default: every clinic).")
@click.option("--as-of", "as_of", callback=_as_of, metavar="DATE",
              help="Run for this day (YYYY-MM-DD, UTC; default today).")  # fmt: skip
@click.option("--deliver", is_flag=True,
              help="Then deliver the outbox's due documents once, as the daemon would.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="JSON (amounts as strings with two decimals).")
def run(config: Path, store_url: str | None, clinic: str | None, as_of: date, deliver: bool, as_json: bool) -> None:
    """Run the statement cycle once: for every guarantor account with a
    balance, a statement when the cycle is due or the balance changed,
    dunning wording by age, the final notice, the collections export, and
    small balances written off (settings.statements.cycle; docs/statements.md).
    The documents go to the outbox for the clinic's statements_to (and
    collections_to). Running it again for the same date adds nothing."""
    from gateway.app import Gateway
    from gateway.commands import Exit, fail
    from gateway.statement_runs import RunError, outcome_json, run_all

    gw = Gateway.from_config(config)
    if clinic is not None and clinic not in gw.clinics:
        fail(f"clinic {clinic} is not configured")
    with _open(config, store_url) as store:
        try:
            runs = run_all(gw, store, as_of, _actor(), clinic)
        except RunError as exc:
            fail(str(exc))
        delivered = _deliver(gw, store) if deliver else None
    out = [outcome_json(r) for r in runs]
    failed = any(a["action"] == "failed" for r in out for a in r["accounts"])
    if as_json:
        body: dict[str, Any] = {"as_of": as_of.isoformat(), "runs": out}
        if delivered is not None:
            body["delivered"], body["delivery_failed"] = delivered
        click.echo(json.dumps(body, indent=2))
    else:
        for r in out:
            counts = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(r["counts"].items())) or "no accounts"
            click.echo(f"{r['clinic']} {r['run_date']}: {counts}; {len(r['documents'])} document(s) to the outbox")
            for a in r["accounts"]:
                doc = f"  {a['document']}" if a["document"] else ""
                click.echo(f"  {a['account']:<16} {a['action']:<13} {a['total_due']:>10}  {a['reason']}{doc}")
        if delivered is not None:
            click.echo(f"outbox: {delivered[0]} document(s) delivered, {delivered[1]} failed (gateway outbox list)")
    if failed or (delivered is not None and delivered[1]):
        sys.exit(Exit.FAILED)


def _deliver(gw: Any, store: Any) -> tuple[int, int]:
    """Deliver the outbox's due documents: (delivered, failed)."""
    from gateway.delivery.dispatcher import deliver_due

    result = deliver_due(gw, store)
    return result.delivered, result.retried + result.dead


def register(cli: click.Group) -> None:
    """Add ``run`` to the ``statements`` group."""
    statements = cli.commands.get("statements")
    if not isinstance(statements, click.Group):
        raise RuntimeError("register the statements commands before their run")
    statements.add_command(run)
