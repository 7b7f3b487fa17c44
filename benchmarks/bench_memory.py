"""Memory per input (issue 17 item 6): peak RSS growth of real processes,
read from /proc, over the idle process (the same command given a tiny input:
its RSS as it exits; measured in the same run). Goal: at most 10x the input size for accepted
inputs of 1 MB or more; a refused input is refused before it is read whole.

* ``gateway inspect`` and ``gateway process`` (VmHWM at exit);
* ``gateway run --workers 1`` with a watched folder: the daemon, its worker
  and the sniff helper (VmHWM before and after one input, a fresh daemon per
  input, after a warm-up: an HL7 batch that starts the helper, then a tiny
  FHIR bundle, so that the worker's one-time build of the R4B models on its
  first FHIR input, about 10 MB, is in its idle figure as it is in the
  one-shot commands' baseline).

Inputs are synthetic (tests/security/inputs.py): HL7 batches of DFT^P03
(1.1 KB each) of 1, 5 and 19.9 MB, one DFT^P03 with thousands of FT1 charge
lines, FHIR bundles of billing resources (benchmarks/bench_fhir.generated_bundle)
of 1, 4.5 and 19.8 MB (the last over the default ``fhir.max_bytes``: run with
the previous limits, 20 MB), and files over the limits. Memory figures barely vary
between runs; ``--quick`` leaves out the daemon and the inputs of 4.5 MB and more.

    .venv/bin/python -m benchmarks.bench_memory [--quick]
"""

from __future__ import annotations

import itertools
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

from gateway.examples import write_example_deployment
from gateway.store import MessageFilter, SQLiteStore
from tests.daemon_helpers import deployment
from tests.security.daemon import Daemon, children, cli_peak_kb, proc_status
from tests.security.inputs import fhir_billing_bundle as fhir_of
from tests.security.inputs import hl7_batch, hl7_message

MB = 1_000_000


#: the limits before issue 17, for the inputs the new ones refuse: a second config in the same run
PREVIOUS = {"max_input_bytes": 64_000_000, "hl7v2": {"max_segments": 10_000_000}, "fhir": {"max_bytes": 20_000_000}}


#: inputs run with the current limits only, with the previous ones too, or with the previous ones only
CURRENT, BOTH, RAISED = ("",), ("", " [previous limits]"), (" [previous limits]",)


def inputs(quick: bool) -> list[tuple[str, str, bytes, tuple[str, ...]]]:
    """(name, file name, bytes, limits); the first of each format is the tiny baseline."""
    out = [
        ("HL7 baseline (3 KB)", "tiny.hl7", hl7_batch(3_000), CURRENT),
        ("HL7 batch, 1 MB", "batch1.hl7", hl7_batch(1 * MB), CURRENT),
        ("HL7 one DFT, 5,000 FT1 (over max_segments)", "ft1.hl7", hl7_message(1 * MB), BOTH),
        ("HL7 25 MB (over max_input_bytes)", "huge.hl7", hl7_batch(25 * MB), CURRENT),
        ("FHIR baseline (8 KB)", "tiny.json", fhir_of(8_000), CURRENT),
        ("FHIR bundle, 1 MB", "fhir1.json", fhir_of(1 * MB), CURRENT),
        ("FHIR bundle, 8 MB (over fhir.max_bytes)", "fhir8.json", fhir_of(8 * MB), BOTH),
    ]
    if not quick:
        out.insert(2, ("HL7 batch, 5 MB", "batch5.hl7", hl7_batch(5 * MB), CURRENT))
        out.insert(3, ("HL7 batch, 19.9 MB", "batch20.hl7", hl7_batch(19_900_000), CURRENT))
        out.insert(-1, ("FHIR bundle, 4.5 MB", "fhir45.json", fhir_of(4_500_000), CURRENT))
        out.append(("FHIR bundle, 19.8 MB (fhir.max_bytes 20 MB)", "fhir20.json", fhir_of(19_500_000), RAISED))
    return out


def previous_limits(config: Path) -> Path:
    """A copy of ``config`` with the limits that applied before issue 17."""
    data = yaml.safe_load(config.read_text())
    data["max_input_bytes"] = PREVIOUS["max_input_bytes"]
    for clinic in data["clinics"]:
        clinic.setdefault("settings", {}).update({"hl7v2": PREVIOUS["hl7v2"], "fhir": PREVIOUS["fhir"]})
    out = config.with_name("previous-limits.yaml")
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


