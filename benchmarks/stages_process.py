"""Stage timings of issue 18's HL7 workload (``gateway process``), in-process,
start-up excluded, CPU µs per message, medians of interleaved rounds next to
python-hl7's bare ``hl7.parse`` of the same messages in the same rounds. Not
part of ``make bench`` (bench_process measures the goal itself, a fresh
process with everything); use it to see which stage a change moved.

Stages: the HL7 plugin's parse of one 2,000-message file (read + mapping,
encounters validated); the pure pipeline (sniff, route, parse, coding,
claims, scrub, payer rules); the 837 rendering of the claims it built; the
whole one-shot job (``process_files``: journal, worker, store, batcher,
outbox, files), and that job's parts (CPU inside each, in the same runs).

    .venv/bin/python -m benchmarks.stages_process [MESSAGES] [--rounds N]
"""

from __future__ import annotations

import gc
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

import hl7

import gateway.delivery.batcher as batcher
import gateway.worker as worker
from benchmarks.bench_process import write_inputs
from gateway.app import Gateway
from gateway.delivery.dispatcher import Dispatcher
from gateway.documents import MemoryControlNumbers, RenderContext
from gateway.examples import write_example_deployment
from gateway.messages import MemoryRecords, MessageMeta
from gateway.model import Claim
from gateway.oneshot import OneShot, expand_inputs, process_files
from gateway.store.sqlstore import SQLStore
from gateway.worker import GC_THRESHOLD

#: the whole job's parts: (label, owner, attribute); indented labels are inside the one above
PARTS: tuple[tuple[str, object, str], ...] = (
    ("journal", OneShot, "_journal"),
    ("worker (pipeline, results, complete)", OneShot, "_process"),
    ("  results into rows (JSON, packing)", worker, "encounter_outcome"),
    ("  store.complete", worker.Worker, "_complete"),
    ("publish", OneShot, "_publish"),
    ("  batcher: stored claims read", batcher.Batcher, "_load"),
    ("  batcher: render (claims validated)", batcher.Batcher, "render"),
    ("  batcher: X12 control numbers", batcher, "x12_controls"),
    ("  store.cut", SQLStore, "cut"),
    ("  dispatcher (files, delivered)", Dispatcher, "run_until_idle"),
    ("summary", OneShot, "_report"),
)


def _cpu(fn: Callable[[], object]) -> float:
    gc.collect()
    c0 = time.process_time()
    fn()
    return time.process_time() - c0


@contextmanager
def _parts(spent: Counter[str]) -> Iterator[None]:
    """CPU spent inside each of :data:`PARTS` while in the block, into ``spent``."""
    saved = []
    for label, owner, name in PARTS:
        own = name in vars(owner)
        fn = getattr(owner, name)
        saved.append((owner, name, own, fn))

        def timed(*a: object, _fn: Callable[..., object] = fn, _label: str = label, **k: object) -> object:
            c0 = time.process_time()
            try:
                return _fn(*a, **k)
            finally:
                spent[_label] += time.process_time() - c0

        setattr(owner, name, timed)
    try:
        yield
    finally:
        for owner, name, own, fn in reversed(saved):
            if own:
                setattr(owner, name, fn)
            else:
                delattr(owner, name)


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 2000
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 5
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = write_example_deployment(root / "deploy")
        texts = write_inputs(root / "in", 1, n)
        raw = (root / "in" / "batch-00.hl7").read_bytes()
        gw = Gateway.from_config(config)
        meta = MessageMeta(source="bench", today=date(2026, 11, 27))
        clinic = next(iter(gw.clinics.values()))
        parse_hook = gw.pipeline.host
        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLD)

        def baseline() -> None:
            for t in texts:
                hl7.parse(t)

        def hl7_read() -> None:
            env, _ = parse_hook.first_result("gateway_sniff", raw=raw, meta=meta)
            parsed, _ = parse_hook.first_result(
                "gateway_parse", raw=raw, envelope=env, clinic=clinic, records=MemoryRecords()
            )
            for _ in parsed.stream:
                pass

        claims: list[Claim] = []

        def pipeline() -> None:
            claims.clear()
            gw.pipeline.process(raw, meta, MemoryRecords(), lambda r: claims.extend(r.claims))

        pipeline()
        dest = next(d for d, v in gw.config.destinations.items() if v.format == "x12-837p")

        def render() -> None:
            ctx = RenderContext(
                created=datetime(2026, 11, 27, tzinfo=UTC),
                config=gw.config,
                control_numbers=MemoryControlNumbers(),
                settings=gw.format_settings.get(dest),
                clinics=gw.clinics,
            )
            gw.renderer(dest).render(claims, ctx)

        runs = [0]

        def job() -> None:
            runs[0] += 1
            out = root / f"out{runs[0]}"
            process_files(gw, expand_inputs([root / "in"]), out, today=date(2026, 11, 27))

        # each job run needs a fresh state folder: a new deployment per round
        parts: dict[str, list[float]] = {label: [] for label, _, _ in PARTS}

        def fresh_job() -> float:
            nonlocal gw
            deploy = root / f"deploy{runs[0]}"
            gw = Gateway.from_config(write_example_deployment(deploy))
            spent: Counter[str] = Counter()
            with _parts(spent):
                cpu = _cpu(job)
            for label in parts:
                parts[label].append(spent[label])
            return cpu

        stages: dict[str, list[float]] = {
            k: [] for k in ("hl7.parse", "HL7 read + mapping", "pure pipeline", "837 render", "whole job")
        }
        for _ in range(rounds):
            stages["hl7.parse"].append(_cpu(baseline))
            stages["HL7 read + mapping"].append(_cpu(hl7_read))
            stages["pure pipeline"].append(_cpu(pipeline))
            stages["837 render"].append(_cpu(render))
            stages["whole job"].append(fresh_job())
    base = statistics.median(stages["hl7.parse"])
    print(f"\nissue 18 stages, {n} DFT^P03 in one file, CPU µs/msg, median of {rounds} interleaved rounds")
    print(f"{'stage':<24} {'µs/msg':>8} {'hl7.parse ÷ stage':>18}")
    for name, cpu in stages.items():
        med = statistics.median(cpu)
        print(f"{name:<24} {med / n * 1e6:>8,.0f} {base / med:>17.2f}×")
    print(f"\nwhole job by part, CPU µs/msg, median of {rounds}")
    for label, cpu in parts.items():
        print(f"{label:<40} {statistics.median(cpu) / n * 1e6:>8,.0f}")


if __name__ == "__main__":
    main()
