"""Posting speed and memory: an 835 with 10,000 claims posted durably to
10,000 delivered claims of a SQLite store (read + route + match + ledger,
events, remit rows, committed with fsync), next to edi-835-parser's plain
parse of the same file in the same run (the baseline).

    .venv/bin/python -m benchmarks.bench_posting [--quick] [--profile]

Times are wall-clock seconds (posting waits for the disk), medians, and
next to them the CPU seconds of this process (``time.process_time``: the
machine is shared, and CPU time is less disturbed by the other work on
it); each posting runs on a fresh store holding the claims (a second
posting of the same remit would only be found a duplicate). ``--profile``
prints the top of a cProfile of one more posting. Peak RSS is measured in a
fresh process per cell (``--rss MODE CLAIMS FOLDER``): how far the peak
rises over the RSS before the work, for 1,000, 10,000 and 50,000 claims, to
show what grows with the file; the file and the store's claims are made by
this process beforehand, so the fresh one allocated nothing for them. The
issue's goal: ≥ 2× edi-835-parser's parse speed, memory flat in the file
size.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

from benchmarks import goals
from benchmarks._util import Measurement, print_table
from benchmarks.bench_remit import remit, remit_file
from gateway.app import Gateway
from gateway.documents import Document
from gateway.examples import write_example_deployment
from gateway.messages import MemoryRecords, MessageMeta
from gateway.store import EncounterOutcome, NewMessage, Outcome, SQLiteStore, Status, Store
from gateway.store.outbox import BatchCut
from gateway.store.remits import RemitFilter
from gateway.store.submissions import NewClaim
from gateway.worker import outcome_of, tune_gc


def seed_claims(store: Store, n: int) -> None:
    """``n`` delivered claims B00000000… of clinic riverside (the remit's CLM01s,
    line charges and REF*6R), through the store interface."""
    model = remit(n)
    (j,) = store.journal([NewMessage(raw=b"seed", sha256="seed", scope="bench", source="bench",
                                     received_at=time.time())])  # fmt: skip
    store.claim("seed", 1, 600)
    claims = []
    for c in model.claims:
        lines = [{"charge": str(ln.charge), "control_number": ln.control_number} for ln in c.lines]
        body = json.dumps({"id": c.claim_id, "service_lines": lines})
        claims.append(NewClaim(c.claim_id, "EXPAYER1", str(c.charge), body))
    enc = EncounterOutcome(0, "riverside", "V1", Status.CLAIMED, "{}", [], claims=claims)
    store.complete("seed", [Outcome(j.message_id, Status.CLAIMED, clinic_id="riverside", encounters=[enc])])
    rows = [w.row for w in store.waiting("claims")]
    doc = Document("seed.x12", b"ISA", "application/edi-x12", "claims", "riverside")
    store.cut(BatchCut("claims", "bench", [doc], [(r, 0) for r in rows]))
    (item,) = store.outbox_claim("bench", 1, 600)
    store.outbox_delivered("bench", item, "bench", False)


class Poster:
    """One posting run: a fresh store with the claims, the 835 journaled and held."""

    def __init__(self, gw: Gateway, folder: Path, data: bytes, n: int, seed: bool = True) -> None:
        self.gw, self.data = gw, data
        self.store = SQLiteStore(folder / "gateway.sqlite")
        if seed:  # (else the store in ``folder`` holds them already)
            seed_claims(self.store, n)
        (self.msg,) = self.store.journal([NewMessage(raw=data, sha256="835", scope="bench", source="bench",
                                                     received_at=time.time())])  # fmt: skip
        self.store.claim("poster", 1, 600)

    def post(self) -> int:
        """What a worker does with the message: read, route, then Store.complete."""
        meta = MessageMeta(source="bench", today=date(2026, 11, 27), received_at=datetime.now(UTC))
        result = self.gw.pipeline.process(self.data, meta, MemoryRecords())
        (done,) = self.store.complete("poster", [outcome_of(self.msg.message_id, result)])
        (r,) = self.store.list_remits(RemitFilter())
        assert done.status == "parsed" and r.status == "posted" and r.unmatched_claims == 0, (done, r)
        return r.claims


def _edi_parse(path: Path) -> int:
    import edi_835_parser

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return len(edi_835_parser.parse(str(path)).transaction_sets[0].claims)


def _timed(name: str, n: int, runs: list[Callable[[], object]]) -> tuple[Measurement, Measurement]:
    """Wall-clock and CPU (process) seconds of each run."""
    wall, cpu = [], []
    for fn in runs:
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return Measurement(name, n, wall), Measurement(name, n, cpu)


def _profile(fn: Callable[[], object]) -> None:
    """The top of a cProfile of ``fn`` (cumulative and own time)."""
    import cProfile
    import pstats

    prof = cProfile.Profile()
    prof.runcall(fn)
    stats = pstats.Stats(prof)
    stats.sort_stats("cumulative").print_stats(30)
    stats.sort_stats("tottime").print_stats(20)


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(field)


def rss_child(mode: str, n: int, folder: Path) -> None:
    """Print the peak RSS rise (KiB) of posting (or edi-835-parser parsing)
    the ``n`` claims of ``folder``/remit.835 (``folder``'s store holds the
    claims: this process made neither them nor the file, so what it
    allocated for them does not blur the measure)."""
    import edi_835_parser  # noqa: F401  (loaded before the baseline, like the gateway's modules)

    data = (folder / "remit.835").read_bytes()
    gw = Gateway.from_config(write_example_deployment(folder / "deploy"))
    poster = Poster(gw, folder, data, n, seed=False) if mode == "post" else None
    tune_gc()
    Path("/proc/self/clear_refs").write_text("5")
    before = _status("VmRSS")
    if poster is not None:
        assert poster.post() == n
    else:
        assert _edi_parse(folder / "remit.835") == n
    print(_status("VmHWM") - before)


def _rss(mode: str, n: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "remit.835").write_bytes(remit_file(n))
        if mode == "post":
            store = SQLiteStore(folder / "gateway.sqlite")
            seed_claims(store, n)
            store.close()
        out = subprocess.run([sys.executable, "-m", "benchmarks.bench_posting", "--rss", mode, str(n), tmp],
                             capture_output=True, text=True, check=True)  # fmt: skip
    return int(out.stdout.split()[-1]) / 1024


def posters(root: Path, data: bytes, n: int, count: int) -> tuple[Path, list[Poster]]:
    """The remit ``data`` (of ``n`` claims) written to ``root``/remit.835, and
    ``count`` posters of it, each on a fresh store in ``root``/s0, s1…"""
    path = root / "remit.835"
    path.write_bytes(data)
    gw = Gateway.from_config(write_example_deployment(root / "deploy"))
    out = []
    for i in range(count):
        (root / f"s{i}").mkdir()
        out.append(Poster(gw, root / f"s{i}", data, n))
    return path, out


def main(quick: bool = False, profile: bool = False) -> None:
    tune_gc()  # the collector as a worker runs it
    n = 2_000 if quick else 10_000
    repeat = 3
    data = remit_file(n)
    with tempfile.TemporaryDirectory() as tmp:
        path, posters_ = posters(Path(tmp), data, n, repeat + 1 + profile)
        assert _edi_parse(path) == n
        _edi_parse(path)  # warm-up
        baseline, baseline_cpu = _timed(f"edi-835-parser parse ({n} claims)", n, [lambda: _edi_parse(path)] * repeat)
        posters_[0].post()  # warm-up
        posting, posting_cpu = _timed(f"post durably: read+match+ledger ({n})", n,
                                      [p.post for p in posters_[1 : repeat + 1]])  # fmt: skip
        if profile:
            _profile(posters_[-1].post)
        for p in posters_:
            p.store.close()
    print_table("835 claims per second (wall clock, median; posting commits with fsync)", [posting, baseline], baseline)
    print_table("835 claims per second (CPU time of the process, median)", [posting_cpu, baseline_cpu], baseline_cpu)
    for label, ms in (("wall", (posting, baseline)), ("cpu", (posting_cpu, baseline_cpu))):
        runs = {m.name.split(":")[0]: [round(t, 2) for t in m.seconds] for m in ms}
        print(f"runs, {label} seconds: {runs}")
    ratio = posting.per_second / baseline.per_second
    cpu_ratio = posting_cpu.per_second / baseline_cpu.per_second
    print(f"\nfile of {n:,} claims: {len(data):,} bytes; goal ≥ 2x the baseline: {'met' if ratio >= 2 else 'NOT met'} "
          f"({ratio:.2f}x wall clock, {cpu_ratio:.2f}x CPU time)")  # fmt: skip
    goals.record("posting", f"{ratio:.2f}× wall, {cpu_ratio:.2f}× CPU ({n:,} claims, median of {repeat})",
                 ratio >= 2)  # fmt: skip
    sizes = (1_000, n) if quick else (1_000, 10_000, 50_000)
    print("\npeak RSS growth, MiB (a fresh process per cell)")
    print(f"{'what':<28}" + "".join(f"{f'{size:,} claims':>16}" for size in sizes))
    rss: dict[str, list[float]] = {}
    for mode, label in (("post", "posting (streamed)"), ("edi", "edi-835-parser parse")):
        rss[mode] = [_rss(mode, size) for size in sizes]
        print(f"{label:<28}" + "".join(f"{r:>16.1f}" for r in rss[mode]))
    # flat: every larger file's rise within 25 % of the smallest file's (it holds one batch of claims too)
    low, high = rss["post"][0], max(rss["post"][1:])
    goals.record("posting_memory", " / ".join(f"{r:.1f}" for r in rss["post"]) + f" MiB ({', '.join(map(str, sizes))})",
                 high <= 1.25 * low)  # fmt: skip


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--rss":
        rss_child(sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]))
    else:
        main(quick="--quick" in sys.argv, profile="--profile" in sys.argv)
