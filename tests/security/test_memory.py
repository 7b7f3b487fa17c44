"""Issue 17 item 6: memory amplification, measured on real processes (peak
RSS from /proc). A refused input is refused before it is read whole: over
``max_input_bytes`` (one-shot commands, the journal), over the folder's
``max_bytes`` (the daemon), over ``settings.fhir.max_bytes`` (the FHIR sniff
no longer decodes what the default cap refuses), over
``settings.hl7v2.max_segments`` (refused before it becomes encounters).
Accepted inputs of 1 MB cost ``gateway inspect`` and ``gateway process``
less than 10x their size (HL7 and FHIR). benchmarks/bench_memory.py prints
the figures."""

from __future__ import annotations

import json
import re
import resource
from pathlib import Path

from tests.daemon_helpers import deployment
from tests.security.daemon import Daemon, cli_peak_kb, proc_status, wait_for
from tests.security.inputs import fhir_billing_bundle, fhir_bundle, hl7_batch, hl7_message

MB = 1_000_000


def cap_memory() -> None:  # before the fixes these inputs took gigabytes: fail, do not swap
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def growth_kb(config: Path, tmp_path: Path, command: list[str], raw: bytes, tiny: bytes) -> tuple[int, str]:
    """Peak RSS of ``gateway COMMAND FILE`` over the idle process (the same
    command after a tiny input: its RSS at exit), and its stdout."""
    small, big = tmp_path / f"tiny-{len(tiny)}", tmp_path / f"big-{len(raw)}"
    small.write_bytes(tiny)
    big.write_bytes(raw)
    _, idle, _ = cli_peak_kb([*command, "--config", str(config), str(small)], preexec=cap_memory)
    peak, _, done = cli_peak_kb([*command, "--config", str(config), str(big)], preexec=cap_memory)
    return peak - idle, done.stdout


def test_inputs_over_max_input_bytes_are_refused_unread(example_config: Path, tmp_path: Path) -> None:
    raw = hl7_batch(25 * MB)
    grew, out = growth_kb(example_config, tmp_path, ["inspect"], raw, hl7_batch(3_000))
    assert json.loads(out)[0]["refused"].startswith("file is larger than max_bytes (25")
    assert grew < 8_000, f"inspect of a refused 25 MB input grew RSS by {grew} kB"
    grew, out = growth_kb(example_config, tmp_path, ["process", "--out", str(tmp_path / "o")], raw, b"MSH|x")
    assert "GW-INPUT-REFUSED" in out and grew < 8_000


def test_a_message_with_too_many_segments_is_refused_before_it_becomes_encounters(
    example_config: Path, tmp_path: Path
) -> None:
    raw = hl7_message(1 * MB)  # one DFT^P03 with ~5,000 FT1: was 37x its size in `gateway process`
    grew, out = growth_kb(example_config, tmp_path, ["process", "--out", str(tmp_path / "o")], raw, hl7_batch(3_000))
    assert "HL7-SEGMENTS" in out
    assert grew < 10 * len(raw) // 1000, f"grew {grew} kB for a {len(raw)} byte input"


def test_a_fhir_bundle_over_the_default_cap_is_not_decoded(example_config: Path, tmp_path: Path) -> None:
    raw = fhir_bundle(8 * MB, "BIG-1")
    grew, out = growth_kb(example_config, tmp_path, ["inspect", "--clinic", "lakeside"], raw, fhir_bundle(5_000, "S"))
    (result,) = json.loads(out)
    assert [f["rule"] for f in result["findings"]] == ["FHIR-TOO-LARGE"]
    assert grew < 2 * len(raw) // 1000, f"grew {grew} kB for a {len(raw)} byte bundle"  # the bytes, not a decode


def test_the_daemon_refuses_an_oversized_file_without_reading_it(tmp_path: Path) -> None:
    config = deployment(tmp_path / "d", {"riverside": [{"type": "folder", "path": "inbound", "settle": 0.05}]})
    inbound = tmp_path / "d" / "inbound"
    inbound.mkdir()
    with Daemon(config, tmp_path, args=("--workers", "1"), preexec=cap_memory) as d:
        before = proc_status(d.pid, "VmHWM")
        (tmp_path / "big.tmp").write_bytes(hl7_batch(30 * MB))
        (tmp_path / "big.tmp").rename(inbound / "big.hl7")
        note = inbound / "error" / "big.hl7.reason.txt"
        wait_for(note.exists, timeout=60, what="oversized file moved to error/")
        assert "larger than max_bytes (30" in note.read_text()
        assert proc_status(d.pid, "VmHWM") - before < 8_000


