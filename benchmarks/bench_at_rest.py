"""Encryption at rest (issue 17 item 15): what AES-256-GCM sealing costs.

* ``gateway process`` end to end (a fresh process, fresh state folder each
  run, every claim must come out once), the deployment without
  ``store.encryption`` and with it, runs interleaved in the same session;
* store writes and reads in-process on a SQLite file (fsync commits): journal
  2,000 HL7 messages (50 per transaction) and read each raw message back,
  without and with a codec;
* the codec alone: sealing and opening one ~1.6 KB message.

    .venv/bin/python -m benchmarks.bench_at_rest [--quick]
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

from benchmarks._util import Measurement, measure, print_table
from benchmarks.bench_process import claims_written, message, run_process, write_inputs
from gateway.examples import write_example_deployment
from gateway.store import NewMessage, SQLiteStore
from gateway.store.codec import PLAIN, Codec, ref


def _journal_and_read(path: Path, codec: Codec, raws: list[bytes]) -> tuple[float, float]:
    """Seconds to journal ``raws`` (50 per transaction) and to read each back."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    store = SQLiteStore(path, codec=codec)
    try:
        t0 = time.perf_counter()
        ids = []
        for i in range(0, len(raws), 50):
            part = raws[i : i + 50]
            items = [NewMessage(scope="bench", sha256=hashlib.sha256(r).hexdigest(), raw=r, source="bench",
                                received_at=time.time()) for r in part]  # fmt: skip
            ids += [j.message_id for j in store.journal(items)]
        t1 = time.perf_counter()
        for mid in ids:
            store.raw(mid)
        t2 = time.perf_counter()
    finally:
        store.close()
    return t1 - t0, t2 - t1


def main(quick: bool = False) -> None:
    files, per_file = (2, 250) if quick else (4, 1000)
    n = files * per_file
    repeat = 3
    os.environ["GW_BENCH_STORE_KEY"] = base64.b64encode(secrets.token_bytes(32)).decode()
    codec = Codec([("bench", base64.b64decode(os.environ["GW_BENCH_STORE_KEY"]))])
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        plain_config = write_example_deployment(root / "plain")
        sealed_config = write_example_deployment(root / "sealed")
        data = yaml.safe_load(sealed_config.read_text())
        data["store"] = {"encryption": {"key": "env:GW_BENCH_STORE_KEY", "key_id": "bench"}}
        sealed_config.write_text(yaml.safe_dump(data, sort_keys=False))
        write_inputs(root / "in", files, per_file)
        times: dict[str, list[float]] = {"plain": [], "sealed": []}
        cpu: dict[str, list[float]] = {"plain": [], "sealed": []}
        for _ in range(repeat):  # interleaved: the machine's noise falls on both alike
            for name, config in (("plain", plain_config), ("sealed", sealed_config)):
                out = root / f"out-{name}"
                wall, used = run_process(config, root / "in", out)
                times[name].append(wall)
                cpu[name].append(used)
                ids = claims_written(out)
                if len(ids) != n or len(set(ids)) != n:
                    raise SystemExit(f"{name}: expected {n} distinct claims, found {len(ids)}")
        runs = [
            Measurement("gateway process, no encryption (baseline)", n, times["plain"]),
            Measurement("gateway process, store.encryption on", n, times["sealed"]),
            Measurement("  CPU, no encryption", n, cpu["plain"]),
            Measurement("  CPU, store.encryption on", n, cpu["sealed"]),
        ]
        print_table(f"gateway process, HL7 DFT^P03 → 837 ({files} files × {per_file} messages): wall, then CPU",
                    runs, runs[0])  # fmt: skip

        raws = [message(i).encode() for i in range(500 if quick else 2000)]
        writes: dict[str, list[float]] = {"plain": [], "sealed": []}
        reads: dict[str, list[float]] = {"plain": [], "sealed": []}
        for _ in range(repeat):
            for name, c in (("plain", PLAIN), ("sealed", codec)):
                w, r = _journal_and_read(root / f"store-{name}.sqlite", c, raws)
                writes[name].append(w)
                reads[name].append(r)
        m = len(raws)
        store_rows = [
            Measurement("store journal, no encryption (baseline)", m, writes["plain"]),
            Measurement("store journal, sealed", m, writes["sealed"]),
            Measurement("store raw() read, no encryption", m, reads["plain"]),
            Measurement("store raw() read, sealed", m, reads["sealed"]),
        ]
        print_table(f"store on a SQLite file, {m} messages (50 per transaction, fsync)", store_rows, store_rows[0])

        one = raws[0]
        where = ref("bench", "x")
        sealed = codec.seal("messages.raw", one, where)

        def seal_many() -> None:
            for _ in range(1000):
                codec.seal("messages.raw", one, where)

        def open_many() -> None:
            for _ in range(1000):
                codec.open("messages.raw", sealed, where)

        codec_rows = [measure(f"seal one message ({len(one)} bytes)", seal_many, 1000),
                      measure("open one message", open_many, 1000)]  # fmt: skip
        print_table("the codec alone (AES-256-GCM, fresh nonce)", codec_rows)
    med = {k: statistics.median(v) for k, v in times.items()}
    used = {k: statistics.median(v) for k, v in cpu.items()}
    print(f"gateway process medians: no encryption {med['plain']:.2f} s wall / {used['plain']:.2f} s CPU, "
          f"encrypted {med['sealed']:.2f} s / {used['sealed']:.2f} s (ratios {med['sealed'] / med['plain']:.3f} wall, "
          f"{used['sealed'] / used['plain']:.3f} CPU)")  # fmt: skip
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main("--quick" in sys.argv)
