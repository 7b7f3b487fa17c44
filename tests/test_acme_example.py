"""The proof of issue 15: the worked payer plugin of docs/plugins.md
(docs/examples/acme, written by ``gateway new-plugin acme --kind payer`` and
edited) is built and installed non-editable into a fresh venv beside the
gateway wheel, its own tests pass there, and the installed gateway bills an
HL7 DFT with an AUT segment: the 837 carries REF*G1 and passes pyx12; the
same DFT without the AUT is quarantined with ACME-PRIOR-AUTH.

It runs in the session's ``wheel_env`` (the gateway wheel and every
dependency from the local wheelhouse), where the scaffold test installs
plugins with the same ACME rule prefix: those are switched off for these
runs (``GATEWAY_DISABLE_PLUGINS``) and Acme is uninstalled afterwards.
"""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import pytest

from gateway.api import API_VERSION
from tests.conftest import ROOT
from tests.wheel_env import WHEELHOUSE, WheelEnv
from tests.x12check import assert_valid_837

ACME = ROOT / "docs" / "examples" / "acme"

#: run in the venv: the example deployment with Acme Health in the payer
#: directory and Acme's settings, and two DFTs for a 99215 visit (with and
#: without the AUT segment), written with the installed test kit
PREPARE = """
from pathlib import Path
from gateway.testing import Deployment, Hl7Message

d = Deployment(Path("deployment"))
d.add_payer("ACME1", "Acme Health", hl7_ids=["ACME"])
d.settings("acme", {"member_id_pattern": "ACME[0-9]{9}", "strict_auth": True}, clinic="riverside")
d.save()
dft = Hl7Message.dft_p03().set("IN1-3.1", "ACME").set("IN1-36", "ACME123456789").set("FT1-25", "99215^^C4")
Path("in").mkdir()
Path("in/no-auth.hl7").write_bytes(dft.set("MSH-10", "ACME-0001").encode())
dft.add("AUT", {"AUT-1": "ACME-PPO", "AUT-6": "PA20261012"})
Path("in/with-auth.hl7").write_bytes(dft.set("MSH-10", "ACME-0002").encode())
print(d.folder / "gateway.yaml")
"""


def test_acme_example_installed_from_wheels_passes_its_tests_and_bills_the_aut(
    wheel_env: WheelEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "acme"  # a copy: pip builds in the source folder
    shutil.copytree(ACME, source, ignore=shutil.ignore_patterns("*.egg-info", "build", "__pycache__", ".*_cache"))
    w = WheelEnv(prefix=wheel_env.prefix, wheel=wheel_env.wheel, workdir=tmp_path / "work")
    w.workdir.mkdir()
    monkeypatch.setenv("GATEWAY_DISABLE_PLUGINS", "acme_payer,acme_transport")  # the scaffold test's
    w.pip_install(source)  # built in isolation from the wheelhouse, installed non-editable
    try:
        check_installed_acme(w, source)
    finally:
        w.run(w.bin / "python", "-m", "pip", "uninstall", "-y", "-q", "acme")


def check_installed_acme(w: WheelEnv, source: Path) -> None:

    plugins = {p["name"]: p for p in json.loads(w.run(w.bin / "gateway", "plugins", "--json").stdout)}
    assert (plugins["acme"]["distribution"], plugins["acme"]["error"]) == ("acme", None)
    where = w.run(w.bin / "python", "-c", "import acme; print(acme.__file__)").stdout
    assert str(w.prefix) in where and str(ROOT) not in where  # the installed copy
    assert "ACME-PRIOR-AUTH" in w.run(w.bin / "gateway", "rules").stdout

    tests = w.run(w.bin / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", source / "tests", check=False)
    assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]
    generated = tomllib.loads((ACME / "pyproject.toml").read_text())
    assert f"{len(_test_names(source))} passed" in tests.stdout and generated["project"]["name"] == "acme"

    config = w.run(w.bin / "python", "-c", PREPARE).stdout.strip()
    run = w.run(
        w.bin / "gateway", "process", "--config", config, "--out", "out", "--today", "2026-11-27",
        "in/with-auth.hl7", "in/no-auth.hl7", check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "ACME-PRIOR-AUTH" in run.stdout  # the quarantine reasons by rule
    (claim_file,) = (w.workdir / "out").rglob("*.x12")
    data = claim_file.read_bytes()
    assert b"REF*G1*PA20261012~" in data
    assert data.count(b"CLM*") == 1  # the DFT without the AUT is not billed
    assert_valid_837(data)
    reports = [p.read_text() for p in (w.workdir / "out" / "quarantine").rglob("*") if p.is_file()]
    assert any("ACME-PRIOR-AUTH" in r for r in reports), reports
    assert not any("PA20261012" in r for r in reports)


def _test_names(source: Path) -> list[str]:
    return [
        line for line in (source / "tests" / "test_acme.py").read_text().splitlines() if line.startswith("def test_")
    ]


def test_the_example_keeps_the_scaffold_layout(tmp_path: Path) -> None:
    """The worked example is what `gateway new-plugin acme --kind payer` writes, edited:
    the same files, the same distribution, entry point and API range."""
    from gateway.scaffold import generate

    fresh = generate("acme", "payer", tmp_path / "acme")

    def files(root: Path) -> set[str]:
        caches = ("__pycache__", ".pytest_cache", ".ruff_cache")
        return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and not set(caches) & set(p.parts)}

    assert files(ACME) == files(fresh), files(ACME) ^ files(fresh)
    # the scaffold writes the range of the API it was run with; the example was made at 1.3 and still asks for it
    minor = ".".join(API_VERSION.split(".")[:2])
    scaffolded = (fresh / "pyproject.toml").read_text().replace(f'">={minor},<2"', '">=1.3,<2"')
    assert (ACME / "pyproject.toml").read_text() == scaffolded
    assert 'GATEWAY_API = ">=1.3,<2"' in (ACME / "src" / "acme" / "__init__.py").read_text()
    assert WHEELHOUSE.is_dir()
