"""One-shot processing: ``gateway process`` and ``gateway inspect``."""

from __future__ import annotations

import codecs
import json
import sys
import zlib
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from gateway.commands import Exit, fail, load_gateway

if TYPE_CHECKING:
    from gateway.oneshot import RunSummary


def print_summary(summary: RunSummary, out_dir: Path, show_warnings: bool = False) -> None:
    """The table ``gateway process`` and ``gateway demo`` end with."""
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


@click.command()
@click.option("--config", "config", type=click.Path(path_type=Path, exists=True, dir_okay=False), required=True,
              help="The deployment's gateway.yaml.")  # fmt: skip
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
def process(config: Path, out_dir: Path, store_url: str | None, clinic_id: str | None, strict: bool,
            today: datetime | None, show_warnings: bool, inputs: tuple[Path, ...]) -> None:  # fmt: skip
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
    from gateway.oneshot import OneShot, expand_inputs
    from gateway.store import FILE_NAME, codec_for, open_store

    gw = load_gateway(config)
    if clinic_id and clinic_id not in gw.clinics:
        fail(f"--clinic: no clinic '{clinic_id}' (clinics: {', '.join(gw.clinics)})")
    out_dir = out_dir.resolve()
    files = expand_inputs(inputs)
    store = open_store(
        store_url or gw.loaded.state_dir / FILE_NAME, gw.loaded.base_dir, gw.loaded.state_dir, codec_for(gw.loaded)
    )
    try:
        with click.progressbar(length=len(files), label="processing", file=sys.stderr) as bar:
            run = OneShot(gw, store, out_dir, clinic_id=clinic_id, today=today.date() if today else None,
                          progress=bar.update, keep_warnings=show_warnings)  # fmt: skip
            summary = run.run(files)
    finally:
        store.close()
    print_summary(summary, out_dir, show_warnings)
    if summary.not_written:
        sys.exit(Exit.FAILED)
    s = summary
    if strict and (s.messages_quarantined or s.encounters_quarantined or s.held_claims or s.held_statements
                   or s.earlier_quarantined):  # fmt: skip
        sys.exit(Exit.QUARANTINED)


@click.command()
@click.option(
    "--config",
    "config",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="Default: the bundled example deployment.",
)
@click.option("--clinic", "clinic_id", help="Treat every input as this clinic's.")
@click.option("--today", type=click.DateTime(["%Y-%m-%d"]), help="Processing date for date rules (default: today).")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True))
def inspect(config: Path | None, clinic_id: str | None, today: datetime | None, inputs: tuple[Path, ...]) -> None:
    """Print, as JSON, the encounters, claims and findings understood from
    each INPUT; for a response file (999, 277CA, 835), its typed documents
    and the clinic each belongs to. Nothing is stored or sent."""
    from gateway.examples import ExamplesMissing, example_dir
    from gateway.inspection import Run, expand_inputs, inspect_encounter, inspect_result
    from gateway.sources import InputRefused, read_input

    if config is None:
        try:
            config = example_dir() / "gateway.yaml"
        except ExamplesMissing as exc:
            fail(f"{exc}; or pass --config", Exit.FAILED)
    gw = load_gateway(config, eager=False)  # renders and sends nothing: outputs unchecked, their plugins unread
    run = Run(gateway=gw, today=today.date() if today else date.today(), clinic_id=clinic_id)
    encoder = json.JSONEncoder(indent=2)
    buf: list[str] = ["["]
    n = -1
    for n, inp in enumerate(expand_inputs(inputs)):  # one input at a time, written as it is encoded
        # each encounter's JSON text kept compressed once built: a batch is never held whole as models or text
        spool = JsonListSpool(encoder, depth=2)
        try:
            raw = read_input(inp.path, gw.config.max_input_bytes, follow_symlinks=True)
        except InputRefused as exc:
            item: dict = {"input": inp.name, "refused": str(exc)}
        else:
            result = run.process_bytes(raw, inp.name, lambda e, spool=spool: spool.add(inspect_encounter(e)))
            item = inspect_result(result, inp.name)
            item["encounters"] = _ENCOUNTERS
            if result.quarantined:  # what the pipeline handed over is not the input's
                spool = JsonListSpool(encoder, depth=2)
            if result is not None and result.responses:  # a 999/277CA/835 file: its typed documents
                item["responses"] = [r.as_dict() for r in result.responses]
            del raw, result
        buf.append(",\n  " if n else "\n  ")
        for chunk in encoder.iterencode(item):  # the same text as json.dumps(list, indent=2)
            for part in spool.text() if chunk == _ENCOUNTERS_JSON else (chunk.replace("\n", "\n  "),):
                buf.append(part)
                if len(buf) > 4096 or len(part) > 4096:
                    click.echo("".join(buf), nl=False)
                    buf.clear()
        del item, spool
    buf.append("\n]" if n >= 0 else "]")
    click.echo("".join(buf))


#: stands in an inspected input's "encounters" until their JSON text is spliced in
_ENCOUNTERS = "\x00encounters\x00"
_ENCOUNTERS_JSON = json.dumps(_ENCOUNTERS)


class JsonListSpool:
    """A JSON list written one item at a time and kept zlib-compressed until
    read back (an inspected batch's encounters: about 8x the input as
    indented text); :meth:`text` gives what ``json.dumps(..., indent=2)``
    writes for the list nested ``depth`` levels deep, in pieces."""

    def __init__(self, encoder: json.JSONEncoder, depth: int) -> None:
        self.encoder, self.inner, self.outer = encoder, "\n" + "  " * (depth + 1), "\n" + "  " * depth
        self.zip, self.parts, self.count = zlib.compressobj(1), [], 0

    def add(self, item: object) -> None:
        pieces: list[str] = ["," if self.count else "", self.inner]
        for chunk in self.encoder.iterencode(item):  # compressed as encoded: one huge encounter is never one string
            pieces.append(chunk.replace("\n", self.inner))
            if len(pieces) > 4096:
                self.parts.append(self.zip.compress("".join(pieces).encode()))
                pieces.clear()
        self.parts.append(self.zip.compress("".join(pieces).encode()))
        self.count += 1

    def text(self) -> Iterator[str]:
        if not self.count:
            yield "[]"
            return
        yield "["
        self.parts.append(self.zip.flush())
        unzip, parts, self.parts = zlib.decompressobj(), self.parts, []
        utf8 = codecs.getincrementaldecoder("utf-8")()
        for part in parts:
            yield utf8.decode(unzip.decompress(part))
        yield utf8.decode(unzip.flush(), final=True) + self.outer + "]"
