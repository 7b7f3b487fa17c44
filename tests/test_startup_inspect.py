"""Start-up of ``gateway inspect`` and ``gateway --help`` (issue 18): what they
no longer import or build, and that each quicker way of reading something
gives what the slower one gave. Not timed: benchmarks/bench_startup.py is."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from gateway_plugins.inbound.hl7v2 import fieldmap

from gateway import plugins
from gateway.examples import FIXTURES
from tests import test_plugins
from tests.test_plugins import make_dist
from tests.test_startup_lazy import modules_after

site = test_plugins.site  # the fixture: a folder on sys.path for fake distributions


def test_inspecting_hl7_imports_no_renderer_nor_transport(tmp_path: Path) -> None:
    hl7 = FIXTURES / "hl7v2" / "dft_p03_v25_cpt_modifiers.hl7"
    loaded, _text = modules_after(tmp_path, "inspect", str(hl7))
    assert "gateway_plugins.renderers.x12" in loaded, "its settings section is validated"
    assert "gateway_plugins.renderers.x12.render" not in loaded and "gateway.transport" not in loaded


def test_help_imports_neither_importlib_metadata_nor_email(tmp_path: Path) -> None:
    loaded, text = modules_after(tmp_path, "--help")
    assert "validate" in text, "the plugins' commands are listed"
    assert "importlib.metadata" not in loaded and "email" not in loaded


def test_x12_renderer_names_are_still_importable_from_the_plugin() -> None:
    from gateway_plugins.renderers import x12
    from gateway_plugins.renderers.x12 import render

    assert x12.Claim837Renderer is render.Claim837Renderer and x12.X12RenderError is render.X12RenderError
    with pytest.raises(AttributeError):
        _ = x12.NoSuchThing  # type: ignore[attr-defined]


def _as_importlib_reads(group: str) -> list[tuple[str, str, str | None, str | None, str | None]]:
    from importlib.metadata import entry_points

    eps = sorted(entry_points(group=group), key=lambda e: (e.name, e.value))
    return [(e.name, e.value, e.attr, e.dist.metadata["Name"], e.dist.metadata["Version"]) for e in eps]


def _as_gateway_reads(group: str) -> list[tuple[str, str, str | None, str | None, str | None]]:
    plugins._all_entry_points.cache_clear()
    plugins._distribution.cache_clear()
    eps = plugins.group_entry_points(group)
    return [(e.name, e.value, e.attr, *plugins._distribution(e.dist)) for e in eps]


def test_entry_points_and_distributions_read_as_importlib_metadata_reads_them(site: Path) -> None:
    make_dist(site, "plain-dist", {"plain": "plain_plugin", "other": "pkg.mod:obj.attr [extra]"}, {})
    # a folded Version header and a comment: what importlib.metadata reads (it re-indents folded values)
    folded = make_dist(site, "Folded.Dist", {"folded": "folded_plugin"}, {}) / "Folded.Dist-0.1.dist-info"
    (folded / "METADATA").write_text("Metadata-Version: 2.1\nName: Folded.Dist\nVersion: 0.1\n  .post1\n\nbody\n")
    (folded / "entry_points.txt").write_text("# comment\n[gateway.plugins]\nfolded=folded_plugin\n")
    # the same distribution name again, later on sys.path: importlib.metadata keeps the first
    later = site.parent / "later"
    make_dist(later, "plain-dist", {"shadowed": "shadowed_plugin"}, {})
    sys.path.append(str(later))
    try:
        for group in ("gateway.plugins", "gateway.commands", "console_scripts"):
            assert _as_gateway_reads(group) == _as_importlib_reads(group), group
        names = [e[0] for e in _as_gateway_reads("gateway.plugins")]
        assert {"plain", "other", "folded"} <= set(names) and "shadowed" not in names
        assert ("folded", "folded_plugin", None, "Folded.Dist", "      0.1\n.post1") in _as_gateway_reads(
            "gateway.plugins"
        )
    finally:
        sys.path.remove(str(later))
        plugins._all_entry_points.cache_clear()


def test_an_entry_point_line_it_would_not_read_the_same_is_left_to_importlib_metadata(site: Path) -> None:
    info = make_dist(site, "odd-dist", {"odd": "odd_plugin"}, {}) / "odd_dist-0.1.dist-info"
    (info / "entry_points.txt").write_text("[gateway.plugins]\nodd = odd plugin with spaces\n")
    with pytest.raises(plugins._Unusual):
        plugins._read_entry_points()
    plugins._all_entry_points.cache_clear()
    odd = [e for e in plugins.group_entry_points("gateway.plugins") if e.name == "odd"]
    assert [e.value for e in odd] == ["odd plugin with spaces"] and type(odd[0]).__module__ == "importlib.metadata"
    plugins._all_entry_points.cache_clear()


@pytest.fixture
def fresh_default_map(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The default map's kept copy written under tmp_path (``sys.pycache_prefix``)."""
    monkeypatch.setattr(sys, "pycache_prefix", str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    fieldmap.default_map.cache_clear()
    yield tmp_path
    fieldmap.default_map.cache_clear()


def test_the_default_field_map_is_kept_validated_and_loaded_without_a_validator(
    fresh_default_map: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = fieldmap.default_map()
    kept, _key = fieldmap._kept_map()
    assert kept is not None and kept.startswith(str(fresh_default_map)) and Path(kept).is_file()
    fieldmap.default_map.cache_clear()
    with monkeypatch.context() as m:
        m.setattr(fieldmap, "build_map", lambda *_a: pytest.fail("the map was validated again"))
        loaded = fieldmap.default_map()
    assert loaded == built and loaded is not built
    assert loaded.model_fields_set == built.model_fields_set
    assert loaded.charge.model_fields_set == built.charge.model_fields_set
    assert fieldmap.claim_paths(loaded) == fieldmap.claim_paths(built)
    assert loaded == fieldmap.build_map(fieldmap._read_yaml(fieldmap.DEFAULT_MAP), "default-map.yaml")


def test_a_kept_map_of_another_version_or_half_written_is_built_again(
    fresh_default_map: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = fieldmap.default_map()
    kept, _key = fieldmap._kept_map()
    assert kept is not None
    calls: list[str] = []
    real = fieldmap.build_map
    monkeypatch.setattr(fieldmap, "build_map", lambda data, source: calls.append(source) or real(data, source))
    monkeypatch.setattr(fieldmap, "KEPT_FORMAT", fieldmap.KEPT_FORMAT + 1)  # as a changed map file or module
    fieldmap.default_map.cache_clear()
    assert fieldmap.default_map() == built and calls == ["default-map.yaml"]
    Path(kept).write_bytes(Path(kept).read_bytes()[:40])
    fieldmap.default_map.cache_clear()
    assert fieldmap.default_map() == built and len(calls) == 2


def test_no_map_is_kept_when_python_writes_no_bytecode(
    fresh_default_map: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    assert fieldmap.default_map() is not None
    kept, _key = fieldmap._kept_map()
    assert kept is not None and not Path(kept).exists()
