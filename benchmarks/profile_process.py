"""Where ``gateway process`` spends its time: the issue-18 HL7 workload run
in-process (the same OneShot job the command runs) under cProfile, printing
the top entries by own time and by cumulative time. Not part of ``make
bench`` (a profile is no benchmark); use it before and after a change and
write the figures into benchmarks/README.md.

    .venv/bin/python -m benchmarks.profile_process [MESSAGES] [--top N] [--fhir]
"""

from __future__ import annotations

import cProfile
import io
import pstats
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from benchmarks.bench_process import write_inputs
from gateway.app import Gateway
from gateway.examples import write_example_deployment
from gateway.oneshot import expand_inputs, process_files


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 2000
    top = int(sys.argv[sys.argv.index("--top") + 1]) if "--top" in sys.argv else 30
    per_file = min(n, 2000)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = write_example_deployment(root / "deploy")
        write_inputs(root / "in", max(1, n // per_file), per_file)
        gw = Gateway.from_config(config)
        files = expand_inputs([root / "in"])
        prof = cProfile.Profile()
        t0 = time.perf_counter()
        prof.enable()
        summary = process_files(gw, files, root / "out", today=date(2026, 11, 27))
        prof.disable()
        wall = time.perf_counter() - t0
    print(f"{summary.claims} claims from {n} messages in {wall:.2f} s under cProfile (start-up excluded)")
    for key in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(prof, stream=out).strip_dirs().sort_stats(key).print_stats(top)
        print(out.getvalue().split("\n", 4)[-1])


if __name__ == "__main__":
    main()
