"""The floor under issue 13's posting goal: the least any Python implementation
of the store the issue asks for can spend posting an 835 of N claims, next to
edi-835-parser's plain parse of the same file and our posting, in one run.

The goal is posting at ≥ 2× edi-835-parser's parse speed: a budget of half
its parse time. The floor is two pieces, each the least its part can cost:

- **rows**: the rows a real posting writes (ledger, remit claims, events,
  balances, patient accounts, the claims' new states…), taken from a store
  after a real posting, inserted again into a copy of the store as it was
  before, with plain ``executemany`` in one transaction committed with fsync:
  no reading, no matching, no checks, no JSON, nothing computed.
- **split**: the least reading any 835 reader does: the file split into
  segments and elements, and each amount element made a ``Decimal``.

If rows + split exceed the budget, no reader or posting code in Python can
meet the goal with the store the issue requires (a ledger row per line
payment and per adjustment, durable, and the lifecycle records): only fewer
rows or a compiled reader and store layer could.

    .venv/bin/python -m benchmarks.bench_posting_floor [--quick] [CLAIMS] [--repeat N]

``make bench`` runs it after bench_posting and puts the best possible ratio
in the goals table.
"""

from __future__ import annotations

import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from benchmarks import bench_posting, goals
from benchmarks.bench_posting import _edi_parse
from benchmarks.bench_remit import remit_file
from gateway.store.sqlite import CACHE_KIB
from gateway.worker import tune_gc

#: elements that hold an amount, by segment (X12 positions, 1-based)
_AMOUNTS = {b"BPR": (2,), b"CLP": (3, 4, 5), b"SVC": (2, 3), b"CAS": (3, 6, 9, 12, 15, 18), b"PLB": (4, 6),
            b"AMT": (2,)}  # fmt: skip


def split_floor(data: bytes) -> int:
    """Split ``data`` into segments and elements and read each amount: the
    least any 835 reader does. Returns how many amounts it read."""
    seg_end = data[105:106]
    sep = data[3:4]
    amounts = 0
    for seg in data.split(seg_end):
        elements = seg.strip().split(sep)
        for pos in _AMOUNTS.get(elements[0], ()):
            if pos < len(elements) and elements[pos]:
                Decimal(elements[pos].decode())
                amounts += 1
    return amounts


def _tables(db: sqlite3.Connection) -> list[str]:
    return [
        r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    ]


Rows = dict[str, list[tuple[object, ...]]]


def _pk(db: sqlite3.Connection, table: str) -> list[int]:
    """Positions of ``table``'s primary key columns (its rowid alias, or all)."""
    info = db.execute(f"PRAGMA table_info({table})").fetchall()
    keys = [i for i, col in enumerate(info) if col[5]]
    return keys or list(range(len(info)))


def posted_rows(before: Path, after: Path) -> tuple[dict[str, list[str]], Rows, dict[str, Rows]]:
    """What posting wrote, as statements to replay: per table its columns; the
    new rows (key absent before), in key order; the changed rows, grouped by
    the columns that changed, as (new values…, key…)."""
    b, a = sqlite3.connect(before), sqlite3.connect(after)
    columns: dict[str, list[str]] = {}
    inserts: Rows = {}
    updates: dict[str, Rows] = {}
    for table in _tables(a):
        cur = a.execute(f"SELECT * FROM {table}")
        cols = [d[0] for d in cur.description]
        keys = _pk(a, table)
        now = {tuple(r[k] for k in keys): r for r in cur.fetchall()}
        old = {tuple(r[k] for k in keys): r for r in b.execute(f"SELECT * FROM {table}")}
        columns[table] = cols
        added = [now[k] for k in sorted(now.keys() - old.keys())]
        if added:
            inserts[table] = added
        for key in now.keys() & old.keys():
            changed = tuple(i for i, (x, y) in enumerate(zip(now[key], old[key], strict=True)) if x != y)
            if changed:
                sql = (f"UPDATE {table} SET {', '.join(f'{cols[i]} = ?' for i in changed)} "
                       f"WHERE {' AND '.join(f'{cols[k]} = ?' for k in keys)}")  # fmt: skip
                updates.setdefault(sql, {}).setdefault(table, []).append(tuple(now[key][i] for i in changed) + key)
    b.close()
    a.close()
    return columns, inserts, updates