def one_shot(
    config: Path, work: Path, items: list[tuple[str, str, bytes, tuple[str, ...]]], repeat: int
) -> list[tuple]:
    """inspect and process of every input with the limits it names: the
    current ones and/or the previous ones (some inputs the current ones refuse;
    a 19.8 MB bundle, for an operator who raises ``fhir.max_bytes``)."""
    configs = {"": config, " [previous limits]": previous_limits(config)}
    rows, base = [], {}
    for name, fname, raw, limits in items:
        path = work / fname
        path.write_bytes(raw)
        clinic = "riverside" if fname.endswith(".hl7") else "lakeside"  # the reader's own limits, not routing
        runs = [(label, configs[label]) for label in limits]
        for (label, cfg), cmd in itertools.product(runs, ("inspect", "process")):
            args = [cmd, "--config", str(cfg), "--clinic", clinic]
            peaks, ends = [], []
            for n in range(repeat):  # a fresh store and --out each time: a second run would only see a duplicate
                run = work / f"run-{fname}-{cmd}-{len(label)}-{n}"
                out = ["--out", str(run / "out"), "--store", str(run / "gateway.sqlite")] if cmd == "process" else []
                peak_kb, end_kb, done = cli_peak_kb([*args, *out, str(path)])
                peaks.append(peak_kb)
                ends.append(end_kb)
            peak = statistics.median(peaks)
            key = (fname.rsplit(".", 1)[1], cmd)
            if "baseline" in name:  # the idle process: its RSS at exit after a tiny input
                base[key] = statistics.median(ends)
            row = (name + label, len(raw), f"gateway {cmd}", peak - base[key], base[key], outcome(done.stdout, cmd))
            rows.append(row)
        path.unlink()
    return rows


def outcome(stdout: str, cmd: str) -> str:
    """accepted, refused unread, or the error rules that quarantined the input."""
    if cmd == "inspect":
        if '"refused"' in stdout[:400]:
            return "refused unread"
        if '"quarantined": true' not in stdout[:1000]:
            return "accepted"
        return "quarantined: " + ",".join(sorted(set(re.findall(r'"rule": "([A-Z0-9-]+)"', stdout[:4000]))))
    rules = re.findall(r"^  ([A-Z0-9-]+(?: \(unread\))?)\s+\d+$", stdout.partition("quarantined, by rule:")[2], re.M)
    return "quarantined: " + ",".join(rules) if rules else "accepted"


def daemon_rows(items: list[tuple[str, str, bytes, tuple[str, ...]]], work: Path) -> list[tuple]:
    """``gateway run`` with its default limits, for the inputs under 10 MB."""
    rows = []
    for name, fname, raw, _limits in items:
        if "baseline" in name or len(raw) >= 10 * MB:
            continue
        root = work / f"daemon-{fname}"
        config = deployment(root, {"riverside": [{"type": "folder", "path": "inbound", "settle": 0.05}]})
        inbound = root / "inbound"
        inbound.mkdir()
        with Daemon(config, root, args=("--workers", "1")) as d:
            store = SQLiteStore(root / "state" / "gateway.sqlite")
            (worker,) = children_named(d.pid)
            (inbound / "warm.hl7").write_bytes(hl7_batch(300_000))  # starts the sniff helper
            wait_done(store, 1)
            (inbound / "warm.json").write_bytes(fhir_of(8_000))  # the R4B models built once, as in the baseline
            wait_done(store, 2)
            helper = next(p for p in children_named(d.pid) if p != worker)
            pids = {"daemon": d.pid, "worker": worker, "sniff helper": helper}
            before = {k: proc_status(p, "VmHWM") for k, p in pids.items()}
            (root / "in.tmp").write_bytes(raw)
            (root / "in.tmp").rename(inbound / fname)
            wait_done(store, 3, inbound / fname, inbound / "error" / f"{fname}.reason.txt")
            for k, p in pids.items():
                rows.append((name, len(raw), f"gateway run: {k}", proc_status(p, "VmHWM") - before[k], before[k], ""))
            store.close()
    return rows


def children_named(pid: int) -> list[int]:
    return [c for c in children(pid) if "spawn_main" in Path(f"/proc/{c}/cmdline").read_text(errors="replace")]


def wait_done(store: SQLiteStore, n: int, *either: Path) -> None:
    end = time.time() + 300
    while time.time() < end:
        if either and either[1].exists():
            return
        rows = store.list_messages(MessageFilter(limit=10))
        if len(rows) >= n and all(r.status != "received" for r in rows):
            return
        time.sleep(0.1)
    raise TimeoutError("the daemon did not finish the input")


def main(quick: bool = False) -> None:
    items = inputs(quick)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        config = write_example_deployment(work / "deployment")
        rows = one_shot(config, work, items, repeat=1 if quick else 3)
        if not quick:
            rows += daemon_rows(items, work)
    runs = "one run each" if quick else "median of 3 runs (the daemon: one)"
    print(f"\nPeak RSS growth per input (VmHWM from /proc) over the idle process (VmRSS after a tiny input), {runs}")
    header = f"{'input':<62} {'MB':>5}  {'process':<26} {'growth MB':>10} {'x input':>8} {'base MB':>8}  outcome"
    print(header)
    print("-" * len(header))
    for name, size, proc, growth, base, result in rows:
        if "baseline" in name:
            continue
        ratio = f"{growth * 1000 / size:>7.1f}x"
        print(f"{name:<62} {size / MB:>5.1f}  {proc:<26} {growth / 1000:>10.1f} {ratio} {base / 1000:>8.0f}  {result}")


if __name__ == "__main__":
    main("--quick" in sys.argv)
