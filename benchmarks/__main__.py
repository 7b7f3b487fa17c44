"""Run every benchmark: ``python -m benchmarks [--quick]``."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main() -> None:
    quick = "--quick" in sys.argv
    names = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name.startswith("bench_"))
    for name in names:
        importlib.import_module(f"benchmarks.{name}").main(quick)


if __name__ == "__main__":
    main()
