"""Run every benchmark: ``python -m benchmarks [--quick]``."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main() -> None:
    """Every benchmark's tables, then one table of issue 18's goals
    (benchmarks/goals.py). ``--only a,b`` runs the named ones only
    (``--only process,statements``)."""
    from benchmarks import goals

    quick = "--quick" in sys.argv
    names = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name.startswith("bench_"))
    if "--only" in sys.argv:
        wanted = {f"bench_{n}" for n in sys.argv[sys.argv.index("--only") + 1].split(",")}
        names = [n for n in names if n in wanted]
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        if name == "bench_startup":
            goals.watch_startup(module)
        module.main(quick)
    goals.print_summary()


if __name__ == "__main__":
    main()
