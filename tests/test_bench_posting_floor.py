"""The posting floor (benchmarks/bench_posting_floor.py) replays exactly what
a real posting wrote: a copy of the store before posting, with the replayed
rows, holds the same rows as the posted store, table by table. Otherwise its
"floor" would time less (or more) than the work it stands for."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from benchmarks.bench_posting import Poster
from benchmarks.bench_posting_floor import _tables, posted_rows, rows_floor, split_floor
from benchmarks.bench_remit import remit_file
from gateway.app import Gateway
from gateway.examples import write_example_deployment


def _content(path: Path) -> dict[str, list[tuple[object, ...]]]:
    db = sqlite3.connect(path)
    out = {t: sorted(db.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in _tables(db)}
    db.close()
    return out


def test_replayed_rows_are_the_posted_store(tmp_path: Path) -> None:
    n = 25
    data = remit_file(n)
    gw = Gateway.from_config(write_example_deployment(tmp_path / "deploy"))
    (tmp_path / "s").mkdir()
    poster = Poster(gw, tmp_path / "s", data, n)
    snapshot = tmp_path / "before.sqlite"
    with sqlite3.connect(tmp_path / "s" / "gateway.sqlite") as src, sqlite3.connect(snapshot) as dst:
        src.backup(dst)
    assert poster.post() == n
    poster.store.close()
    posted = posted_rows(snapshot, tmp_path / "s" / "gateway.sqlite")
    _, inserts, updates = posted
    assert len(inserts["ledger"]) > n and len(inserts["remit_claims"]) == n
    assert any("claims" in by_table for by_table in updates.values())  # the claims' new states
    spent: dict[str, float] = {}
    rows_floor(snapshot, tmp_path / "replayed.sqlite", posted, spent, keep=True)
    assert _content(tmp_path / "replayed.sqlite") == _content(tmp_path / "s" / "gateway.sqlite")
    assert _content(snapshot) != _content(tmp_path / "s" / "gateway.sqlite")
    assert {"ledger", "claims", "commit"} <= spent.keys()


def test_split_floor_reads_every_amount() -> None:
    data = remit_file(3)
    # BPR02, and per claim CLP03/04/05 and each line's SVC02/03 at least
    assert split_floor(data) >= 1 + 3 * 3 + 3 * 2
