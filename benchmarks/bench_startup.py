"""Start-up: ``gateway --help`` and ``gateway inspect`` of one HL7 file, as a
user runs them (a new process each), next to bare ``python -c "import click"``
and ``python -c "import pydantic"`` in the same run (issue 18's goals: within
3x each). The four commands run interleaved, N rounds; medians of wall time.

    python -m benchmarks.bench_startup [--rounds N]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from gateway.examples import FIXTURES

GOAL = 3.0
HL7_FILE = "dft_p03_v25_cpt_modifiers.hl7"


def _gateway() -> list[str]:
    script = Path(sys.executable).with_name("gateway")
    return [str(script)] if script.exists() else [sys.executable, "-m", "gateway.cli"]


def commands() -> dict[str, list[str]]:
    hl7 = FIXTURES / "hl7v2" / HL7_FILE
    if not hl7.exists():  # any DFT fixture will do
        hl7 = sorted((FIXTURES / "hl7v2").glob("dft*.hl7"))[0]
    return {
        "python -c 'import click'": [sys.executable, "-c", "import click"],
        "gateway --help": [*_gateway(), "--help"],
        "python -c 'import pydantic'": [sys.executable, "-c", "import pydantic"],
        f"gateway inspect {hl7.name}": [*_gateway(), "inspect", str(hl7)],
    }


def run(rounds: int) -> dict[str, list[float]]:
    cmds = commands()
    times: dict[str, list[float]] = {name: [] for name in cmds}
    env = dict(os.environ)
    for cmd in cmds.values():  # warm the file cache and the .pyc files
        subprocess.run(cmd, capture_output=True, check=True, env=env)
    for _ in range(rounds):
        for name, cmd in cmds.items():
            t0 = time.perf_counter()
            subprocess.run(cmd, capture_output=True, check=True, env=env)
            times[name].append(time.perf_counter() - t0)
    return times


def main(quick: bool = False) -> None:
    rounds = 5 if quick else 21
    if "--rounds" in sys.argv:
        rounds = int(sys.argv[sys.argv.index("--rounds") + 1])
    times = run(rounds)
    names = list(times)
    pairs = [(names[1], names[0]), (names[3], names[2])]
    print(f"\nstart-up: medians of {rounds} interleaved runs (wall time, a new process each); goal ≤ {GOAL:.0f}x")
    header = f"{'command':<44} {'median ms':>10} {'baseline':<30} {'base ms':>8} {'ratio':>7} {'goal':>6}"
    print(header)
    print("-" * len(header))
    for what, base in pairs:
        m, b = statistics.median(times[what]) * 1000, statistics.median(times[base]) * 1000
        ratio = m / b
        print(f"{what:<44} {m:>10.0f} {base:<30} {b:>8.0f} {ratio:>6.2f}x {'pass' if ratio <= GOAL else 'FAIL':>6}")


if __name__ == "__main__":
    main("--quick" in sys.argv)
