"""837P speed: claims rendered per second next to pyx12 validation and the
reader, all in the same run (baseline: pyx12 validation of the same file).

    .venv/bin/python -m benchmarks.bench_x12 [--quick]
"""

from __future__ import annotations

import sys
from datetime import datetime

from gateway_plugins.renderers.x12.pyx12check import Pyx12Validator
from gateway_plugins.renderers.x12.reader import read_837
from gateway_plugins.renderers.x12.render import Claim837Renderer
from gateway_plugins.renderers.x12.settings import X12Settings

from benchmarks._util import measure, print_table
from gateway.documents import MemoryControlNumbers, RenderContext
from gateway.model import Claim
from tests.x12check import CONFIG, fixture_claims


def batch(n: int, situational: bool = False) -> list[Claim]:
    """``n`` distinct claims cycling through the fixture variants (one clinic);
    the variant with every situational segment (REF*G1, DTP*431, NTE, LIN/CTP,
    additions…) only when ``situational``, so the main row keeps its workload."""
    fixtures = fixture_claims()
    base = [c for k, c in fixtures.items() if k != "situational"]
    if situational:
        base = [fixtures["situational"]]
    return [base[i % len(base)].model_copy(update={"id": f"B{i:08d}"}) for i in range(n)]


def render_once(claims: list[Claim]) -> bytes:
    ctx = RenderContext(
        created=datetime(2026, 11, 27, 9, 15),
        config=CONFIG,
        control_numbers=MemoryControlNumbers(),
        settings=X12Settings(),
    )
    (doc,) = Claim837Renderer().render(claims, ctx)
    return doc.content


def main(quick: bool = False) -> None:
    n_render = 2_000 if quick else 20_000
    n_check = 200 if quick else 1_000
    repeat = 3 if quick else 5
    claims = batch(n_render)
    small = batch(n_check)
    busy = batch(n_check, situational=True)
    data = render_once(small)
    validator = Pyx12Validator()
    validator.validate(data)  # load the maps outside the timing
    assert validator.validate(data) == [], "benchmark file must be valid"
    check = f"pyx12 validation ({n_check} claims/file)"
    baseline = measure(check, lambda: validator.validate(data), n_check, repeat=repeat)
    rows = [
        measure(f"render x12-837p ({n_render} claims/file)", lambda: render_once(claims), n_render, repeat=repeat),
        measure(f"render, every situational segment ({n_check})", lambda: render_once(busy), n_check, repeat=repeat),
        measure(f"read back with the 837P reader ({n_check})", lambda: read_837(data), n_check, repeat=repeat),
        baseline,
    ]
    print_table("837P claims per second (one core, median)", rows, baseline)
    print(f"\nfile of {n_check} claims: {len(data):,} bytes; target: render >= 20,000 claims/s")


if __name__ == "__main__":
    main("--quick" in sys.argv)
