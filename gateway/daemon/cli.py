"""Daemon and operator commands: ``run``, ``status``, ``messages list/show/reprocess``.

Operator commands print identifiers, statuses and findings (which never
carry patient data); raw bytes and stored encounters are shown only with
``--raw`` / ``--encounter N``, and that viewing is written to the audit trail.
"""

from __future__ import annotations

import getpass
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from gateway.config import ConfigError, read_config
from gateway.store import FILE_NAME, IN_PROGRESS, MessageFilter, MessageRow, Store, StoreUnavailable, open_store

CONFIG = click.option("--config", "config", type=click.Path(path_type=Path, exists=True, dir_okay=False), required=True)
#: stages whose raw bytes nobody needs again (reprocessing needs them: not "claimed" until delivered)
PRUNABLE = ("parsed", "coded", "delivered", "duplicate")
STORE = click.option("--store", "store_url", help="Store URL or path (default: <state_dir>/gateway.sqlite).")


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return "cli"


def _open(config: Path, store_url: str | None) -> Store:
    try:
        loaded = read_config(config)
    except ConfigError as exc:
        click.echo("configuration errors:\n" + "\n".join(f"  {p}" for p in exc.problems), err=True)
        sys.exit(2)
    try:
        return open_store(store_url or str(loaded.state_dir / FILE_NAME), loaded.base_dir, loaded.state_dir)
    except StoreUnavailable as exc:  # names host, port and database, never a password
        click.echo(f"store error: {exc}", err=True)
        sys.exit(2)


def _ts(t: float | None) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S") if t else "-"


def _date(value: str | None) -> float | None:
    if value is None:
        return None
    return datetime.fromisoformat(value).replace(tzinfo=datetime.fromisoformat(value).tzinfo or UTC).timestamp()


def _row_dict(r: MessageRow) -> dict[str, Any]:
    d = dict(r.__dict__)
    for k in ("received_at", "updated_at", "processed_at"):
        d[k] = _ts(d[k]) if d[k] else None
    return d


