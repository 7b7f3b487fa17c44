"""Core pipeline overhead: canonical-JSON encounters through the whole
pipeline (sniff, route, parse, hooks, claims) next to bare JSON decoding and
pydantic validation of the same encounters, measured in the same run."""

from __future__ import annotations

import json
import sys
import tempfile
from datetime import date
from pathlib import Path

from benchmarks._util import measure, print_table
from gateway.app import Gateway
from gateway.examples import FIXTURES, write_example_deployment
from gateway.messages import MemoryRecords, MessageMeta
from gateway.model import Encounter


def main(quick: bool = False) -> None:
    n = 200 if quick else 2000
    raw = (FIXTURES / "encounters" / "riverside-insured.json").read_bytes()
    messages = [raw.replace(b"V10001", f"V{i:07d}".encode()) for i in range(n)]
    with tempfile.TemporaryDirectory() as tmp:
        gw = Gateway.from_config(write_example_deployment(Path(tmp) / "d"))
        meta = MessageMeta(source="bench", today=date(2026, 11, 27))

        def baseline() -> None:
            for m in messages:
                for e in json.loads(m)["encounters"]:
                    Encounter.model_validate(e)

        def pipeline() -> None:
            records = MemoryRecords()
            for m in messages:
                gw.pipeline.process(m, meta, records)

        base = measure("json.loads + Encounter.model_validate", baseline, n, repeat=3 if quick else 5)
        full = measure(f"whole pipeline ({len(gw.host.infos)} plugins loaded)", pipeline, n, repeat=3 if quick else 5)
    print_table(f"Pipeline, canonical JSON encounter → claim ({n} messages per run)", [base, full], baseline=base)


if __name__ == "__main__":
    main("--quick" in sys.argv)
