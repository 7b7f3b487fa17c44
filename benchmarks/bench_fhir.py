"""FHIR inbound speed: bundles per second through the plugin (sniff + parse
into encounters) next to bare fhir.resources R4B ``Bundle.model_validate_json``
on the same bytes in the same run (the baseline).

The plugin validates each bundle once with the R4B models and then walks the
raw JSON (decimals kept exact); its own work is everything beyond that
validation: the envelope (sniff), loading, indexing, reference resolution and
building encounters. Target: that work adds at most 25% to the validation.

Inputs: the synthetic fixture bundles, a generated bundle of 40 encounters
(billing resources only: the worst case for the plugin's share) and, when
../shared/corpus is present, the Synthea bundles (companions first; the
small Salina bundle is left out because bare validation rejects its
``Bundle.id`` — the plugin ignores that id with a warning).

Plugin and baseline runs alternate and are timed in process CPU time with the
garbage collector paused (as timeit does), so other work on the shared
machine disturbs both alike; medians are quoted.

    .venv/bin/python -m benchmarks.bench_fhir [--quick]
"""

from __future__ import annotations

import copy
import gc
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from fhir.resources.R4B.bundle import Bundle
from gateway_plugins.inbound.fhir import FhirSettings, parse, sniff

from benchmarks import goals
from benchmarks._util import Measurement, print_table
from gateway.app import Gateway
from gateway.examples import FIXTURES, write_example_deployment
from gateway.messages import MemoryRecords
from gateway.oneshot import expand_inputs, process_files
from tests.corpus.conftest import CORPUS

TARGET = 0.25
#: issue 18: the gateway process job over the Synthea bundles, at most this many times bare validation
GOAL_END_TO_END = 1.5
SYNTHEA = "Synthea corpus (2 companions + 6 patients)"


