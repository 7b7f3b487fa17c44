"""Big synthetic inputs (fake data only) for the memory and latency tests and
benchmarks/bench_memory.py: sized in bytes, built fast."""

from __future__ import annotations

import json

from tests.daemon_helpers import FIXTURES

DFT = (FIXTURES / "hl7v2" / "dft_p03_v25_cpt_modifiers.hl7").read_bytes()
FT1 = next(s for s in DFT.split(b"\r") if s.startswith(b"FT1|2|"))


def hl7_message(n_bytes: int) -> bytes:
    """One DFT^P03 whose FT1 charge lines make it about ``n_bytes`` long."""
    head = [s for s in DFT.split(b"\r") if s and not s.startswith(b"FT1")]
    n = max(1, n_bytes // (len(FT1) + 1))
    lines = [FT1.replace(b"FT1|2|", b"FT1|%d|" % (i + 1)) for i in range(n)]
    return b"\r".join(head[:4] + lines + head[4:]) + b"\r"


def hl7_batch(n_bytes: int) -> bytes:
    """An FHS/BHS batch of distinct DFT^P03 messages, about ``n_bytes`` long."""
    header = b"FHS|^~\\&|ACMEPM|RIVERSIDE|GATEWAY|BILLING|20261012093000\rBHS|^~\\&|ACMEPM|RIVERSIDE|GATEWAY|BILLING\r"
    n = max(1, n_bytes // len(DFT))
    body = [DFT.replace(b"RV-DFT-0001", b"RV-B-%06d" % i).replace(b"|V10001|", b"|V%06d|" % i) for i in range(n)]
    return header + b"".join(body) + b"BTS|%d\rFTS|1\r" % n


def fhir_billing_bundle(n_bytes: int) -> bytes:
    """A FHIR bundle of billing resources (benchmarks/bench_fhir.generated_bundle:
    encounters, conditions, charges) of about ``n_bytes``."""
    from benchmarks.bench_fhir import generated_bundle

    small, big = generated_bundle(2), generated_bundle(4)
    per = (len(big) - len(small)) / 2
    n = max(2, round((n_bytes - len(small)) / per) + 2)
    return generated_bundle(n - n % 2)


def fhir_bundle(n_bytes: int, tag: str) -> bytes:
    """A FHIR JSON collection bundle of about ``n_bytes`` made of many small
    Basic resources: slow to decode, nothing to bill."""
    entry = '{"fullUrl":"urn:uuid:%s-%08d","resource":{"resourceType":"Basic","id":"b%d","code":{"text":"x"}}}'
    head = json.dumps({"resourceType": "Bundle", "type": "collection", "identifier": {"value": tag}})[:-1]
    parts, size, i = [], len(head), 0
    while size < n_bytes:
        parts.append(entry % (tag, i, i))
        size += len(parts[-1]) + 1
        i += 1
    return (head + ', "entry": [' + ",".join(parts) + "]}").encode()
