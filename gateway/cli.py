"""The ``gateway`` command line."""

from __future__ import annotations

import json
import sys
from collections import Counter
from datetime import date
from pathlib import Path

import click
from pydantic import BaseModel

from gateway import API_VERSION, __version__
from gateway.app import Gateway
from gateway.config import ConfigError, unresolved_secrets
from gateway.examples import ExamplesMissing, demo_inputs, example_dir, write_example_deployment
from gateway.oneshot import Run, RunSummary, expand_inputs, inspect_result
from gateway.plugins import PluginError, PluginHost
from gateway.sources import InputRefused, read_input

EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_QUARANTINED = 3


def _fail(message: str, code: int = EXIT_CONFIG) -> None:
    click.echo(message, err=True)
    sys.exit(code)


def _load(config: Path) -> Gateway:
    try:
        gw = Gateway.from_config(config)
    except ConfigError as exc:
        _fail("configuration errors:\n" + "\n".join(f"  {p}" for p in exc.problems))
    except PluginError as exc:
        _fail(f"plugin error: {exc}")
    for info in gw.host.broken:
        click.echo(f"warning: plugin {info.name} not loaded: {info.error}", err=True)
    return gw


def print_summary(summary: RunSummary, out_dir: Path, show_warnings: bool = False) -> None:
    s = summary
    rows = [
        ("inputs read", s.inputs),
        ("already processed, skipped", s.duplicates),
        ("  of those, with quarantined parts", s.earlier_quarantined),
        ("quarantined before, processed again", s.requeued),
        ("messages quarantined", s.messages_quarantined),
        ("encounters", s.encounters),
        ("encounters quarantined", s.encounters_quarantined),
        ("claims", s.claims),
        ("duplicate claims, not billed again", s.duplicate_claims),
        ("claims held for an operator", s.held_claims),
        ("statements", s.statements),
        ("statements held for an operator", s.held_statements),
        ("documents written", len(s.outputs)),
        ("documents not written", len(s.not_written)),
    ]
    width = max(len(r[0]) for r in rows)
    click.echo(f"\n{'summary':<{width}}  count")
    for label, n in rows:
        click.echo(f"{label:<{width}}  {n:>5}")
    for title, counts in (("quarantined, by rule:", s.reasons), ("warnings, by rule:", s.warnings)):
        if counts:
            click.echo(f"\n{title}")
            for rule, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
                click.echo(f"  {rule:<28} {n:>5}")
    if show_warnings and s.warning_details:
        click.echo("\nwarnings:")
        for name, rule, where, message in s.warning_details:
            click.echo(f"  {name}: {rule} {where}: {message}")
    if s.held_claims or s.held_statements:
        click.echo("\nheld for you: gateway claims list --status held (gateway statements list --status held), "
                   "then gateway claims resolve CLM01 --clinic C --replace|--void|--discard")  # fmt: skip
    if s.outputs:
        click.echo(f"\nwritten under {out_dir}:")
        for dest, name in s.outputs:
            click.echo(f"  {dest}/{name}")
    if s.not_written:
        click.echo("\nnot written (the next run into the same --out tries again; gateway outbox list):")
        for dest, name, status, reason in s.not_written:
            click.echo(f"  {dest}/{name} ({status}): {reason}")
    if s.quarantine_reports:
        click.echo(f"\nquarantine reports: {out_dir / 'quarantine'} ({len(s.quarantine_reports)} files)")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gateway", message=f"%(prog)s %(version)s (plugin API {API_VERSION})")
def cli() -> None:
    """Billing integration gateway: HL7 v2 and FHIR encounters in, X12 837P
    claims and patient statements out.

    Start with `gateway demo --out DIR`, then `gateway init DIR` for a
    deployment of your own.
    """


