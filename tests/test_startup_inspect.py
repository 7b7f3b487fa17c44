"""Start-up of ``gateway inspect`` (issue 18): what it no longer imports.
Not timed: benchmarks/bench_startup.py is."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.examples import FIXTURES
from tests.test_startup_lazy import modules_after


def test_inspecting_hl7_imports_no_renderer_nor_transport(tmp_path: Path) -> None:
    hl7 = FIXTURES / "hl7v2" / "dft_p03_v25_cpt_modifiers.hl7"
    loaded, _text = modules_after(tmp_path, "inspect", str(hl7))
    assert "gateway_plugins.renderers.x12" in loaded, "its settings section is validated"
    assert "gateway_plugins.renderers.x12.render" not in loaded and "gateway.transport" not in loaded


def test_x12_renderer_names_are_still_importable_from_the_plugin() -> None:
    from gateway_plugins.renderers import x12
    from gateway_plugins.renderers.x12 import render

    assert x12.Claim837Renderer is render.Claim837Renderer and x12.X12RenderError is render.X12RenderError
    with pytest.raises(AttributeError):
        _ = x12.NoSuchThing  # type: ignore[attr-defined]