def test_an_accepted_hl7_batch_costs_inspect_less_than_ten_times_its_size(example_config: Path, tmp_path: Path) -> None:
    """A 1 MB batch of DFT^P03 is read message by message and each encounter's
    JSON kept compressed until the input's verdict: was 38-52x its size."""
    raw = hl7_batch(1 * MB)
    grew, out = growth_kb(example_config, tmp_path, ["inspect", "--clinic", "riverside"], raw, hl7_batch(3_000))
    (result,) = json.loads(out)
    assert not result["quarantined"] and len(result["encounters"]) == raw.count(b"MSH|") > 500
    assert all(e["claims"] for e in result["encounters"])
    assert grew < 10 * len(raw) // 1000, f"inspect grew {grew} kB for a {len(raw)} byte batch"


def test_an_accepted_fhir_bundle_costs_inspect_less_than_ten_times_its_size(
    example_config: Path, tmp_path: Path
) -> None:
    """A 1 MB bundle of 400 visits is validated entry by entry and its
    encounters built one at a time: was 20x its size (the whole bundle's
    R4B models, every encounter's models), measured 7.7x."""
    raw = fhir_billing_bundle(1 * MB)
    tiny = fhir_billing_bundle(8_000)
    grew, out = growth_kb(example_config, tmp_path, ["inspect", "--clinic", "lakeside"], raw, tiny)
    (result,) = json.loads(out)
    assert not result["quarantined"] and len(result["encounters"]) == raw.count(b'"resourceType": "Encounter"') > 300
    assert all(e["claims"] for e in result["encounters"])
    assert grew < 10 * len(raw) // 1000, f"inspect grew {grew} kB for a {len(raw)} byte bundle"


def process_growth_kb(config: Path, tmp_path: Path, clinic: str, raw: bytes, tiny: bytes) -> tuple[int, dict[str, int]]:
    """Peak RSS of ``gateway process FILE`` over the idle process (the same
    command after a tiny input, RSS at exit), each with a fresh store, and
    the counts of its summary."""
    runs = []
    for name, data in (("tiny", tiny), ("big", raw)):
        path = tmp_path / f"{name}.in"
        path.write_bytes(data)
        cmd = ["process", "--config", str(config), "--clinic", clinic, "--store", str(tmp_path / f"{name}.sqlite"),
               "--out", str(tmp_path / f"{name}-out"), str(path)]  # fmt: skip
        runs.append(cli_peak_kb(cmd, preexec=cap_memory))
    (_, idle, _), (peak, _, done) = runs
    counts = {m[0].strip(): int(m[1]) for m in re.findall(r"^(\S[^\n]*?)\s+(\d+)$", done.stdout, re.M)}
    return peak - idle, counts


def test_an_accepted_hl7_batch_costs_process_less_than_ten_times_its_size(example_config: Path, tmp_path: Path) -> None:
    """``gateway process`` of a 1 MB batch, journaled, claimed, processed and
    published in one process: was 11.5x, then 10.5x with the raw bytes in a
    table of their own; they now go through SQLite's blob I/O (SQLite never
    copies them, nor keeps them bound to its cached INSERT)."""
    raw = hl7_batch(1 * MB)
    grew, counts = process_growth_kb(example_config, tmp_path, "riverside", raw, hl7_batch(3_000))
    assert counts["claims"] == counts["encounters"] == raw.count(b"MSH|") > 500
    assert counts["messages quarantined"] == counts["encounters quarantined"] == 0
    assert grew < 10 * len(raw) // 1000, f"process grew {grew} kB for a {len(raw)} byte batch"


def test_an_accepted_fhir_bundle_costs_process_less_than_ten_times_its_size(
    example_config: Path, tmp_path: Path
) -> None:
    """``gateway process`` of a 1 MB bundle of 400 visits: was 13.6x, then
    10.9x; the raw bytes through SQLite's blob I/O."""
    raw = fhir_billing_bundle(1 * MB)
    grew, counts = process_growth_kb(example_config, tmp_path, "lakeside", raw, fhir_billing_bundle(8_000))
    assert counts["encounters"] == raw.count(b'"resourceType": "Encounter"') > 300
    assert counts["claims"] > 300 and counts["messages quarantined"] == counts["encounters quarantined"] == 0
    assert grew < 10 * len(raw) // 1000, f"process grew {grew} kB for a {len(raw)} byte bundle"
