"""The console's queries on a large store: 1,000,000 messages in SQLite
(``--quick``: 100,000) over 60 days and 20 clinics, 5 % quarantined under 20
rule ids (one of them rare), the rule index filled by its triggers.

Each query is one page or one panel as the console asks for it, timed as
the median of 5 runs. Baseline in the same run: the same first-page query
50,000 rows deep done with OFFSET (what keyset pagination avoids).
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from pathlib import Path

from benchmarks._util import Measurement, measure, print_ms_table
from gateway.daemon.metrics import render_metrics
from gateway.store import SQLiteStore
from gateway.store.sqlstore import _MESSAGE_COLUMNS
from gateway.store.views import EVERYTHING, MessageQuery, Scope, Views

CLINICS = [f"clinic{i:02d}" for i in range(20)]
RULES = [f"RULE-{i:02d}" for i in range(19)] + ["RARE-RULE"]


def fill(store: SQLiteStore, n: int) -> None:
    rnd = random.Random(7)
    now = time.time()
    rows = []
    for i in range(n):
        received = now - 60 * 86400 * (n - i) / n
        clinic = CLINICS[i % len(CLINICS)]
        roll = rnd.random()
        if roll < 0.05:
            status = "quarantined"
            rule = "RARE-RULE" if rnd.random() < 0.002 else rnd.choice(RULES[:-1])
            findings = json.dumps([{"severity": "error", "rule": rule, "message": "m", "plugin": "p"}])
        else:
            status, findings = ("claimed" if roll < 0.1 else "delivered"), "[]"
        rows.append((clinic, f"{i:064x}", 1, "mllp", clinic, status, findings, received, received, received))
        if len(rows) == 20000:
            _insert(store, rows)
            rows = []
    if rows:
        _insert(store, rows)


def _insert(store: SQLiteStore, rows: list[tuple]) -> None:
    with store.write() as cur:
        cur.executemany(
            "INSERT INTO messages (scope, sha256, size, source, clinic_id, status, findings, received_at, "
            "updated_at, processed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


def main(quick: bool = False) -> None:
    n = 100_000 if quick else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "gateway.sqlite")
        t0 = time.perf_counter()
        fill(store, n)
        filled = time.perf_counter() - t0
        v = Views(store)
        one = Scope(frozenset({"clinic07"}))
        five = Scope(frozenset(CLINICS[:5]))
        deep = n - 50_000
        cols = ", ".join(f"m.{c.strip()}" for c in _MESSAGE_COLUMNS.split(","))

        def offset_page() -> None:
            with store.read() as cur:
                cur.execute(f"SELECT {cols} FROM messages m ORDER BY m.id DESC LIMIT 50 OFFSET 50000")
                cur.fetchall()

        now = time.time()
        cases = [
            ("baseline: page 1,001 by OFFSET (50,000 deep)", offset_page),
            ("messages, page 1 (all clinics)", lambda: v.messages(EVERYTHING, MessageQuery(limit=50))),
            ("messages, page 1,001 by keyset", lambda: v.messages(EVERYTHING, MessageQuery(before_id=deep, limit=50))),
            ("messages of 1 clinic, page 1", lambda: v.messages(one, MessageQuery(limit=50))),
            ("messages of 5 clinics, quarantined", lambda: v.messages(five, MessageQuery(status="quarantined"))),
            ("messages with a common rule", lambda: v.messages(EVERYTHING, MessageQuery(rule="RULE-03"))),
            ("messages with a rare rule (~100 in all)", lambda: v.messages(EVERYTHING, MessageQuery(rule="RARE-RULE"))),
            ("quarantine queue grouped by rule (all)", lambda: v.quarantine_groups(EVERYTHING)),
            ("overview counts (all clinics)", lambda: v.overview(EVERYTHING)),
            ("chart: 1 clinic, 24 h per hour", lambda: v.series(one, "clinic07", now - 86400, 3600, 24)),
            ("chart: 1 clinic, 30 days per day", lambda: v.series(one, "clinic07", now - 30 * 86400, 86400, 30)),
            ("/metrics (whole store)", lambda: render_metrics(store)),
        ]
        rows: list[Measurement] = [measure(name, fn, 1, repeat=5) for name, fn in cases]
        store.close()
    print_ms_table(f"Console queries on {n:,} messages (SQLite; filled in {filled:.0f} s, rule index by trigger)", rows)


if __name__ == "__main__":
    import sys

    main("--quick" in sys.argv)