@cli.command()
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True, help="Folder for the demo's outputs.")
def demo(out_dir: Path) -> None:
    """Run the bundled example deployment end to end on embedded defaults.

    Writes the example deployment to OUT/deployment and runs every fixture
    through the service's components in-process, as `gateway process` does
    (journal, worker, batcher, outbox, dispatcher): claims and statements to
    OUT/<destination>/ (local folders stand in for the clearinghouse and the
    print vendor), quarantine reports to OUT/quarantine. Then the payer
    simulator answers the claim files (999, 277CA, 835 in OUT/responses),
    the answers are posted to the same store, and a line says how the claims
    ended: closed, or on the follow-up list. The demo's store
    starts empty each run; its control numbers carry on.
    """
    from gateway.delivery.demo import run_demo

    try:
        config = write_example_deployment(out_dir / "deployment", overwrite=True)
        inputs = demo_inputs()
    except ExamplesMissing as exc:
        _fail(str(exc), EXIT_FAILED)
    gw = _load(config)
    click.echo(f"demo: {len(inputs)} inputs through {len(gw.clinics)} clinic(s), config {config}")
    summary, extra = run_demo(config, inputs, out_dir)
    print_summary(summary, out_dir)
    click.echo(
        f"\ndelivery: {len(summary.outputs)} of {extra['documents']} outbox document(s) written in "
        f"{extra['seconds']:.1f} s, {extra['dead_letters']} dead letter(s), {extra['pending']} still pending"
    )
    loop = extra["loop"]
    if loop:
        statuses = ", ".join(f"{k} {n}" for k, n in loop["claim_statuses"].items())
        waiting = Counter(i["awaiting"] for i in loop["follow_up"])
        denied = sum(len(g["claims"]) for g in loop["denied"])
        click.echo(
            f"loop: {summary.claims} claim(s) out, {loop['responses']} response file(s) in (999, 277CA, 835) "
            f"posted to the same store; claims now: {statuses}; follow-up list: "
            f"{len(loop['follow_up']) + denied} claim(s) ({waiting['rejected']} rejected by a 277CA/999, "
            f"{denied} denied; `gateway claims follow-up --config {config}`)"
        )
    (out_dir / "summary.json").write_text(json.dumps({**summary.as_dict(), "delivery": extra}, indent=2) + "\n")
    if extra["dead_letters"] or extra["pending"] or (loop and loop["response_messages_quarantined"]):
        sys.exit(EXIT_FAILED)


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path))
def init(directory: Path) -> None:
    """Write a working example deployment (gateway.yaml + mapping files) to DIRECTORY."""
    try:
        config = write_example_deployment(directory)
    except (ExamplesMissing, FileExistsError) as exc:
        _fail(str(exc), EXIT_FAILED)
    click.echo(f"wrote {config}; edit it, then: gateway check-config {config}")


@cli.command()
@click.option("--config", "config", type=click.Path(path_type=Path, exists=True, dir_okay=False), required=True)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Folder for outputs and quarantine reports (relative to the current folder).",
)
@click.option("--store", "store_url", help="Store URL or path (default: <state_dir>/gateway.sqlite, as gateway run).")
@click.option("--clinic", "clinic_id", help="Treat every input as this clinic's (else routed by sender).")
@click.option("--strict", is_flag=True, help="Exit 3 when anything of the inputs is quarantined or held.")
@click.option("--today", type=click.DateTime(["%Y-%m-%d"]), help="Processing date for date rules (default: today).")
@click.option("--show-warnings", is_flag=True, help="List every warning: input, rule, where, message.")
@click.argument("inputs", nargs=-1, type=click.Path(path_type=Path, exists=True))
def process(config: Path, out_dir: Path, store_url: str | None, clinic_id: str | None, strict: bool, today,
            show_warnings: bool, inputs: tuple[Path, ...]) -> None:  # fmt: skip
    """Run INPUT files (or folders) through the gateway once.

    Claims and statements go to OUT/<destination>/, reasons for quarantined
    inputs to OUT/quarantine/. The run uses the deployment's store, like
    `gateway run`: inputs processed before are skipped (one quarantined before
    is tried again), a claim already sent is never billed again as an
    original (changed content is held: see `gateway claims resolve`), and
    control numbers continue. Nothing is written to OUT until every input is
    processed. Without INPUT, what an earlier run or `gateway claims resolve`
    left waiting for OUT is published. Exit 0, 1 when a document could not be
    written, 3 with --strict when anything was quarantined or held.
    """
    from gateway.oneshot import OneShot
    from gateway.store import FILE_NAME, StoreUnavailable, codec_for, open_store

    gw = _load(config)
    if clinic_id and clinic_id not in gw.clinics:
        _fail(f"--clinic: no clinic '{clinic_id}' (clinics: {', '.join(gw.clinics)})")
    out_dir = out_dir.resolve()
    files = expand_inputs(inputs)
    state = gw.loaded.state_dir
    try:
        store = open_store(store_url or state / FILE_NAME, gw.loaded.base_dir, state, codec_for(gw.loaded))
    except StoreUnavailable as exc:
        _fail(f"store error: {exc}")
    try:
        with click.progressbar(length=len(files), label="processing", file=sys.stderr) as bar:
            run = OneShot(gw, store, out_dir, clinic_id=clinic_id, today=today.date() if today else None,
                          progress=bar.update, keep_warnings=show_warnings)  # fmt: skip
            summary = run.run(files)
    finally:
        store.close()
    print_summary(summary, out_dir, show_warnings)
    if summary.not_written:
        sys.exit(EXIT_FAILED)
    s = summary
    if strict and (s.messages_quarantined or s.encounters_quarantined or s.held_claims or s.held_statements
                   or s.earlier_quarantined):  # fmt: skip
        sys.exit(EXIT_QUARANTINED)