def rows_floor(
    snapshot: Path,
    work: Path,
    posted: tuple[dict[str, list[str]], Rows, dict[str, Rows]],
    spent: dict[str, float],
    keep: bool = False,
) -> float:
    """CPU seconds to write what posting wrote into a copy of ``snapshot``:
    one ``executemany`` per table and per shape of update, one transaction,
    committed with fsync. Adds each table's seconds to ``spent``; ``keep``
    leaves the copy in ``work``."""
    columns, inserts, updates = posted
    shutil.copy(snapshot, work)
    db = sqlite3.connect(work, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    c0 = time.process_time()
    db.execute("BEGIN IMMEDIATE")
    for table, new in inserts.items():
        cols = columns[table]
        t0 = time.process_time()
        db.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", new)
        spent[table] = spent.get(table, 0.0) + time.process_time() - t0
    for sql, by_table in updates.items():
        for table, values in by_table.items():
            t0 = time.process_time()
            db.executemany(sql, values)
            spent[table] = spent.get(table, 0.0) + time.process_time() - t0
    t0 = time.process_time()
    db.execute("COMMIT")
    spent["commit"] = spent.get("commit", 0.0) + time.process_time() - t0
    total = time.process_time() - c0
    db.close()
    if not keep:
        work.unlink()
    return total


def _cpu(fn: Callable[[], object]) -> float:
    c0 = time.process_time()
    fn()
    return time.process_time() - c0


def main(quick: bool = False) -> None:
    args = [a for a in sys.argv[1:] if a.isdigit()]
    n = int(args[0]) if args else 2_000 if quick else 10_000
    repeat = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 3
    tune_gc()
    data = remit_file(n)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path, posters = bench_posting.posters(root, data, n, repeat + 1)
        snapshot = root / "before.sqlite"
        with sqlite3.connect(root / "s0" / "gateway.sqlite") as src, sqlite3.connect(snapshot) as dst:
            src.backup(dst)  # the committed state, WAL included
        posters[0].post()
        posters[0].store.close()
        rows = posted_rows(snapshot, root / "s0" / "gateway.sqlite")
        _, inserts, updates = rows
        spent: dict[str, float] = {}
        edi, post, rows_cpu, split = [], [], [], []
        _edi_parse(path)  # warm-up
        for i in range(repeat):
            edi.append(_cpu(lambda: _edi_parse(path)))
            post.append(_cpu(posters[i + 1].post))
            rows_cpu.append(rows_floor(snapshot, root / "floor.sqlite", rows, spent))
            split.append(_cpu(lambda: split_floor(data)))
        for p in posters[1:]:
            p.store.close()
    med = {k: statistics.median(v) for k, v in
           {"edi": edi, "post": post, "rows": rows_cpu, "split": split}.items()}  # fmt: skip
    budget = med["edi"] / 2
    floor = med["rows"] + med["split"]
    per_table: dict[str, int] = {t: len(v) for t, v in inserts.items()}
    for by_table in updates.values():
        for t, v in by_table.items():
            per_table[t] = per_table.get(t, 0) + len(v)
    total_rows = sum(per_table.values())
    print(f"\nissue 13's posting goal and its floor: {n:,} claims, CPU seconds, medians of {repeat} interleaved rounds")
    print(f"{'what':<58} {'CPU s':>7} {'µs/claim':>9} {'× budget':>9}")
    lines = [
        ("edi-835-parser parse (the baseline)", med["edi"]),
        ("budget: half the baseline (goal ≥ 2×)", budget),
        ("our posting (read, match, ledger, lifecycle; durable)", med["post"]),
        (f"floor, rows: the {total_rows:,} rows posting writes, executemany", med["rows"]),
        ("floor, split: segments, elements, amounts as Decimal", med["split"]),
        ("floor, rows + split", floor),
    ]
    for name, sec in lines:
        print(f"{name:<58} {sec:>7.3f} {sec / n * 1e6:>9.1f} {sec / budget:>8.2f}×")
    print("floor, rows, per table: rows written or changed, CPU ms (mean of the rounds)")
    for table, count in sorted(per_table.items(), key=lambda tc: -spent.get(tc[0], 0)):
        print(f"  {table:<16} {count:>8,} {spent.get(table, 0) / repeat * 1000:>8.0f}")
    print(f"  {'commit (fsync)':<16} {'':>8} {spent['commit'] / repeat * 1000:>8.0f}")
    verdict = "above" if floor > budget else "within"
    print(f"the floor is {verdict} the budget ({floor / budget:.2f}×): best possible ratio {med['edi'] / floor:.2f}× "
          f"edi-835-parser (ours {med['edi'] / med['post']:.2f}×)")  # fmt: skip
    goals.record("posting_floor", f"floor {floor / budget:.2f}× the budget: at best {med['edi'] / floor:.2f}× "
                 f"({n:,} claims, {total_rows:,} rows)", med["edi"] / floor >= 2)  # fmt: skip


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
