"""Carrying over ``<state_dir>/control-numbers.sqlite``, where SQLite
deployments (and ``gateway process``) kept control numbers before they moved
into the store: its counters are adopted (a counter only ever goes up, so
the import is idempotent and safe with several processes starting at once),
then the file is renamed ``control-numbers.sqlite.imported`` so it is read
once. Back it up with the store until you have checked the numbers.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from gateway.store.base import Store

LEGACY_FILE = "control-numbers.sqlite"


def import_control_numbers(store: Store, state_dir: Path) -> int:
    """Adopt the legacy file's counters into ``store``; how many counters."""
    path = Path(state_dir) / LEGACY_FILE
    if not path.is_file():
        return 0
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT scope, counter, value FROM control_numbers").fetchall()
    except sqlite3.OperationalError:  # an empty file: nothing was ever allocated
        rows = []
    finally:
        db.close()
    store.adopt_numbers({(s, c): int(v) for s, c, v in rows})
    with contextlib.suppress(FileNotFoundError):  # another process got there first
        path.rename(path.with_name(LEGACY_FILE + ".imported"))
    return len(rows)