def generated_bundle(encounters: int) -> bytes:
    """The two-encounter message fixture with its encounters and charges repeated."""
    doc = json.loads((FIXTURES / "fhir" / "lakeside-message-two-encounters.json").read_bytes())
    entries = doc["entry"]
    per_visit = [e for e in entries if e["resource"]["resourceType"] in ("Encounter", "Condition", "ChargeItem")]
    shared = [e for e in entries if e not in per_visit]
    out = list(shared)
    for n in range(encounters // 2):
        for e in copy.deepcopy(per_visit):
            text = json.dumps(e).replace("lk-enc-", f"g{n}-enc-").replace("lk-ch-", f"g{n}-ch-")
            text = text.replace("lk-cnd-", f"g{n}-cnd-").replace("LK-V-", f"G{n}-V-")
            out.append(json.loads(text))
    doc["entry"] = out
    return json.dumps(doc).encode()


def inputs() -> dict[str, list[bytes]]:
    sets = {
        "fixtures (JSON bundles)": [
            p.read_bytes() for p in sorted((FIXTURES / "fhir").glob("*.json")) if b'"Bundle"' in p.read_bytes()[:200]
        ],
        "generated bundle, 40 encounters": [generated_bundle(40)],
    }
    corpus = CORPUS / "fhir"
    if corpus.is_dir():
        companions = sorted(corpus.glob("synthea_r4_*Information*.json"))
        patients = [p for p in sorted(corpus.glob("synthea_r4_*_bundle.json")) if "Salina386" not in p.name]
        sets[SYNTHEA] = [p.read_bytes() for p in companions + patients]
    return sets


def through_plugin(bundles: list[bytes]) -> Callable[[], object]:
    settings = FhirSettings(max_bytes=50_000_000)

    def run() -> None:
        records = MemoryRecords()
        for raw in bundles:
            env = sniff(raw)
            result = parse(raw, env.format, "bench", records, settings, env.extra.get("doc"))
            assert not [f for f in result.findings if f.is_error]
            records.apply("bench", result.updates)

    return run


def bare_validation(bundles: list[bytes]) -> Callable[[], object]:
    def run() -> None:
        for raw in bundles:
            Bundle.model_validate_json(raw)

    return run


def interleaved(runs: dict[str, Callable[[], object]], items: int, repeat: int) -> list[Measurement]:
    """Alternate the runs ``repeat`` times after a warm-up, timing CPU seconds.

    Each sample loops a run until it lasts about 50 ms, so small inputs are
    not measured at the resolution of the noise."""
    first = next(iter(runs.values()))
    started = time.process_time()
    first()
    loops = max(1, round(0.05 / max(time.process_time() - started, 1e-4)))
    times: dict[str, list[float]] = {name: [] for name in runs}
    for fn in runs.values():
        fn()
    for _ in range(repeat):
        for name, fn in runs.items():
            gc.collect()
            gc.disable()  # like timeit: collections of garbage are not charged to either run
            started = time.process_time()
            for _ in range(loops):
                fn()
            times[name].append(time.process_time() - started)
            gc.enable()
    return [Measurement(name, items * loops, seconds) for name, seconds in times.items()]


def main(quick: bool = False) -> None:
    repeat = 5 if quick else 15
    worst = 0.0
    for title, bundles in inputs().items():
        size = sum(map(len, bundles))
        plugin, baseline = interleaved(
            {
                "fhir plugin: sniff + parse → encounters": through_plugin(bundles),
                "bare R4B Bundle.model_validate_json": bare_validation(bundles),
            },
            len(bundles),
            repeat,
        )
        print_table(f"{title}: {len(bundles)} bundles, {size / 1e6:.2f} MB", [plugin, baseline], baseline)
        overhead = plugin.median / baseline.median - 1
        worst = max(worst, overhead)
        print(f"plugin's own work on top of validation: {overhead:+.1%} (target ≤ {TARGET:.0%})")
    verdict = "within" if worst <= TARGET else "ABOVE"
    print(f"\nworst case: {worst:+.1%}, {verdict} the {TARGET:.0%} target (CPU time, median of {repeat})")
    synthea = inputs().get(SYNTHEA)
    if synthea:
        end_to_end(synthea, 3 if quick else 5)


def end_to_end(bundles: list[bytes], repeat: int) -> None:
    """Issue 18: the ``gateway process`` job (journal, pipeline, store,
    batcher, 837 files; start-up excluded: the gateway is built before
    timing) over the Synthea bundles, next to bare R4B validation of the same
    bytes; goal ≤ 1.5×. The inputs go to the clinic with the Synthea code
    map (``--clinic riverside``: Synthea names no sending facility). Synthea
    has no member ids, so every encounter is quarantined (GW-MEMBER-ID) and no
    837 is written: the figure covers everything up to the claims. Timed like
    the rest of this file: CPU time, the collector paused for both."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        gw = Gateway.from_config(write_example_deployment(root / "deploy"))
        (root / "in").mkdir()
        for i, raw in enumerate(bundles):  # companions first, as inputs() orders them
            (root / "in" / f"{i:02d}.json").write_bytes(raw)
        runs = [0]

        def job() -> None:
            runs[0] += 1
            shutil.rmtree(gw.loaded.state_dir, ignore_errors=True)
            out = root / f"out{runs[0]}"
            process_files(gw, expand_inputs([root / "in"]), out, clinic_id="riverside", today=date(2026, 11, 27))

        validate = bare_validation(bundles)
        timed = {"gateway process job (start-up excluded)": job, "bare R4B Bundle.model_validate_json": validate}
        process, baseline = interleaved(timed, len(bundles), repeat)
    title = f"FHIR → 837P end to end, {SYNTHEA}: {len(bundles)} bundles (CPU, median of {repeat})"
    print_table(title, [process, baseline], baseline)
    ratio = process.median / baseline.median
    print(f"gateway process takes {ratio:.2f}x the bare validation (goal ≤ {GOAL_END_TO_END}x)")
    goals.record("fhir", f"{ratio:.2f}× CPU ({len(bundles)} Synthea bundles)", ratio <= GOAL_END_TO_END)


if __name__ == "__main__":
    main("--quick" in sys.argv)
