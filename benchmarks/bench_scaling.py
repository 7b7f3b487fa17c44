"""How costs grow with input size (issue 18): ``gateway process`` over 1k,
10k and 100k DFT^P03 messages (issue 18's workload, 2,000 per file; a fresh
process and state each), and the 837 renderer over files of 10, 1,000 and
5,000 claims. Per item: CPU time (the machine is shared), and for the
process its peak resident memory. A step whose cost per item grows by more
than half is flagged as superlinear.

Memory: ``gateway process`` streams its inputs (a claim of the one-shot
worker holds at most 32 MB of inputs, reports are read a chunk at a time),
so its peak RSS should not grow with the number of messages; the 1,000,000
message figure is extrapolated linearly from the growth between the last two
sizes (both in files of 2,000 messages: the peak follows the largest input).

    .venv/bin/python -m benchmarks.bench_scaling [--quick]
    .venv/bin/python -m benchmarks.bench_scaling --million FOLDER   # the 1M run itself (~20 min idle)

The peak is the child's own VmHWM as it exits, never ``wait4``'s ru_maxrss,
which a child started by vfork + exec inherits from this process (writing a
million inputs peaks at ~1.27 GB here). ``--million`` reuses FOLDER/in when
it already holds the 500 inputs.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

from benchmarks import goals
from benchmarks.bench_process import claims_written, write_inputs
from gateway.app import Gateway
from gateway.documents import MemoryControlNumbers, RenderContext
from gateway.examples import write_example_deployment
from gateway.oneshot import Run
from tests.security.daemon import _PEAK

#: a step is superlinear when its cost per item is this many times the previous step's
SUPERLINEAR = 1.5
MEMORY_GOAL_MB = 300


def _rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` now (VmRSS), in MB; 0 once it has gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def process_run(n: int, root: Path, samples: Path | None = None) -> tuple[float, float, float]:
    """``gateway process`` over ``n`` messages: (wall s, CPU s, peak RSS MB).
    With ``samples``, its RSS is appended there every 5 s (elapsed s, MB)."""
    per_file = min(n, 2000)
    config = write_example_deployment(root / "deploy")
    if not (root / "in").is_dir() or len(list((root / "in").iterdir())) != n // per_file:
        write_inputs(root / "in", n // per_file, per_file)  # else: a --million folder's inputs, reused
    # the peak is the child's own VmHWM as it exits (``_PEAK``), not wait4's ru_maxrss: a child
    # started by vfork + exec inherits its parent's high-water mark, so ru_maxrss reported this
    # benchmark's own peak (writing a million inputs: ~1.27 GB) as gateway process's
    cmd = [sys.executable, "-c", _PEAK, "process", "--config", str(config), "--out", str(root / "out"),
           "--today", "2026-11-27", str(root / "in")]  # fmt: skip
    err = root / "stderr.txt"
    t0 = time.perf_counter()
    with err.open("wb") as sink:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=sink)
    pid, status, usage = os.wait4(proc.pid, os.WNOHANG if samples else 0)
    while not pid and samples is not None:
        with samples.open("a") as sink:
            print(f"{time.perf_counter() - t0:.0f} {_rss_mb(proc.pid):.1f}", file=sink)
        time.sleep(5)
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"gateway process over {n} messages failed ({proc.returncode})")
    written = claims_written(root / "out")
    if len(written) != n or len(set(written)) != n:
        raise SystemExit(f"{n} messages: {len(written)} claims written ({len(set(written))} distinct)")
    peak = re.search(r"^Vm-kB (\d+) (\d+)$", err.read_text(errors="replace"), re.M)
    if peak is None:
        raise SystemExit(f"gateway process over {n} messages did not report its peak RSS")
    return wall, usage.ru_utime + usage.ru_stime, int(peak.group(1)) / 1024


def render_claims(sizes: list[int]) -> dict[int, float]:
    """CPU seconds per claim to render one 837 of each size (median of 3)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        gw = Gateway.from_config(write_example_deployment(root / "deploy"))
        texts = write_inputs(root / "in", 1, max(sizes))
        run = Run(gateway=gw, today=date(2026, 11, 27))
        run.process_bytes("".join(texts).encode(), "scaling.hl7")
        (clinic, claims), *_ = run.claims.items()
        dest = gw.clinics[clinic].config.claims_to
        renderer = gw.renderer(dest)
        out = {}
        for size in sizes:
            times = []
            for _ in range(3):
                ctx = RenderContext(created=datetime(2026, 11, 27, tzinfo=UTC), config=gw.config,
                                    control_numbers=MemoryControlNumbers(), settings=gw.format_settings.get(dest),
                                    clinics=gw.clinics)  # fmt: skip
                c0 = time.process_time()
                renderer.render(claims[:size], ctx)
                times.append(time.process_time() - c0)
            out[size] = sorted(times)[1] / size
        return out


