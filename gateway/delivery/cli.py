"""Operator commands for the outbox: ``gateway outbox list|show|retry``.

They print identifiers, destinations, file names (which carry no patient
data), states and the last error (transport errors never quote content).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from gateway.daemon.cli import CONFIG, STORE, _actor, _open, _ts
from gateway.daemon.shapes import outbox_json


def register(cli: click.Group) -> None:
    """Add ``outbox`` to the ``gateway`` group."""

    @cli.group()
    def outbox() -> None:
        """Documents waiting for, in, or past delivery; dead letters."""

    @outbox.command("list")
    @CONFIG
    @STORE
    @click.option("--status", type=click.Choice(["pending", "delivered", "dead"]))
    @click.option("--destination")
    @click.option("--limit", type=int, default=50, show_default=True)
    @click.option("--json", "as_json", is_flag=True)
    def list_(config: Path, store_url: str | None, status: str | None, destination: str | None, limit: int,
              as_json: bool) -> None:  # fmt: skip
        """List outbox documents, newest first, with attempts and the last error."""
        with _open(config, store_url) as store:
            rows = store.outbox_list(status, destination, limit)
        if as_json:
            click.echo(json.dumps([outbox_json(r) for r in rows], indent=2))
            return
        click.echo(f"{'id':>6}  {'status':<9} {'destination':<16} {'tries':>5} {'items':>5}  {'next try (UTC)':<19}  "
                   "name / last error")  # fmt: skip
        for r in rows:
            when = _ts(r.next_attempt) if r.status == "pending" else "-"
            click.echo(
                f"{r.id:>6}  {r.status:<9} {r.destination:<16} {r.attempts:>5} {r.items:>5}  {when:<19}  {r.name}"
            )
            if r.last_error and r.status != "delivered":
                click.echo(f"{'':>8}last error: {r.last_error}")

    @outbox.command()
    @CONFIG
    @STORE
    @click.argument("outbox_id", type=int)
    def show(config: Path, store_url: str | None, outbox_id: int) -> None:
        """One outbox document as JSON (without its content)."""
        with _open(config, store_url) as store:
            row = store.outbox_row(outbox_id)
        if row is None:
            click.echo(f"no outbox document {outbox_id}", err=True)
            sys.exit(1)
        click.echo(json.dumps(outbox_json(row), indent=2))

    @outbox.command()
    @CONFIG
    @STORE
    @click.argument("ids", type=int, nargs=-1)
    @click.option("--all-dead", is_flag=True, help="Every dead letter.")
    def retry(config: Path, store_url: str | None, ids: tuple[int, ...], all_dead: bool) -> None:
        """Bring dead letters back: due now, attempts counted afresh (audited).

        A running daemon delivers them on its next pass."""
        if bool(ids) == all_dead:
            click.echo("give outbox ids or --all-dead", err=True)
            sys.exit(2)
        with _open(config, store_url) as store:
            done = store.outbox_retry(None if all_dead else list(ids), _actor())
        for i in done:
            click.echo(f"outbox {i}: queued for delivery")
        missing = sorted(set(ids) - set(done))
        for i in missing:
            click.echo(f"outbox {i}: not found or not a dead letter", err=True)
        if not done and all_dead:
            click.echo("no dead letters")
        if missing:
            sys.exit(1)