@cli.command()
@click.option(
    "--config",
    "config",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="Default: the bundled example deployment.",
)
@click.option("--clinic", "clinic_id", help="Treat every input as this clinic's.")
@click.option("--today", type=click.DateTime(["%Y-%m-%d"]), help="Processing date for date rules (default: today).")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True))
def inspect(config: Path | None, clinic_id: str | None, today, inputs: tuple[Path, ...]) -> None:
    """Print, as JSON, the encounters, claims and findings understood from
    each INPUT; for a response file (999, 277CA, 835), its typed documents
    and the clinic each belongs to."""
    if config is None:
        try:
            config = example_dir() / "gateway.yaml"
        except ExamplesMissing as exc:
            _fail(f"{exc}; or pass --config", EXIT_FAILED)
    gw = _load(config)
    run = Run(gateway=gw, today=today.date() if today else date.today(), clinic_id=clinic_id)
    encoder = json.JSONEncoder(indent=2)
    buf: list[str] = ["["]
    n = -1
    for n, inp in enumerate(expand_inputs(inputs)):  # one input at a time, written as it is encoded
        try:
            raw = read_input(inp.path, gw.config.max_input_bytes, follow_symlinks=True)
        except InputRefused as exc:
            item: dict = {"input": inp.name, "refused": str(exc)}
        else:
            result = run.process_bytes(raw, inp.name)
            item = inspect_result(result, inp.name)
            if result is not None and result.responses:  # a 999/277CA/835 file: its typed documents
                item["responses"] = [r.as_dict() for r in result.responses]
            del raw, result
        buf.append(",\n  " if n else "\n  ")
        for chunk in encoder.iterencode(item):  # the same text as json.dumps(list, indent=2)
            buf.append(chunk.replace("\n", "\n  "))
            if len(buf) > 4096:
                click.echo("".join(buf), nl=False)
                buf.clear()
        del item
    buf.append("\n]" if n >= 0 else "]")
    click.echo("".join(buf))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def plugins(as_json: bool) -> None:
    """List loaded plugins: name, distribution, version and hooks."""
    try:
        host = PluginHost()
    except PluginError as exc:
        _fail(f"plugin error: {exc}")
    if as_json:
        click.echo(json.dumps([i.as_dict() for i in host.infos], indent=2))
        return
    for info in host.infos:
        dist = f"{info.distribution} {info.version}" if info.distribution else "(registered directly)"
        api = f"  api {info.api}" if info.api else ""
        click.echo(f"{info.name}  [{info.module}]  {dist}{api}")
        if info.error:
            click.echo(f"    NOT LOADED: {info.error}")
        for hook in info.hooks:
            click.echo(f"    {hook}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--markdown", is_flag=True, help="Print the Markdown table the docs embed.")