def register(cli: click.Group) -> None:
    """Add the daemon's commands to the ``gateway`` group."""

    @cli.command()
    @CONFIG
    @click.option("--workers", type=int, default=1, show_default=True, help="Worker processes (0: one thread).")
    @STORE
    @click.option("--http", help="Serve /healthz and /metrics on HOST:PORT (e.g. 127.0.0.1:9464).")
    @click.option("--batch", type=int, default=64, show_default=True, help="Messages a worker claims at once.")
    @click.option("--lease", type=float, default=60.0, show_default=True, help="Seconds a claim is held.")
    @click.option("--log-level", default="info", show_default=True)
    @click.option("--delivery/--no-delivery", default=True, show_default=True,
                  help="Batch claims and statements into the outbox and deliver it (docs/delivery.md).")  # fmt: skip
    def run(config: Path, workers: int, store_url: str | None, http: str | None, batch: int, lease: float,
            log_level: str, delivery: bool) -> None:  # fmt: skip
        """Run the gateway service: sources, journal and workers, until SIGTERM/SIGINT."""
        from gateway.daemon import DaemonOptions
        from gateway.daemon import run as run_daemon
        from gateway.plugins import PluginError
        from gateway.worker import WorkerSettings

        options = DaemonOptions(
            workers=workers, store=store_url, http=http, worker=WorkerSettings(batch=batch, lease=lease),
            log_level=log_level, delivery=delivery,
        )  # fmt: skip
        try:
            run_daemon(config, options)
        except ConfigError as exc:
            click.echo("configuration errors:\n" + "\n".join(f"  {p}" for p in exc.problems), err=True)
            sys.exit(2)
        except PluginError as exc:
            click.echo(f"plugin error: {exc}", err=True)
            sys.exit(2)
        except StoreUnavailable as exc:
            click.echo(f"store error: {exc}", err=True)
            sys.exit(2)

    @cli.command()
    @CONFIG
    @STORE
    @click.option("--json", "as_json", is_flag=True)
    def status(config: Path, store_url: str | None, as_json: bool) -> None:
        """Messages per clinic and stage; every message not yet final (waiting
        for a worker, or with claims or statements not yet delivered) and the
        oldest of them; claims and statements held for an operator."""
        with _open(config, store_url) as store:
            counts = store.counts()
            oldest = store.oldest_pending()
            unfinished = store.oldest_in_progress()
            items = store.submission_counts()
        busy = {s: sum(n for _, st, n in counts if st == s) for s in sorted(IN_PROGRESS)}
        held = {k: sum(n for kind, _, st, n in items if kind == k and st == "held") for k in ("claims", "statements")}
        if as_json:
            out = {
                "counts": [{"clinic": c, "status": s, "messages": n} for c, s, n in counts],
                "oldest_pending": _ts(oldest) if oldest else None,
                "oldest_pending_age_seconds": round(time.time() - oldest, 1) if oldest else None,
                "in_progress": {
                    "messages": sum(busy.values()),
                    "by_status": busy,
                    "oldest": _ts(unfinished) if unfinished else None,
                    "oldest_age_seconds": round(time.time() - unfinished, 1) if unfinished else None,
                },
                "held": held,
            }
            click.echo(json.dumps(out, indent=2))
            return
        statuses = sorted({s for _, s, _ in counts})
        clinics = sorted({c or "(unrouted)" for c, _, _ in counts})
        table = {(c or "(unrouted)", s): n for c, s, n in counts}
        width = max([len(c) for c in clinics] + [6])
        click.echo(f"{'clinic':<{width}}  " + "  ".join(f"{s:>11}" for s in statuses))
        for c in clinics:
            click.echo(f"{c:<{width}}  " + "  ".join(f"{table.get((c, s), 0):>11}" for s in statuses))
        if unfinished:
            parts = ", ".join(f"{s} {n}" for s, n in busy.items())
            click.echo(f"\nin progress: {sum(busy.values())} message(s) ({parts}); oldest received {_ts(unfinished)} "
                       f"UTC ({time.time() - unfinished:.0f} s ago)")  # fmt: skip
        else:
            click.echo("\nnothing in progress")
        if oldest:
            click.echo(f"waiting for a worker since {_ts(oldest)} UTC ({time.time() - oldest:.0f} s)")
        if any(held.values()):
            click.echo(f"held for an operator: {held['claims']} claim(s), {held['statements']} statement(s) — "
                       "gateway claims list --status held / gateway statements list --status held")  # fmt: skip

    @cli.group()
    def messages() -> None:
        """Find, inspect and reprocess stored messages."""

    @messages.command("list")
    @CONFIG
    @STORE
    @click.option("--id", "message_id", type=int)
    @click.option("--status")
    @click.option("--clinic")
    @click.option("--since", help="Received at or after (ISO date or time, UTC).")
    @click.option("--until", help="Received before (ISO date or time, UTC).")
    @click.option("--limit", type=int, default=50, show_default=True)
    @click.option("--json", "as_json", is_flag=True)
    def list_(config: Path, store_url: str | None, message_id: int | None, status: str | None, clinic: str | None,
              since: str | None, until: str | None, limit: int, as_json: bool) -> None:  # fmt: skip
        """List messages, newest first."""
        flt = MessageFilter(message_id, status, clinic, _date(since), _date(until), limit)
        with _open(config, store_url) as store:
            rows = store.list_messages(flt)
        if as_json:
            click.echo(json.dumps([_row_dict(r) for r in rows], indent=2))
            return
        click.echo(
            f"{'id':>8}  {'received (UTC)':<19}  {'clinic':<12} {'status':<11} {'format':<12} {'control id':<20} rules"
        )
        for r in rows:
            rules = ",".join(sorted({f["rule"] for f in r.findings if f.get("severity") == "error"}))
            click.echo(
                f"{r.id:>8}  {_ts(r.received_at):<19}  {r.clinic_id or '-':<12} {r.status:<11} {r.format or '-':<12} "
                f"{(r.control_id or '-')[:20]:<20} {rules}"
            )

    @messages.command()
    @CONFIG
    @STORE
    @click.argument("message_id", type=int)
    @click.option("--raw", is_flag=True, help="Also print the raw message (patient data; audited).")
    @click.option(
        "--encounter", "encounter_idx", type=int, help="Print stored encounter N as JSON (patient data; audited)."
    )
    @click.option("--json", "as_json", is_flag=True)
    def show(config: Path, store_url: str | None, message_id: int, raw: bool, encounter_idx: int | None,
             as_json: bool) -> None:  # fmt: skip
        """Show one message: status, findings, encounters, claims and audit trail."""
        with _open(config, store_url) as store:
            row = store.message(message_id)
            if row is None:
                click.echo(f"no message {message_id}", err=True)
                sys.exit(1)
            out: dict[str, Any] = _row_dict(row)
            out["encounters"] = store.encounters(message_id)
            out["audit"] = [
                {"at": _ts(a.at), "actor": a.actor, "action": a.action, "detail": a.detail}
                for a in store.audit_trail(message_id)
            ]
            if raw:
                store.add_audit(message_id, _actor(), "viewed-raw")
                out["raw"] = (store.raw(message_id) or b"").decode("utf-8", "replace")
            if encounter_idx is not None:
                store.add_audit(message_id, _actor(), "viewed-encounter", {"idx": encounter_idx})
                out["encounter"] = store.encounter_json(message_id, encounter_idx)
        if as_json:
            click.echo(json.dumps(out, indent=2))
            return
        for key in ("id", "status", "clinic_id", "source", "name", "format", "sender", "control_id", "message_type",
                    "sha256", "size", "attempts", "received_at", "processed_at", "claimed_by"):  # fmt: skip
            click.echo(f"{key:<13} {out[key] if out[key] is not None else '-'}")
        click.echo("findings:")
        for f in row.findings:
            click.echo(f"  {f.get('severity'):<8} {f.get('rule'):<24} {f.get('location') or '':<16} {f.get('message')}")
        for e in out["encounters"]:
            claims = ", ".join(c["clm01"] for c in e["claims"]) or "-"
            click.echo(f"encounter {e['idx']}: visit {e['visit'] or '-'} {e['status']} claims: {claims}")
            for f in e["findings"]:
                click.echo(
                    f"    {f.get('severity'):<8} {f.get('rule'):<24} {f.get('location') or '':<16} {f.get('message')}"
                )
        click.echo("audit:")
        for a in out["audit"]:
            click.echo(f"  {a['at']}  {a['actor']:<28} {a['action']:<14} {json.dumps(a['detail'])}")
        if raw:
            click.echo("raw:\n" + out["raw"].replace("\r", "\n"))
        if encounter_idx is not None:
            click.echo("encounter:\n" + json.dumps(out["encounter"], indent=2))

    @messages.command()
    @CONFIG
    @STORE
    @click.argument("message_ids", type=int, nargs=-1, required=True)
    @click.option("--reason", default="", help="Why (kept in the audit trail).")
    def reprocess(config: Path, store_url: str | None, message_ids: tuple[int, ...], reason: str) -> None:
        """Put messages back in the work queue (claims not yet batched are rebuilt)."""
        failed = 0
        with _open(config, store_url) as store:
            for mid in message_ids:
                if store.reprocess(mid, _actor(), reason):
                    click.echo(f"message {mid}: queued for reprocessing")
                else:
                    failed += 1
                    click.echo(f"message {mid}: not found, or its claims are already batched", err=True)
        if failed:
            sys.exit(1)

    @messages.command()
    @CONFIG
    @STORE
    @click.option("--older-than", "days", type=float, required=True, help="Processed more than DAYS days ago.")
    @click.option(
        "--status", "statuses", multiple=True, default=PRUNABLE, show_default=True,
        help="Stages whose raw bytes may go (repeat; quarantined/dead only if you insist).",
    )  # fmt: skip
    @click.option("--archive", type=click.Path(path_type=Path, file_okay=False), help="First write them to DIR.")
    @click.option("--limit", type=int, help="At most N messages in this run.")
    @click.option("--dry-run", is_flag=True, help="Only count what would be pruned.")
    def prune(config: Path, store_url: str | None, days: float, statuses: tuple[str, ...], archive: Path | None,
              limit: int | None, dry_run: bool) -> None:  # fmt: skip
        """Remove raw bytes of old processed messages; hashes, metadata, claims and audit stay."""
        from gateway.store.retention import Archive

        cutoff = time.time() - days * 86400
        with _open(config, store_url) as store:
            if dry_run:
                n, size = store.prune_count(cutoff, statuses)
                click.echo(f"would prune {n} message(s), {size} bytes")
                return
            sink = Archive(archive) if archive else None
            try:
                done = store.prune(cutoff, statuses, _actor(), limit, sink)
            finally:
                if sink:
                    sink.close()
        where = f", archived to {sink.path}" if sink and done.ids else ""
        click.echo(f"pruned {len(done.ids)} message(s), {done.bytes} bytes{where}")
