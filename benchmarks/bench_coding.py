"""ICD-10-CM coding: index load cost and codes checked per second, next to
simple-icd-10-cm (the package the index is built from) in the same run.

    .venv/bin/python -m benchmarks.bench_coding [--quick]

Load time and memory are measured in fresh subprocesses (peak RSS growth),
so neither side benefits from what the other already imported.
"""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import sys
from datetime import date
from pathlib import Path

from gateway_plugins.coding import icd10cm
from gateway_plugins.coding.icd10cm.index import Status, load_release, normalise

from benchmarks._util import measure, print_table
from gateway.app import Gateway
from gateway.config import Clinic
from gateway.examples import TEMPLATE
from gateway.model import Diagnosis, Encounter, Patient, PersonName, ServiceLine

ROOT = Path(__file__).resolve().parent.parent
INDEX = ROOT / "plugins" / "coding" / "icd10cm" / "data" / "icd10cm-2026-04.txt"

_PROBE = """
import json, resource, sys, time
{setup}
r0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
{stmt}
dt = time.perf_counter() - t0
r1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"seconds": dt, "rss_mb": (r1 - r0) / 1024}}))
"""

CASES = {
    "gateway index: load icd10cm-2026-04.txt": (
        "import warnings\nfrom pathlib import Path\nfrom gateway_plugins.coding.icd10cm.index import load_release",
        f"load_release(Path({str(INDEX)!r}))",
    ),
    "baseline: import simple_icd_10_cm": (
        "import warnings; warnings.simplefilter('ignore')",
        "import simple_icd_10_cm",
    ),
}


def probe(setup: str, stmt: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE.format(setup=setup, stmt=stmt)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def load_costs(runs: int) -> None:
    print("\nICD-10-CM data load (fresh subprocess each run; medians)")
    header = f"{'what':<44} {'ms (median)':>12} {'MB RSS growth':>14} {'vs baseline':>12}"
    print(header)
    print("-" * len(header))
    rows = {}
    for name, (setup, stmt) in CASES.items():
        samples = [probe(setup, stmt) for _ in range(runs)]
        rows[name] = (
            statistics.median(s["seconds"] for s in samples) * 1000,
            statistics.median(s["rss_mb"] for s in samples),
        )
    base_ms, base_mb = rows["baseline: import simple_icd_10_cm"]
    for name, (ms, mb) in rows.items():
        ratio = "baseline" if name.startswith("baseline") else f"{base_ms / ms:.0f}x faster"
        print(f"{name:<44} {ms:>12.1f} {mb:>14.1f} {ratio:>12}")
    print(f"(memory: gateway index {rows[next(iter(rows))][1]:.1f} MB vs {base_mb:.1f} MB)")


def sample_codes(n: int) -> list[str]:
    """Billable, header and unknown codes, with dots and lower case as clinics send them."""
    rel = load_release(INDEX)
    rnd = random.Random(7)
    billable, header = sorted(rel.billable), sorted(rel.header)
    codes = []
    for i in range(n):
        pool = billable if i % 10 < 8 else header
        code = rnd.choice(pool) if i % 20 else "Q99" + str(i % 10) + "X"
        codes.append((code[:3] + "." + code[3:] if len(code) > 3 else code).lower())
    return codes


def throughput(quick: bool) -> None:
    import warnings

    n = 20_000 if quick else 100_000
    codes = sample_codes(n)
    rel = load_release(INDEX)

    def gateway_check() -> int:
        return sum(rel.status(normalise(c)) is Status.BILLABLE for c in codes)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import simple_icd_10_cm as cm

    def baseline_check() -> int:
        ok = 0
        for c in codes:
            u = c.upper()
            ok += cm.is_valid_item(u) and cm.is_leaf(u)
        return ok

    assert gateway_check() == baseline_check(), "the index and simple-icd-10-cm disagree"
    repeat = 3 if quick else 5
    base = measure("baseline: simple_icd_10_cm is_valid_item+is_leaf", baseline_check, n, repeat=repeat)
    ours = measure("gateway index: normalise + status", gateway_check, n, repeat=repeat)
    encounters = _encounters(200 if quick else 1000)
    clinic = Gateway.from_config(TEMPLATE).clinics["riverside"]
    plugin = measure(
        "icd10cm plugin: encounters (4 dx) / s", lambda: _code_all(encounters, clinic), len(encounters), repeat
    )
    title = f"ICD-10-CM codes checked per second ({n:,} codes: 80% billable, 15% header, 5% unknown)"
    print_table(title, [base, ours], baseline=base)
    print_table("Whole plugin hook (gateway_code_encounter)", [plugin])


def _encounters(n: int) -> list[Encounter]:
    codes = sample_codes(4 * n)
    return [
        Encounter(
            id=f"V{i}",
            patient=Patient(id="P", name=PersonName(family="Benchmark")),
            diagnoses=[Diagnosis(code=c) for c in codes[4 * i : 4 * i + 4]],
            service_lines=[ServiceLine(service_date=date(2026, 5, 4), procedure_code="99213", diagnosis_pointers=[1])],
        )
        for i in range(n)
    ]


def _code_all(encounters: list[Encounter], clinic: Clinic) -> None:
    for e in encounters:
        for d in e.diagnoses:  # undo the in-place normalisation so every run does the same work
            d.code = d.code.lower()
        icd10cm.gateway_code_encounter(e, clinic)


def main(quick: bool = False) -> None:
    load_costs(3 if quick else 7)
    throughput(quick)


if __name__ == "__main__":
    main("--quick" in sys.argv)