def rules(as_json: bool, markdown: bool) -> None:
    """List the rules of every loaded plugin's catalogue: id, severity, plugin, what it checks."""
    from gateway.rules import catalogue_markdown

    try:
        host = PluginHost()
    except PluginError as exc:
        _fail(f"plugin error: {exc}")
    catalogues = list(host.catalogues.values())
    if markdown:
        click.echo(catalogue_markdown(catalogues), nl=False)
    elif as_json:
        rows = [
            {"id": r.id, "severity": r.severity.value, "plugin": r.plugin, "description": r.description}
            for c in catalogues
            for r in c
        ]
        click.echo(json.dumps(rows, indent=2))
    else:
        for cat in catalogues:
            for r in cat:
                click.echo(f"{r.id:<28} {r.severity.value:<8} {r.plugin:<18} {r.description}")


def _settings_sections(gw: Gateway) -> list[tuple[tuple[str | int, ...], BaseModel]]:
    """Every validated plugin-defined section of the config, with its key path."""
    out: list[tuple[tuple[str | int, ...], BaseModel]] = []
    for name, settings in gw.destination_settings.items():
        out.append((("destinations", name), settings))
        fmt = gw.format_settings.get(name)
        if fmt is not None:
            out.append((("destinations", name, "format_settings"), fmt))
    for i, clinic in enumerate(gw.clinics.values()):
        out += [(("clinics", i, "settings", section), model) for section, model in clinic.settings.items()]
        for j, src in enumerate(clinic.config.sources):
            model = gw.registries.sources[src.type].settings_model.model_validate(dict(src.model_extra or {}))
            out.append((("clinics", i, "sources", j), model))
    return out


@cli.command("check-config")
@click.argument("config", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--strict", is_flag=True, help="Exit 2 on warnings too (a secret reference that cannot be resolved).")
def check_config(config: Path, strict: bool) -> None:
    """Validate a gateway.yaml, plugin sections and mapping files included.

    Also resolves every secret reference (env:NAME, file:PATH) and warns when
    its environment variable is unset or its file cannot be read (the secret
    itself is never printed); with --strict that is an error. The keys of
    store.encryption must be 32 bytes, base64 or hex (exit 2 otherwise).
    """
    from gateway.store import StoreKeyError, codec_for

    gw = _load(config)
    sections = _settings_sections(gw)
    encryption = gw.config.store.encryption
    if encryption is not None:
        sections.append((("store", "encryption"), encryption))
    missing = unresolved_secrets(gw.loaded, sections)
    for problem in missing:
        click.echo(f"{'error' if strict else 'warning'}: {problem}", err=True)
    if encryption is not None and not any(".store.encryption" in p or ": store.encryption" in p for p in missing):
        try:  # every key resolves: check each is a 256-bit key
            codec_for(gw.loaded)
        except StoreKeyError as exc:
            _fail(f"error: {exc}")
    if strict and missing:
        sys.exit(EXIT_CONFIG)
    click.echo(f"{config}: OK ({len(gw.clinics)} clinic(s), {len(gw.config.destinations)} destination(s))")


from gateway.daemon.cli import register as _register_daemon_commands  # noqa: E402  (after the group exists)

_register_daemon_commands(cli)  # run, status, messages

from gateway.delivery.cli import register as _register_outbox_commands  # noqa: E402

_register_outbox_commands(cli)  # outbox list/show/retry

from gateway.scaffold.cli import register as _register_scaffold_commands  # noqa: E402

_register_scaffold_commands(cli)  # new-plugin

from gateway.console.cli import register as _register_console_commands  # noqa: E402

_register_console_commands(cli)  # console, reload, users, tokens

from gateway.claims_cli import register as _register_claims_commands  # noqa: E402

_register_claims_commands(cli)  # claims / statements list/show/resolve

from gateway.store_cli import register as _register_store_commands  # noqa: E402

_register_store_commands(cli)  # store rotate-key

from gateway.remits_cli import register as _register_remit_commands  # noqa: E402  (after claims: adds to it)

_register_remit_commands(cli)  # remits list/show/unmatched, ar, claims follow-up


def main() -> None:
    try:
        host = PluginHost()
    except PluginError as exc:
        _fail(f"plugin error: {exc}")
    for plugin, _result, error in host.call_each("gateway_register_commands", cli=cli):
        if error is not None:
            click.echo(f"warning: plugin {plugin} could not add commands ({type(error).__name__})", err=True)
    cli()


if __name__ == "__main__":  # pragma: no cover
    main()
