"""`gateway new-plugin`: every kind generates a package whose own tests pass,
in this checkout (not installed) and installed non-editable into a fresh venv
beside the gateway wheel."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.api import API_VERSION, api_problem
from gateway.cli import cli
from gateway.scaffold import KINDS, Names, ScaffoldError, render
from tests.conftest import ROOT

#: the range a generated plugin declares: this API's minor version up to the next major
MAJOR, MINOR = (int(x) for x in API_VERSION.split(".")[:2])
RANGE = f">={MAJOR}.{MINOR},<{MAJOR + 1}"

RUFF = Path(sys.prefix) / "bin" / "ruff"


def test_names_of_a_plugin() -> None:
    n = Names.of("acme-payer", "payer")
    assert (n.dist, n.package, n.title, n.prefix) == ("acme-payer", "acme_payer", "Acme Payer", "ACME")
    assert api_problem(n.api_range) is None and n.api_range == RANGE
    assert Names.of("Acme_Payer", "payer", prefix="acmeh").prefix == "ACMEH"


@pytest.mark.parametrize(
    ("name", "kind", "prefix", "problem"),
    [
        ("scrub-rules", "payer", None, "prefix 'SCRUB' is reserved"),
        ("acme", "payer", "GW", "prefix 'GW' is reserved"),
        ("9lives", "payer", None, "not a plugin name"),
        ("acme payer", "payer", None, "not a plugin name"),
        ("gateway", "payer", None, "would shadow"),
        ("acme", "dental", None, "unknown kind 'dental'"),
        ("acme", "payer", "AC-ME", "must be letters and digits"),
    ],
)
def test_bad_names_are_refused(name: str, kind: str, prefix: str | None, problem: str) -> None:
    with pytest.raises(ScaffoldError, match=problem):
        Names.of(name, kind, prefix)


def test_an_unknown_placeholder_is_an_error_not_output() -> None:
    with pytest.raises(ScaffoldError, match=r"\{\{nme\}\} is unknown"):
        render("x {{nme}}", {"name": "acme"})


def test_a_non_empty_folder_is_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "acme" / "keep.txt").parent.mkdir()
    (tmp_path / "acme" / "keep.txt").write_text("mine")
    result = CliRunner().invoke(cli, ["new-plugin", "acme", "--dir", str(tmp_path / "acme")])
    assert result.exit_code == 2 and "exists and is not empty" in result.output
    assert (tmp_path / "acme" / "keep.txt").read_text() == "mine"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One package of every kind, written by the command line."""
    base = tmp_path_factory.mktemp("plugins")
    out = {}
    with contextlib.chdir(base):  # new-plugin writes ./NAME by default
        for kind in KINDS:
            result = CliRunner().invoke(cli, ["new-plugin", f"acme-{kind}", "--kind", kind], catch_exceptions=False)
            assert result.exit_code == 0, result.output
            assert f"wrote {kind} plugin acme-{kind} to {base / f'acme-{kind}'}" in result.output
            out[kind] = base / f"acme-{kind}"
    return out


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_is_a_complete_package(generated: dict[str, Path], kind: str) -> None:
    folder = generated[kind]
    package = f"acme_{kind}"
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert files == [
        ".gitignore",
        "README.md",
        "pyproject.toml",
        f"src/{package}/__init__.py",
        f"tests/test_{package}.py",
    ]
    text = "\n".join((folder / f).read_text() for f in files)
    assert "{{" not in text and "}}" not in text.replace("{{", "")
    project = tomllib.loads((folder / "pyproject.toml").read_text())
    assert project["project"]["name"] == f"acme-{kind}"
    assert project["project"]["entry-points"]["gateway.plugins"] == {package: package}
    assert f'GATEWAY_API = "{RANGE}"' in (folder / "src" / package / "__init__.py").read_text()
    readme = (folder / "README.md").read_text()
    assert "## Configure" in readme and f"gateway new-plugin acme-{kind} --kind {kind}" in readme
    lint = subprocess.run([RUFF, "check", "-q", "."], cwd=folder, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = subprocess.run([RUFF, "format", "-q", "--check", "."], cwd=folder, capture_output=True, text=True)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_each_kind_implements_the_hooks_of_its_role(generated: dict[str, Path]) -> None:
    expected = {
        "payer": {"gateway_register_settings", "gateway_payer_rules"},
        "inbound": {"gateway_register_settings", "gateway_sniff", "gateway_parse"},
        "source": {"gateway_register_sources"},
        "coding": {"gateway_register_settings", "gateway_load_clinic", "gateway_map_encounter"},
        "renderer": {"gateway_register_renderers"},
        "transport": {"gateway_register_transports"},
    }
    for kind, hooks in expected.items():
        source = (generated[kind] / "src" / f"acme_{kind}" / "__init__.py").read_text()
        defined = {
            line.split("(")[0].removeprefix("def ") for line in source.splitlines() if line.startswith("def gateway_")
        }
        assert defined == hooks, kind


def test_generated_tests_pass_here_without_installing(generated: dict[str, Path]) -> None:
    """The kit registers a plugin that is not pip-installed; one pytest run for all six."""
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    env["PYTHONPATH"] = os.pathsep.join(str(p / "src") for p in generated.values())
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *(str(p / "tests") for p in generated.values())],
        cwd=next(iter(generated.values())).parent, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout and "skipped" not in proc.stdout


def test_generated_plugins_installed_beside_the_gateway_wheel_pass_their_tests(wheel_env, tmp_path: Path) -> None:
    """The CI proof: the installed gateway writes the packages (templates are package data),
    pip installs two of them non-editable from the local wheelhouse, and their tests
    run with that venv's pytest against the installed copies. (About 40 s on a loaded
    machine: two isolated builds and a gateway start-up per test; it is the proof issue 15 asks for.)"""
    w = wheel_env
    kinds = ("payer", "transport")
    for kind in kinds:
        w.run(w.bin / "gateway", "new-plugin", f"acme-{kind}", "--kind", kind, "--dir", tmp_path / kind)
    w.pip_install(*(tmp_path / kind for kind in kinds))
    listed = {p["name"]: p for p in json.loads(w.run(w.bin / "gateway", "plugins", "--json").stdout)}
    for kind in kinds:
        info = listed[f"acme_{kind}"]
        assert (info["distribution"], info["api"], info["error"]) == (f"acme-{kind}", RANGE, None)
        where = w.run(w.bin / "python", "-c", f"import acme_{kind}; print(acme_{kind}.__file__)").stdout
        assert str(w.prefix) in where  # the installed copy, not the folder
    assert "ACME-MEMBER-ID" in w.run(w.bin / "gateway", "rules").stdout
    tests = [tmp_path / kind / "tests" for kind in kinds]
    proc = w.run(w.bin / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests, cwd=tmp_path, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout and "skipped" not in proc.stdout
    assert (
        str(ROOT) not in w.run(w.bin / "python", "-c", "import gateway.testing; print(gateway.testing.__file__)").stdout
    )
