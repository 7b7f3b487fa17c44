"""``gateway demo``: the example deployment end to end, on the same driver as
``gateway process`` (:class:`gateway.oneshot.OneShot`: journal → worker →
batcher → outbox → dispatcher, in-process).

The example deployment is written to ``OUT/deployment``; every fixture goes
through it and the documents land in ``OUT/<destination>`` (a local folder
stands in for the clearinghouse and the print vendor). The demo's store starts
empty each run, so every run shows everything again; its control numbers
carry on, so ISA13 never repeats across runs.
"""

from __future__ import annotations

from pathlib import Path

from gateway.app import Gateway
from gateway.examples import FIXTURES
from gateway.oneshot import Input, OneShot, RunSummary
from gateway.store import FILE_NAME, SQLiteStore


def _fresh_store(state_dir: Path) -> SQLiteStore:
    """An empty store for the demo's deployment, its control numbers carried on."""
    numbers: dict[tuple[str, str], int] = {}
    if (state_dir / FILE_NAME).exists():
        with SQLiteStore(state_dir / FILE_NAME) as old:
            numbers = old.number_values()
    for suffix in ("", "-wal", "-shm"):
        (state_dir / (FILE_NAME + suffix)).unlink(missing_ok=True)
    store = SQLiteStore(state_dir / FILE_NAME)
    store.adopt_numbers(numbers)
    return store


def _name(path: Path) -> str:
    try:
        return path.resolve().relative_to(FIXTURES.resolve()).as_posix()
    except ValueError:
        return path.name


def run_demo(config: Path, inputs: list[Path], out_dir: Path) -> tuple[RunSummary, dict]:
    """Run ``inputs`` through the example deployment at ``config`` into ``out_dir``."""
    gw = Gateway.from_config(config)
    with _fresh_store(gw.loaded.state_dir) as store:
        summary = OneShot(gw, store, out_dir).run([Input(p, _name(p)) for p in inputs])
    extra = {
        "seconds": summary.seconds,
        "documents": len(summary.outputs) + len(summary.not_written),
        "dead_letters": sum(1 for *_, status, _ in summary.not_written if status == "dead"),
        "pending": sum(1 for *_, status, _ in summary.not_written if status == "pending"),
    }
    return summary, extra
