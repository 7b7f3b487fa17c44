"""A plain (non-editable) install works outside the repository: every
package and its data is in the wheel, and the commands a new user runs first
work from a fresh venv in a temp folder."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

from tests.conftest import ROOT
from tests.x12check import assert_valid_837


def test_every_package_folder_is_listed_in_pyproject() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = set()
    for folder, name in (("gateway", "gateway"), ("plugins", "gateway_plugins")):
        for init in (ROOT / folder).rglob("__init__.py"):
            found.add(".".join([name, *init.parent.relative_to(ROOT / folder).parts]))
    assert found == listed


def test_version_comes_from_one_place() -> None:
    import gateway

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"] and "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "gateway.__version__"}
    from importlib.metadata import version

    assert version("billing-gateway") == gateway.__version__


def test_wheel_in_a_fresh_venv_runs_plugins_init_process_validate(wheel_env) -> None:
    w = wheel_env
    # imported from the venv, not from the checkout
    where = w.run(w.bin / "python", "-c", "import gateway, gateway_plugins; print(gateway.__file__)").stdout
    assert str(w.prefix) in where and str(ROOT) not in where

    plugins = json.loads(w.run(w.bin / "gateway", "plugins", "--json").stdout)
    entry_points = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["gateway.plugins"]
    loaded = {p["name"]: p for p in plugins}
    assert set(entry_points) <= set(loaded)
    assert all(not loaded[name].get("error") for name in entry_points), [p for p in plugins if p.get("error")]

    w.run(w.bin / "gateway", "init", "deployment")
    w.run(w.bin / "gateway", "check-config", "deployment/gateway.yaml")
    # the console's templates and stylesheet are package data of the wheel
    console = w.run(
        w.bin / "python", "-c",
        "import gateway.console.pages as p; print(p.HERE); print((p.HERE / 'static' / 'console.css').stat().st_size); "
        "print(p.ENV.get_template('login.html').render(login_csrf='t', next='/ui/', error=None, principal=None))",
    ).stdout  # fmt: skip
    assert str(w.prefix) in console and 'name="csrf" value="t"' in console and "/static/console.css" in console
    fixture = w.run(
        w.bin / "python",
        "-c",
        "from gateway.examples import FIXTURES; print(FIXTURES / 'hl7v2' / 'dft_p03_v25_cpt_modifiers.hl7')",
    ).stdout.strip()
    assert str(w.prefix) in fixture
    out = w.workdir / "out"
    w.run(w.bin / "gateway", "process", "--config", "deployment/gateway.yaml", "--out", out, fixture)
    claims = sorted(out.rglob("*.x12"))
    assert claims, sorted(p for p in out.rglob("*"))
    for f in claims:
        assert_valid_837(f.read_bytes())
        w.run(w.bin / "gateway", "validate", f)

    demo = w.run(w.bin / "gateway", "demo", "--out", "demo-out")
    assert "837P" in demo.stdout or ".x12" in demo.stdout
    assert list(Path(w.workdir / "demo-out").rglob("*.pdf"))
    # the loop closed from the wheel: the payer simulator's answers posted, claims closed or on the follow-up list
    assert re.search(r"loop: \d+ claim\(s\) out, \d+ response file\(s\) in .* closed \d+", demo.stdout), demo.stdout
    assert list(Path(w.workdir / "demo-out" / "responses").glob("*.835.x12"))
