"""``gateway console``, ``gateway reload``, ``gateway users …`` and ``gateway tokens …``."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import click

from gateway import logging as glog
from gateway.daemon.cli import CONFIG, STORE, _actor, _open, _ts
from gateway.store.users import ALL_CLINICS, ROLES, SCOPES, Accounts

log = glog.get("console")


def _password(prompt: bool, from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return click.prompt("password", hide_input=True, confirmation_prompt=True) if prompt else ""


def _serve(config: Path, store_url: str | None, http: str, insecure_http: bool, log_level: str) -> None:
    from gateway.console.server import ConsoleContext, ReloadResult, WebServer, build_app
    from gateway.daemon import reload as reloading
    from gateway.daemon import store_url as default_url
    from gateway.store import StoreUnavailable, codec_for, open_store

    glog.setup(log_level)
    loaded = reloading.load(config)
    if loaded.gateway is None:
        click.echo("configuration errors:\n" + "\n".join(f"  {p}" for p in loaded.problems), err=True)
        sys.exit(2)
    holder = {"gw": loaded.gateway}
    try:
        store = open_store(
            default_url(loaded.gateway, store_url), loaded.gateway.loaded.base_dir,
            codec=codec_for(loaded.gateway.loaded),
        )  # fmt: skip
    except StoreUnavailable as exc:  # a key that does not match the store, a database that is not there
        click.echo(f"store error: {exc}", err=True)
        sys.exit(2)

    async def reload(actor: str, ip: str | None) -> ReloadResult:
        loop = asyncio.get_running_loop()
        new = await loop.run_in_executor(None, reloading.load, config)
        if new.gateway is None:
            await loop.run_in_executor(None, reloading.refused, store, actor, new.problems, ip)
            return ReloadResult(False, new.problems)
        warnings = reloading.restart_needed(holder["gw"], new.gateway)
        holder["gw"] = new.gateway
        gen = await loop.run_in_executor(None, reloading.announce, store, new.gateway, actor, ip)
        return ReloadResult(True, [], warnings, gen)

    async def main() -> None:
        gw = holder["gw"]
        tls = gw.config.console.tls
        base = gw.loaded.base_dir
        ctx = ConsoleContext(gateway=lambda: holder["gw"], store=store, reload=reload, tls=tls is not None)  # type: ignore[arg-type]
        server = WebServer(build_app(ctx), http, (base / tls.cert, base / tls.key) if tls else None, insecure_http)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(reload("signal:SIGHUP", None)))
        await server.start()
        glog.event(log, "console.ready", port=server.port)
        await stop.wait()
        await server.stop()

    try:
        asyncio.run(main())
    except ValueError as exc:  # refused bind
        click.echo(str(exc), err=True)
        sys.exit(2)
    finally:
        store.close()


def register(cli: click.Group) -> None:
    """Add the console's commands to the ``gateway`` group."""

    @cli.command()
    @CONFIG
    @STORE
    @click.option("--http", required=True, help="Listen on HOST:PORT (e.g. 127.0.0.1:8443).")
    @click.option(
        "--insecure-http", is_flag=True, help="Allow a non-loopback address without TLS (behind a TLS proxy)."
    )
    @click.option("--log-level", default="info", show_default=True)
    def console(config: Path, store_url: str | None, http: str, insecure_http: bool, log_level: str) -> None:
        """Serve the web console and JSON API alone against the store (no sources,
        no workers; `gateway run --http` serves them too). Users: `gateway users add`."""
        _serve(config, store_url, http, insecure_http, log_level)

    @cli.command()
    @CONFIG
    @STORE
    def reload(config: Path, store_url: str | None) -> None:
        """Validate gateway.yaml and its mapping files, then tell every running
        daemon and worker on this store to swap them in (before their next claim).

        A config with errors is refused with them; the running one stays.
        SIGHUP to a daemon and the console's button do the same."""
        from gateway.daemon import reload as reloading

        loaded = reloading.load(config)
        with _open(config, store_url) as store:
            if loaded.gateway is None:
                reloading.refused(store, _actor(), loaded.problems)  # type: ignore[arg-type]
                click.echo("configuration errors (the running configuration stays):", err=True)
                click.echo("\n".join(f"  {p}" for p in loaded.problems), err=True)
                sys.exit(2)
            gen = reloading.announce(store, loaded.gateway, _actor())  # type: ignore[arg-type]
        click.echo(f"{config}: OK; config generation {gen} announced to the daemons and workers of this store")

    @cli.group()
    def users() -> None:
        """Console users: viewer (no patient data), operator (patient data,
        reprocess, retry, reload), admin (also configuration, users, audit)."""

    @users.command("add")
    @CONFIG
    @STORE
    @click.argument("username")
    @click.option("--role", type=click.Choice(ROLES), required=True)
    @click.option("--clinic", "clinics", multiple=True, help="A clinic the user may see (repeat).")
    @click.option("--all-clinics", is_flag=True, help="Every clinic, present and future.")
    @click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
    def users_add(config: Path, store_url: str | None, username: str, role: str, clinics: tuple[str, ...],
                  all_clinics: bool, password_stdin: bool) -> None:  # fmt: skip
        """Add a user (the password is asked twice, or read with --password-stdin)."""
        from gateway.console.auth import hash_password

        if bool(clinics) == all_clinics:
            click.echo("give --clinic (repeatable) or --all-clinics", err=True)
            sys.exit(2)
        try:
            hashed = hash_password(_password(True, password_stdin))
        except ValueError as exc:
            click.echo(str(exc), err=True)
            sys.exit(2)
        with _open(config, store_url) as store:
            acc = Accounts(store)  # type: ignore[arg-type]
            try:
                acc.add_user(username, hashed, role, [ALL_CLINICS] if all_clinics else list(clinics))
            except ValueError as exc:
                click.echo(str(exc), err=True)
                sys.exit(1)
            acc.audit(_actor(), "user-added", {"user": username, "role": role, "clinics": list(clinics) or ["*"]})
        click.echo(f"user {username} added ({role})")

    @users.command("list")
    @CONFIG
    @STORE
    @click.option("--json", "as_json", is_flag=True)
    def users_list(config: Path, store_url: str | None, as_json: bool) -> None:
        """List users (never their password hashes)."""
        with _open(config, store_url) as store:
            rows = Accounts(store).users()  # type: ignore[arg-type]
        if as_json:
            click.echo(json.dumps([u.public() for u in rows], indent=2))
            return
        for u in rows:
            state = "disabled" if u.disabled else ("locked" if u.locked_until else "active")
            click.echo(
                f"{u.username:<20} {u.role:<9} {state:<9} {','.join(u.clinics):<30} last login {_ts(u.last_login_at)}"
            )

    @users.command("disable")
    @CONFIG
    @STORE
    @click.argument("username")
    @click.option("--enable", is_flag=True, help="Enable again instead.")
    def users_disable(config: Path, store_url: str | None, username: str, enable: bool) -> None:
        """Disable a user (their sessions end at once), or --enable them again."""
        with _open(config, store_url) as store:
            acc = Accounts(store)  # type: ignore[arg-type]
            if not acc.set_disabled(username, not enable):
                click.echo(f"no user {username}", err=True)
                sys.exit(1)
            acc.audit(_actor(), "user-enabled" if enable else "user-disabled", {"user": username})
        click.echo(f"user {username} {'enabled' if enable else 'disabled'}")

    @users.command("reset-password")
    @CONFIG
    @STORE
    @click.argument("username")
    @click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
    def users_reset(config: Path, store_url: str | None, username: str, password_stdin: bool) -> None:
        """Set a new password (clears a lockout; the user's sessions end)."""
        from gateway.console.auth import hash_password

        try:
            hashed = hash_password(_password(True, password_stdin))
        except ValueError as exc:
            click.echo(str(exc), err=True)
            sys.exit(2)
        with _open(config, store_url) as store:
            acc = Accounts(store)  # type: ignore[arg-type]
            if not acc.set_password(username, hashed):
                click.echo(f"no user {username}", err=True)
                sys.exit(1)
            acc.audit(_actor(), "password-reset", {"user": username})
        click.echo(f"password of {username} reset")

    @cli.group()
    def tokens() -> None:
        """Bearer tokens for the JSON API (read, operate) and the HTTP intake (intake)."""

    @tokens.command("create")
    @CONFIG
    @STORE
    @click.option("--scope", type=click.Choice(SCOPES), required=True)
    @click.option("--clinic", help="Limit to one clinic (required for intake: the sender's clinic).")
    @click.option("--name", default=None, help="Who uses it (an intake token's sender label). Default: the scope.")
    @click.option("--expires", "days", type=float, help="Days until it stops working (default: never).")
    def tokens_create(config: Path, store_url: str | None, scope: str, clinic: str | None, name: str | None,
                      days: float | None) -> None:  # fmt: skip
        """Create a token and print it once (only its hash is stored)."""
        from gateway.console.auth import new_token

        with _open(config, store_url) as store:
            acc = Accounts(store)  # type: ignore[arg-type]
            try:
                text, tid = new_token(acc, name or scope, scope, clinic, _actor(), days)
            except ValueError as exc:
                click.echo(str(exc), err=True)
                sys.exit(2)
            acc.audit(
                _actor(), "token-created", {"token": tid, "scope": scope, "name": name or scope}, clinic_id=clinic
            )
        click.echo(text)
        click.echo(f"token {tid} ({scope}{', clinic ' + clinic if clinic else ''}); shown once: keep it", err=True)

    @tokens.command("list")
    @CONFIG
    @STORE
    @click.option("--json", "as_json", is_flag=True)
    def tokens_list(config: Path, store_url: str | None, as_json: bool) -> None:
        """List tokens (never their secrets)."""
        with _open(config, store_url) as store:
            rows = Accounts(store).tokens()  # type: ignore[arg-type]
        if as_json:
            click.echo(json.dumps([t.public() for t in rows], indent=2))
            return
        for t in rows:
            state = "revoked" if t.revoked_at else ("expires " + _ts(t.expires_at) if t.expires_at else "no expiry")
            click.echo(f"{t.id:>4}  gw_{t.prefix}_…  {t.scope:<8} {t.clinic_id or '(all)':<12} {t.name:<20} {state}")

    @tokens.command("revoke")
    @CONFIG
    @STORE
    @click.argument("token_id", type=int)
    def tokens_revoke(config: Path, store_url: str | None, token_id: int) -> None:
        """Revoke a token (it stops working at once)."""
        with _open(config, store_url) as store:
            acc = Accounts(store)  # type: ignore[arg-type]
            if not acc.revoke_token(token_id):
                click.echo(f"no active token {token_id}", err=True)
                sys.exit(1)
            acc.audit(_actor(), "token-revoked", {"token": token_id})
        click.echo(f"token {token_id} revoked")
