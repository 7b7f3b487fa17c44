"""Start-up: ``gateway --help`` and ``gateway inspect`` of one HL7 file, as a
user runs them (a new process each), next to bare ``python -c "import click"``
and ``python -c "import pydantic"`` in the same run (issue 18's goals: within
3x each). The four commands run interleaved, N rounds; medians of wall time.

    python -m benchmarks.bench_startup [--rounds N] [--against DIR]

``--against DIR``: another checkout with its own ``.venv`` (main's, for an
A/B) runs the same two gateway commands in the same rounds, and a second
table compares the two.

The floor under the inspect goal runs in the same rounds too: bare imports
of what any ``gateway inspect`` needs before it reads a plugin (the core's
models, configuration, pipeline and command line), in the same ratio to
``import pydantic``.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from gateway.examples import FIXTURES

GOAL = 3.0
#: CPU seconds (user + system) of each run of the last :func:`run`, by command
CPU: dict[str, list[float]] = {}
HL7_FILE = "dft_p03_v25_cpt_modifiers.hl7"


def _gateway(python: str = sys.executable) -> list[str]:
    script = Path(python).with_name("gateway")
    return [str(script)] if script.exists() else [python, "-m", "gateway.cli"]


def commands(against: Path | None = None) -> dict[str, list[str]]:
    """The four commands; with ``against``, that checkout's two gateway commands
    too (named ``... [DIR]``), on the same HL7 file."""
    hl7 = FIXTURES / "hl7v2" / HL7_FILE
    if not hl7.exists():  # any DFT fixture will do
        hl7 = sorted((FIXTURES / "hl7v2").glob("dft*.hl7"))[0]
    out = {
        "python -c 'import click'": [sys.executable, "-c", "import click"],
        "gateway --help": [*_gateway(), "--help"],
        "python -c 'import pydantic'": [sys.executable, "-c", "import pydantic"],
        f"gateway inspect {hl7.name}": [*_gateway(), "inspect", str(hl7)],
    }
    if against is not None:
        other = _gateway(str(against / ".venv" / "bin" / "python"))
        out[f"gateway --help [{against}]"] = [*other, "--help"]
        out[f"gateway inspect {hl7.name} [{against}]"] = [*other, "inspect", str(hl7)]
    for name, code in FLOOR.items():
        out[name] = [sys.executable, "-c", code]
    return out


#: the floor under ``gateway inspect``: what it imports before any plugin, cumulatively
FLOOR = {
    "floor: python -c pass": "pass",
    "floor: from pydantic import BaseModel": "from pydantic import BaseModel",
    "floor: import click, pluggy, gateway.model": "import click, pluggy, gateway.model",
    "floor: + gateway.app, gateway.inspection": "import click, pluggy, gateway.model, gateway.app, gateway.inspection",
}


def run(rounds: int, against: Path | None = None) -> dict[str, list[float]]:
    cmds = commands(against)
    times: dict[str, list[float]] = {name: [] for name in cmds}
    # as installed: a user's Python writes and reads .pyc files (a session with
    # PYTHONDONTWRITEBYTECODE would compile every gateway module on every start)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for cmd in cmds.values():  # warm the file cache and the .pyc files
        subprocess.run(cmd, capture_output=True, check=True, env=env)
    CPU.clear()
    CPU.update({name: [] for name in cmds})
    for _ in range(rounds):
        for name, cmd in cmds.items():
            c0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
            subprocess.run(cmd, capture_output=True, check=True, env=env)
            times[name].append(time.perf_counter() - t0)
            c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            CPU[name].append(c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime)
    return times


def main(quick: bool = False) -> None:
    rounds = 5 if quick else 21
    if "--rounds" in sys.argv:
        rounds = int(sys.argv[sys.argv.index("--rounds") + 1])
    against = Path(sys.argv[sys.argv.index("--against") + 1]) if "--against" in sys.argv else None
    times = run(rounds, against) if against is not None else run(rounds)  # benchmarks.goals wraps run(rounds)
    names = list(times)
    pairs = [(names[1], names[0]), (names[3], names[2])]
    print(f"\nstart-up: medians of {rounds} interleaved runs (a new process each); goal ≤ {GOAL:.0f}x (wall)")
    header = (
        f"{'command':<44} {'wall ms':>8} {'CPU ms':>7} {'baseline':<28} {'wall ms':>8} {'CPU ms':>7}"
        f" {'wall':>6} {'CPU':>6} {'goal':>5}"
    )
    print(header)
    print("-" * len(header))
    for what, base in pairs:
        m, b = statistics.median(times[what]) * 1000, statistics.median(times[base]) * 1000
        mc, bc = statistics.median(CPU[what]) * 1000, statistics.median(CPU[base]) * 1000
        ratio = m / b
        print(
            f"{what:<44} {m:>8.0f} {mc:>7.0f} {base:<28} {b:>8.0f} {bc:>7.0f}"
            f" {ratio:>5.2f}x {mc / bc:>5.2f}x {'pass' if ratio <= GOAL else 'FAIL':>5}"
        )
    if against is not None:
        print(f"\n{against} -> this checkout, same rounds: wall ms, CPU ms (x the same baseline's)")
        for (what, base), other in zip(pairs, names[4:6], strict=True):
            cells = []
            for data in (times, CPU):
                b = statistics.median(data[base])
                cells += [f"{statistics.median(data[n]) * 1000:.0f} ({statistics.median(data[n]) / b:.2f}x)"
                          for n in (other, what)]  # fmt: skip
            print(f"{what:<44} wall {cells[0]} -> {cells[1]}   CPU {cells[2]} -> {cells[3]}")
    base = names[2]
    print(f"\nthe floor under inspect (same rounds): x {base}, wall / CPU")
    for name in FLOOR:
        w, c = statistics.median(times[name]), statistics.median(CPU[name])
        w_ratio, c_ratio = w / statistics.median(times[base]), c / statistics.median(CPU[base])
        print(f"{name:<58} {w * 1000:>5.0f} ms {w_ratio:>5.2f}x  {c * 1000:>5.0f} ms {c_ratio:>5.2f}x")


if __name__ == "__main__":
    main("--quick" in sys.argv)
