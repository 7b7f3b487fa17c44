"""Getting started: ``gateway demo``, ``gateway init``, ``gateway check-config``."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import click

from gateway.commands import Exit, fail, load_gateway

if TYPE_CHECKING:
    from pydantic import BaseModel

    from gateway.app import Gateway


@click.command()
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
    ended: closed, or on the follow-up list. A visit with two coverages shows
    the secondary claim its primary's 835 created: sent, answered
    (OUT/responses-secondary) and posted. The demo's store starts empty
    each run; its control numbers carry on. Exit 1 when a document could not
    be delivered or a response could not be posted.
    """
    from gateway.commands.processing import print_summary
    from gateway.delivery.demo import run_demo
    from gateway.examples import ExamplesMissing, demo_inputs, write_example_deployment

    try:
        config = write_example_deployment(out_dir / "deployment", overwrite=True)
        inputs = demo_inputs()
    except ExamplesMissing as exc:
        fail(str(exc), Exit.FAILED)
    gw = load_gateway(config)
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
        sec = loop["secondary"]
        if sec["claims"]:
            click.echo(
                f"secondary: {len(sec['claims'])} claim(s) billed to the next payer after the primary's 835 "
                f"({', '.join(sec['files'])}), answered and posted: the secondary payer paid {sec['paid']}"
            )
    (out_dir / "summary.json").write_text(json.dumps({**summary.as_dict(), "delivery": extra}, indent=2) + "\n")
    quarantined = loop and (loop["response_messages_quarantined"] or loop["secondary"]["response_messages_quarantined"])
    if extra["dead_letters"] or extra["pending"] or quarantined:
        sys.exit(Exit.FAILED)


@click.command()
@click.argument("directory", type=click.Path(path_type=Path))
def init(directory: Path) -> None:
    """Write a working example deployment (gateway.yaml + mapping files) to DIRECTORY.

    DIRECTORY must not hold a gateway.yaml yet. Edit the files, then check
    them with `gateway check-config DIRECTORY/gateway.yaml`.
    """
    from gateway.examples import ExamplesMissing, write_example_deployment

    try:
        config = write_example_deployment(directory)
    except (ExamplesMissing, FileExistsError) as exc:
        fail(str(exc), Exit.FAILED)
    click.echo(f"wrote {config}; edit it, then: gateway check-config {config}")


@click.command("check-config")
@click.argument("config", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--strict", is_flag=True, help="Exit 2 on warnings too (a secret reference that cannot be resolved).")
def check_config(config: Path, strict: bool) -> None:
    """Validate a gateway.yaml, plugin sections and mapping files included.

    Every problem is reported in one run, each naming the key path or the
    file and line. Also resolves every secret reference (env:NAME,
    file:PATH) and warns when its environment variable is unset or its file
    cannot be read (the secret itself is never printed); with --strict that
    is an error. The keys of store.encryption must be 32 bytes, base64 or
    hex. Exit 0 when valid, 2 otherwise.
    """
    from gateway.config import unresolved_secrets
    from gateway.store import StoreKeyError, codec_for

    gw = load_gateway(config)
    sections = settings_sections(gw)
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
            fail(f"error: {exc}")
    if strict and missing:
        sys.exit(Exit.CONFIG)
    click.echo(f"{config}: OK ({len(gw.clinics)} clinic(s), {len(gw.config.destinations)} destination(s))")


def settings_sections(gw: Gateway) -> list[tuple[tuple[str | int, ...], BaseModel]]:
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
