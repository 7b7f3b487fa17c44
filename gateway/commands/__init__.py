"""The ``gateway`` command line: a root group that loads commands lazily,
one error handler and named exit codes.

Commands are listed by name and imported only when run (or asked for their
own ``--help``), so ``gateway --help`` imports neither plugins nor pydantic.
They come from three places:

* :data:`BUILT_IN`: the gateway's own commands, one line each (one module per
  concern under ``gateway/commands/``, or a module with a ``register(group)``
  function);
* the ``gateway.commands`` entry-point group: ``NAME = "module:attribute"``,
  a click command or a ``register(group)`` function adding the command NAME;
  this is how a plugin adds commands (the built-in plugins' ``validate`` and
  ``dev`` too);
* the deprecated ``gateway_register_commands`` hook, still called for the
  plugins that implement it (``gateway.cli.main``).

Every command's errors go through :meth:`GatewayGroup.invoke`: configuration,
plugin and store problems are one clear message and :attr:`Exit.CONFIG`;
anything unexpected is :attr:`Exit.INTERNAL` naming only the exception type
(its text may quote patient data; ``GATEWAY_DEBUG=1`` shows the traceback).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from importlib import import_module
from typing import TYPE_CHECKING, Any, NoReturn

import click

if TYPE_CHECKING:
    from pathlib import Path

    from gateway.app import Gateway

ENTRY_POINT_GROUP = "gateway.commands"
DEBUG_ENV = "GATEWAY_DEBUG"


class Exit(IntEnum):
    """The exit codes of every ``gateway`` command (README "Exit codes")."""

    #: done
    OK = 0
    #: something could not be done: a document not written, a dead letter, a claim not found
    FAILED = 1
    #: bad command line, configuration, plugin or store: nothing was processed
    CONFIG = 2
    #: ``--strict``: something of the inputs was quarantined or held for an operator
    QUARANTINED = 3
    #: a bug: an unexpected error (only its type is printed)
    INTERNAL = 70


#: the ``--help`` epilog (``\b``: click keeps the lines as they are)
EXIT_CODES_HELP = """\b
Exit codes:
  0   done
  1   failed: something could not be done (a document not written, an id not found)
  2   config: bad command line, configuration, plugin or store; nothing processed
  3   quarantined: with --strict, something was quarantined or held
  70  internal: an unexpected error (a bug); GATEWAY_DEBUG=1 shows the traceback"""


@dataclass(frozen=True)
class CommandSpec:
    """Where a command lives, and what ``gateway --help`` says of it before it is loaded."""

    target: str
    help: str
    section: str


_SETUP, _ONESHOT, _PLUGINS = "gateway.commands.setup", "gateway.commands.processing", "gateway.commands.plugins"
_DAEMON, _OUTBOX = "gateway.daemon.cli:register", "gateway.delivery.cli:register"
_CONSOLE, _STORED, _SCAFFOLD = (
    "gateway.console.cli:register",
    "gateway.commands.stored:register",
    "gateway.scaffold.cli:register",
)
_START, _ONCE, _SERVICE, _STORE, _WEB, _PLUGIN = (
    "Getting started", "One-shot processing", "The service", "Claims and statements in the store", "Console",
    "Plugins and rules",
)  # fmt: skip

#: The gateway's own commands: name → where it lives ("module:attribute": a
#: click command, or a register(group) function adding it), its one-line help
#: for ``gateway --help`` and its concern (a section of the help). Adding a command (module) is one line here.
BUILT_IN: dict[str, CommandSpec] = {
    "demo": CommandSpec(
        f"{_SETUP}:demo", "Run the bundled example deployment end to end on embedded defaults.", _START
    ),
    "init": CommandSpec(
        f"{_SETUP}:init", "Write a working example deployment (gateway.yaml + mapping files) to DIRECTORY.", _START
    ),
    "check-config": CommandSpec(
        f"{_SETUP}:check_config", "Validate a gateway.yaml, plugin sections and mapping files included.", _START
    ),
    "process": CommandSpec(f"{_ONESHOT}:process", "Run INPUT files (or folders) through the gateway once.", _ONCE),
    "inspect": CommandSpec(f"{_ONESHOT}:inspect", "Print, as JSON, what the gateway understands of each INPUT.", _ONCE),
    "run": CommandSpec(
        _DAEMON, "Run the gateway service: sources, journal and workers, until SIGTERM/SIGINT.", _SERVICE
    ),
    "status": CommandSpec(_DAEMON, "Messages per clinic and stage; every message not yet final.", _SERVICE),
    "messages": CommandSpec(_DAEMON, "Find, inspect and reprocess stored messages.", _SERVICE),
    "outbox": CommandSpec(_OUTBOX, "Documents waiting for, in, or past delivery; dead letters.", _SERVICE),
    "store": CommandSpec("gateway.store_cli:register", "The store itself: encryption keys (rotate-key).", _SERVICE),
    "reload": CommandSpec(_CONSOLE, "Validate the configuration, then make running services re-read it.", _SERVICE),
    "claims": CommandSpec(
        _STORED,
        "Claims in the store: list, show one's story and ledger, adjust, follow up, resolve held content.",
        _STORE,
    ),
    "remits": CommandSpec(_STORED, "Payments (835 remits) posted to claims: list, show, unmatched items.", _STORE),
    "ar": CommandSpec(
        _STORED, "Accounts-receivable aging per clinic and payer (days since delivery), patient share too.", _STORE
    ),
    "accounts": CommandSpec(
        "gateway.accounts_cli:accounts",
        "Guarantor accounts: show one, list credits, write off small balances.",
        _STORE,
    ),
    "payments": CommandSpec(
        "gateway.accounts_cli:payments", "Patient payments: import a lockbox, portal or front-desk CSV.", _STORE
    ),
    "statements": CommandSpec(
        _STORED, "Statements in the store: list, show, resolve held content; run the statement cycle.", _STORE
    ),
    "console": CommandSpec(_CONSOLE, "Serve the web console and JSON API alone against the store.", _WEB),
    "users": CommandSpec(_CONSOLE, "Console users and their roles: viewer, operator, admin.", _WEB),
    "tokens": CommandSpec(_CONSOLE, "Bearer tokens for the JSON API and the HTTP intake.", _WEB),
    "plugins": CommandSpec(
        f"{_PLUGINS}:plugins", "List plugins: name, distribution, version, plugin API range and hooks.", _PLUGIN
    ),
    "rules": CommandSpec(
        f"{_PLUGINS}:rules",
        "List the gateway's own rules and every loaded plugin's: id, severity, plugin, what it checks.",
        _PLUGIN,
    ),
    "new-plugin": CommandSpec(_SCAFFOLD, "Write a new, installable plugin package NAME with passing tests.", _PLUGIN),
}

PLUGIN_SECTION = "Commands from plugins"


def fail(message: str, code: Exit = Exit.CONFIG) -> NoReturn:
    """Print ``message`` to stderr and exit with ``code``."""
    click.echo(message, err=True)
    sys.exit(int(code))


def load_gateway(config: Path, *, eager: bool = True) -> Gateway:
    """The gateway of a config file; problems go to the error handler. Warns
    about plugins that did not load. ``eager=False``: outputs (destinations,
    sources) are checked when first used (:class:`gateway.app.Gateway`)."""
    from gateway.app import Gateway

    gw = Gateway.from_config(config, eager=eager)
    for info in gw.host.failed:  # known so far: plugins load lazily
        click.echo(f"warning: plugin {info.name} not loaded: {info.error}", err=True)
    return gw


def _plugin_commands() -> dict[str, CommandSpec]:
    """The ``gateway.commands`` entry points (read from metadata, nothing imported)."""
    from gateway.plugins import group_entry_points

    out: dict[str, CommandSpec] = {}
    for ep in group_entry_points(ENTRY_POINT_GROUP):
        if ep.name in BUILT_IN or ep.name in out:
            continue  # a built-in name wins; the same distribution twice on sys.path
        out[ep.name] = CommandSpec(ep.value, "", PLUGIN_SECTION)
    return out


def _help_from_source(target: str) -> str:
    """A plugin command's one-line help read from its source without importing
    it: the first sentence of the function's docstring, else the module's."""
    import ast

    from gateway.plugins import module_file

    module, _, attr = target.partition(":")
    path = module_file(module)
    try:
        with open(path or "", "rb") as fh:
            tree: ast.Module | None = ast.parse(fh.read())
    except (OSError, SyntaxError, ValueError):
        tree = None
    if tree is None:
        return f"see gateway COMMAND --help ({module})"
    doc = (
        next(
            (
                ast.get_docstring(n)
                for n in tree.body
                if isinstance(n, ast.FunctionDef | ast.ClassDef) and n.name == attr
            ),
            None,
        )
        or ast.get_docstring(tree)
        or ""
    )
    first = " ".join(doc.split("\n\n", 1)[0].split()).replace("``", "`")
    return first.split(". ", 1)[0].rstrip(".") + "." if first else f"from {module}"


class GatewayGroup(click.Group):
    """The root group: lazy commands, sections in ``--help``, one error handler."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lazy: dict[str, CommandSpec] | None = None
        self._registered: dict[str, click.Group] = {}

    @property
    def lazy(self) -> dict[str, CommandSpec]:
        if self._lazy is None:
            self._lazy = {**BUILT_IN, **_plugin_commands()}
        return self._lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(self.lazy))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        spec = self.lazy.get(cmd_name)
        if spec is None:
            return None
        command = self._load(cmd_name, spec.target)
        if command is not None:
            self.commands[cmd_name] = command
        return command

    def _load(self, name: str, target: str) -> click.Command | None:
        module, _, attr = target.partition(":")
        try:
            obj = getattr(import_module(module), attr)
        except Exception as exc:  # a broken plugin's command: say so, keep the others
            click.echo(f"warning: command {name} ({target}) could not be loaded ({type(exc).__name__}: {exc})",
                       err=True)  # fmt: skip
            return None
        if isinstance(obj, click.Command):
            return obj
        if callable(obj):  # register(group): adds one or more commands
            scratch = self._registered.get(target)
            if scratch is None:
                scratch = self._registered[target] = click.Group()
                obj(scratch)
            return scratch.commands.get(name)
        click.echo(f"warning: command {name} ({target}) is neither a click command nor register(group)", err=True)
        return None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Commands by concern, described without importing them."""
        limit = formatter.width - 6 - max(len(n) for n in self.list_commands(ctx))
        sections: dict[str, list[tuple[str, str]]] = {}
        for name in self.list_commands(ctx):
            spec = self.lazy.get(name)
            if name in self.commands and (spec is None or spec.section == PLUGIN_SECTION):
                cmd = self.commands[name]
                if cmd.hidden:
                    continue
                sections.setdefault(PLUGIN_SECTION, []).append((name, cmd.get_short_help_str(limit)))
            elif spec is not None:
                sections.setdefault(spec.section, []).append((name, spec.help or _help_from_source(spec.target)))
        order = [s.section for s in BUILT_IN.values()] + [PLUGIN_SECTION]
        for section in sorted(sections, key=order.index):
            with formatter.section(section):
                formatter.write_dl(sections[section])

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:
            handle_error(exc)


def handle_error(exc: Exception) -> NoReturn:
    """The one error handler: a clear message and a named exit code, no traceback."""
    if isinstance(exc, BrokenPipeError):  # the reader went away (`gateway ar | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(int(Exit.FAILED))
    config_error = _class("gateway.config", "ConfigError")
    if config_error and isinstance(exc, config_error):
        fail("configuration errors:\n" + "\n".join(f"  {p}" for p in exc.problems))  # type: ignore[attr-defined]
    for module, name, label in (
        ("gateway.plugins", "PluginError", "plugin error"),
        ("gateway.store", "StoreUnavailable", "store error"),
    ):
        cls = _class(module, name)
        if cls and isinstance(exc, cls):
            fail(f"{label}: {exc}")
    if os.environ.get(DEBUG_ENV):
        raise exc
    fail(
        f"internal error: {type(exc).__name__} (details are not shown: they may quote patient data; "
        f"run again with {DEBUG_ENV}=1 for the traceback)",
        Exit.INTERNAL,
    )


def _class(module: str, name: str) -> type | None:
    """An exception class, only if its module is loaded (it raised, then)."""
    mod = sys.modules.get(module)
    return getattr(mod, name, None) if mod is not None else None


def command_names(register: Callable[[click.Group], None]) -> list[str]:
    """The commands a ``register(group)`` function adds (for tests and docs)."""
    group = click.Group()
    register(group)
    return sorted(group.commands)
