"""Daemon and operator commands: ``run``, ``status``, ``messages list/show/reprocess``.

Operator commands print the gateway's own identifiers, statuses and findings
(which never carry patient data). What identifies a patient's visit — the
visit number, the claim ids made from it (CLM01), the input's file name — is
shown only with ``--identifiers``; raw bytes and stored encounters only with
``--raw`` / ``--encounter N`` (which include the identifiers). All three are
written to the audit trail with the operator's user name.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import click

from gateway.config import ConfigError, read_config
from gateway.daemon.shapes import message_detail, message_json, status_json, ts
from gateway.store import FILE_NAME, Store, StoreUnavailable, codec_for, open_store
from gateway.store.views import EVERYTHING, MessageQuery, Views

CONFIG = click.option("--config", "config", type=click.Path(path_type=Path, exists=True, dir_okay=False), required=True)
#: stages whose raw bytes nobody needs again (reprocessing needs them: not "claimed" until delivered)
PRUNABLE = ("parsed", "coded", "delivered", "duplicate")


def _warn_password(_ctx: click.Context, _param: click.Parameter, url: str | None) -> str | None:
    """A password in the store URL shows in `ps` and shell history: say so (never echoing it)."""
    if url and (urlsplit(url).password is not None or re.search(r"\bpassword\s*=", url)):
        click.echo(
            "warning: --store carries a password, which other users see in `ps` and which stays in shell history; "
            "put it in a password file (PGPASSFILE, default ~/.pgpass, mode 0600) or in PGPASSWORD "
            "(e.g. a systemd EnvironmentFile=) and leave it out of the URL",
            err=True,
        )
    return url


STORE = click.option(
    "--store", "store_url", callback=_warn_password,
    help="Store URL or path (default: <state_dir>/gateway.sqlite); no password in it: use PGPASSFILE or PGPASSWORD.",
)  # fmt: skip


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
        return open_store(
            store_url or str(loaded.state_dir / FILE_NAME), loaded.base_dir, loaded.state_dir, codec_for(loaded)
        )
    except StoreUnavailable as exc:  # names host, port and database, never a password
        click.echo(f"store error: {exc}", err=True)
        sys.exit(2)


_ts = ts


def _date(value: str | None) -> float | None:
    if value is None:
        return None
    return datetime.fromisoformat(value).replace(tzinfo=datetime.fromisoformat(value).tzinfo or UTC).timestamp()


def register(cli: click.Group) -> None:
    """Add the daemon's commands to the ``gateway`` group."""

    @cli.command()
    @CONFIG
    @click.option("--workers", type=int, default=1, show_default=True, help="Worker processes (0: one thread).")
    @STORE
    @click.option("--http", help="Serve the console, JSON API, HTTP intake, /healthz and /metrics on HOST:PORT.")
    @click.option("--insecure-http", is_flag=True, help="Allow a non-loopback --http address without TLS.")
    @click.option("--batch", type=int, default=64, show_default=True,
                  help="Messages a worker claims at once (up to 2 MB of them: large files one at a time).")  # fmt: skip
    @click.option("--lease", type=float, default=60.0, show_default=True, help="Seconds a claim is held.")
    @click.option("--log-level", default="info", show_default=True)
    @click.option("--delivery/--no-delivery", default=True, show_default=True,
                  help="Batch claims and statements into the outbox and deliver it (docs/delivery.md).")  # fmt: skip
    @click.option("--statements-every", type=float, default=3600.0, show_default=True, metavar="SECONDS",
                  help="How often to look for each clinic's daily statement run (0: never).")  # fmt: skip
    @click.option("--init", "as_init", is_flag=True,
                  help="Run a minimal init in front of the service that reaps orphaned processes "
                       "(automatic when gateway run is PID 1).")  # fmt: skip
    def run(config: Path, workers: int, store_url: str | None, http: str | None, insecure_http: bool, batch: int,
            lease: float, log_level: str, delivery: bool, statements_every: float,
            as_init: bool) -> None:  # fmt: skip
        """Run the gateway service: sources, journal and workers, until SIGTERM/SIGINT.

        SIGHUP (or `gateway reload`) re-reads and validates the configuration and
        swaps it in without a restart."""
        if as_init or os.getpid() == 1:
            from gateway.daemon.reaper import become_init

            become_init()  # returns in the child, which runs the service
        from gateway.daemon import DaemonOptions
        from gateway.daemon import run as run_daemon
        from gateway.plugins import PluginError
        from gateway.worker import WorkerSettings

        options = DaemonOptions(
            workers=workers, store=store_url, http=http, insecure_http=insecure_http,
            worker=WorkerSettings(batch=batch, lease=lease),
            log_level=log_level, delivery=delivery, statements_every=statements_every,
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
        except ValueError as exc:  # the HTTP listener refused its address
            click.echo(str(exc), err=True)
            sys.exit(2)
        except OSError as exc:  # a source cannot listen (port in use) or a folder cannot be made
            click.echo(f"cannot start a source: {exc}", err=True)
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
        out = status_json(counts, oldest, unfinished, items)
        if as_json:
            click.echo(json.dumps(out, indent=2))
            return
        busy, held = out["in_progress"]["by_status"], out["held"]
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
    @click.option("--rule", help="Only messages with an error finding of this rule id (message or encounter level).")
    @click.option("--control-id", help="The sender's control id (MSH-10, Bundle id).")
    @click.option("--since", help="Received at or after (ISO date or time, UTC).")
    @click.option("--until", help="Received before (ISO date or time, UTC).")
    @click.option("--before", "before_id", type=int, help="Only ids below this (the next page: the last id shown).")
    @click.option("--limit", type=int, default=50, show_default=True)
    @click.option("--json", "as_json", is_flag=True)
    def list_(config: Path, store_url: str | None, message_id: int | None, status: str | None, clinic: str | None,
              rule: str | None, control_id: str | None, since: str | None, until: str | None, before_id: int | None,
              limit: int, as_json: bool) -> None:  # fmt: skip
        """List messages, newest first, with the rule ids that quarantined them."""
        with _open(config, store_url) as store:
            views = Views(store)  # type: ignore[arg-type]
            if message_id is not None:
                row = store.message(message_id)
                rows = [row] if row is not None else []
            else:
                q = MessageQuery(clinic, status, _date(since), _date(until), control_id, rule, before_id, limit)
                rows = views.messages(EVERYTHING, q)
            rules = views.rules([r.id for r in rows])
        if as_json:
            click.echo(json.dumps([message_json(r, rules[r.id]) for r in rows], indent=2))
            return
        click.echo(
            f"{'id':>8}  {'received (UTC)':<19}  {'clinic':<12} {'status':<11} {'format':<12} {'control id':<20} rules"
        )
        for r in rows:
            click.echo(
                f"{r.id:>8}  {_ts(r.received_at):<19}  {r.clinic_id or '-':<12} {r.status:<11} {r.format or '-':<12} "
                f"{(r.control_id or '-')[:20]:<20} {','.join(rules[r.id])}"
            )

    @messages.command()
    @CONFIG
    @STORE
    @click.argument("message_id", type=int)
    @click.option(
        "--identifiers", is_flag=True, help="Also print visit numbers, claim ids and the file name (audited)."
    )
    @click.option("--raw", is_flag=True, help="Also print the raw message (patient data; audited).")
    @click.option(
        "--encounter", "encounter_idx", type=int, help="Print stored encounter N as JSON (patient data; audited)."
    )
    @click.option("--json", "as_json", is_flag=True)
    def show(config: Path, store_url: str | None, message_id: int, identifiers: bool, raw: bool,
             encounter_idx: int | None, as_json: bool) -> None:  # fmt: skip
        """Show one message: status, findings, encounters, claims and audit trail."""
        identifiers = identifiers or raw or encounter_idx is not None
        with _open(config, store_url) as store:
            row = store.message(message_id)
            if row is None:
                click.echo(f"no message {message_id}", err=True)
                sys.exit(1)
            rules = Views(store).rules([row.id])[row.id]  # type: ignore[arg-type]
            out = message_detail(store, row, rules, _actor(), raw, encounter_idx, identifiers=identifiers)
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
            if identifiers:
                claims = ", ".join(c["clm01"] for c in e["claims"]) or "-"
                click.echo(f"encounter {e['idx']}: visit {e['visit'] or '-'} {e['status']} claims: {claims}")
            else:
                claims = ", ".join(c["status"] for c in e["claims"]) or "-"
                click.echo(f"encounter {e['idx']}: {e['status']} claims: {len(e['claims'])} ({claims})")
            for f in e["findings"]:
                click.echo(
                    f"    {f.get('severity'):<8} {f.get('rule'):<24} {f.get('location') or '':<16} {f.get('message')}"
                )
        click.echo("audit:")
        for a in out["audit"]:
            click.echo(f"  {a['at']}  {a['actor']:<28} {a['action']:<14} {json.dumps(a['detail'])}")
        if not identifiers:
            click.echo("(visit numbers, claim ids and the file name: --identifiers, audited)")
        if raw:
            click.echo("raw:\n" + out["raw"].replace("\r", "\n"))
        if encounter_idx is not None:
            click.echo("encounter:\n" + json.dumps(out["encounter"], indent=2))

    @messages.command()
    @CONFIG
    @STORE
    @click.argument("message_ids", type=int, nargs=-1)
    @click.option("--rule", help="Every quarantined message of --clinic with an error of this rule id.")
    @click.option("--clinic", help="With --rule: the clinic (required; one clinic at a time).")
    @click.option("--dry-run", is_flag=True, help="With --rule: only count them.")
    @click.option("--reason", default="", help="Why (kept in the audit trail).")
    def reprocess(config: Path, store_url: str | None, message_ids: tuple[int, ...], rule: str | None,
                  clinic: str | None, dry_run: bool, reason: str) -> None:  # fmt: skip
        """Put messages back in the work queue (claims not yet batched are rebuilt).

        Give message ids, or --rule R --clinic C for every quarantined message
        of clinic C that rule R quarantined (after fixing the config and
        `gateway reload`); --dry-run counts them first."""
        if bool(message_ids) == bool(rule):
            click.echo("give message ids, or --rule with --clinic", err=True)
            sys.exit(2)
        if rule and not clinic:
            click.echo("--rule needs --clinic", err=True)
            sys.exit(2)
        failed = 0
        with _open(config, store_url) as store:
            if rule:
                views = Views(store)  # type: ignore[arg-type]
                if dry_run:
                    n = len(views.quarantined_with_rule(EVERYTHING, clinic, rule))
                    click.echo(f"would reprocess {n} quarantined message(s) of clinic {clinic} with rule {rule}")
                    return
                done = views.reprocess_rule(EVERYTHING, clinic, rule, _actor(), reason)
                click.echo(f"queued {len(done)} message(s) of clinic {clinic} with rule {rule} for reprocessing")
                return
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
