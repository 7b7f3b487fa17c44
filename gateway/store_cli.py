"""``gateway store rotate-key``: encryption at rest, key rotation (docs/operations.md#encryption-at-rest)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from gateway.daemon.cli import CONFIG, STORE, _actor, _open
from gateway.store import StoreUnavailable


def register(cli: click.Group) -> None:
    """Add ``store`` to the ``gateway`` group."""

    @cli.group("store")
    def store_group() -> None:
        """The store itself: encryption keys."""

    @store_group.command("rotate-key")
    @CONFIG
    @STORE
    @click.option("--batch", default=200, show_default=True, type=click.IntRange(1, 10_000),
                  help="Rows re-sealed per transaction.")  # fmt: skip
    @click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
    def rotate_key(config: Path, store_url: str | None, batch: int, as_json: bool) -> None:
        """Re-seal every stored row under store.encryption.key (key_id).

        Rows sealed with a key in store.encryption.previous_keys, and rows
        stored in plaintext before encryption was switched on, are opened and
        sealed again under the current key, in batches of --batch rows per
        transaction. Safe to stop (even kill -9) and run again: finished rows
        are skipped. When nothing is left under an older key, that key is
        marked retired and may be removed from the configuration. Audited
        (store-rotate-key, with the counts). Exit 0 when done, 2 when a key
        is missing or wrong (nothing is changed then).
        """
        from gateway.store.rotation import rotate

        store = _open(config, store_url)
        try:
            try:
                done = rotate(store, _actor(), batch=batch)
            except StoreUnavailable as exc:
                click.echo(f"store error: {exc}", err=True)
                sys.exit(2)
        finally:
            store.close()
        if as_json:
            tables = {t: vars(c) for t, c in done.tables.items()}
            click.echo(json.dumps({"key_id": done.key_id, "tables": tables, "retired": done.retired}, indent=2))
            return
        click.echo(f"{'table':<12} {'rows':>10} {'re-sealed':>10} {'already':>10}")
        for table, c in done.tables.items():
            click.echo(f"{table:<12} {c.rows:>10} {c.resealed:>10} {c.current:>10}")
        retired = ", ".join(done.retired) or "none"
        click.echo(f"every row is sealed with key '{done.key_id}'; keys retired: {retired}")