def _steps(costs: list[float]) -> list[str]:
    marks = [""]
    for before, after in itertools.pairwise(costs):
        marks.append(f"{after / before:.2f}× per item" + ("  SUPERLINEAR" if after > before * SUPERLINEAR else ""))
    return marks


def million(root: Path) -> None:
    """Issue 18's memory goal measured, not extrapolated: ``gateway process``
    over 1,000,000 messages (500 files of 2,000), its RSS sampled every 5 s
    into ``root/rss.txt``."""
    n = 1_000_000
    wall, cpu, rss = process_run(n, root, samples=root / "rss.txt")
    print(f"gateway process, {n:,} messages: {wall:.0f} s wall, {cpu:.0f} s CPU, peak RSS {rss:.0f} MB")
    goals.record("memory_process", f"{rss:.0f} MB peak at 1M messages (measured)", rss < MEMORY_GOAL_MB)


def main(quick: bool = False) -> None:
    sizes = [2000, 6000] if quick else [1000, 10_000, 100_000]
    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            rows.append((n, *process_run(n, Path(tmp))))
    print(f"\ngateway process, HL7 DFT^P03 → 837 (a new process and state each; load {os.getloadavg()[0]:.1f})")
    print(f"{'messages':>10} {'wall s':>8} {'CPU s':>8} {'CPU µs/msg':>11} {'peak RSS MB':>12}  step")
    marks = _steps([cpu / n for n, _, cpu, _ in rows])
    for (n, wall, cpu, rss), mark in zip(rows, marks, strict=True):
        print(f"{n:>10,} {wall:>8.1f} {cpu:>8.1f} {cpu / n * 1e6:>11.0f} {rss:>12.0f}  {mark}")
    render_sizes = [10, 200, 1000] if quick else [10, 1000, 5000]
    per_claim = render_claims(render_sizes)
    print("\n837 rendering, one file per run (CPU, median of 3)")
    print(f"{'claims':>10} {'µs/claim':>10}  step")
    render_marks = _steps([per_claim[s] for s in render_sizes])
    for size, mark in zip(render_sizes, render_marks, strict=True):
        print(f"{size:>10,} {per_claim[size] * 1e6:>10.0f}  {mark}")
    superlinear = any("SUPERLINEAR" in m for m in marks + render_marks)
    goals.record("scaling", "superlinear step found" if superlinear else "no step above 1.5× per item", not superlinear)
    (n0, _, _, rss0), (n1, _, _, rss1) = rows[-2], rows[-1]
    million = rss1 + max(0.0, rss1 - rss0) * (1_000_000 - n1) / (n1 - n0)
    print(f"\npeak RSS {n0:,} → {n1:,} messages: {rss0:.0f} → {rss1:.0f} MB; 1,000,000 extrapolated: {million:.0f} MB")
    measured = f"{rss0:.0f}→{rss1:.0f} MB ({n0 // 1000}k→{n1 // 1000}k); 1M ≈ {million:.0f} MB"
    goals.record("memory_process", measured, million < MEMORY_GOAL_MB)


if __name__ == "__main__":
    if "--million" in sys.argv:
        million(Path(sys.argv[sys.argv.index("--million") + 1]))
    else:
        main("--quick" in sys.argv)
