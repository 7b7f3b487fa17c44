"""The bundled example deployment (mappings/) and inputs (fixtures/).

They live in the source tree next to the ``gateway`` package; ``gateway
demo`` and ``gateway init`` need a source checkout installed with
``pip install -e`` (what the README's commands do).
"""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAPPINGS = ROOT / "mappings"
FIXTURES = ROOT / "fixtures"
TEMPLATE = MAPPINGS / "example" / "gateway.yaml"


class ExamplesMissing(RuntimeError):
    pass


def example_dir() -> Path:
    if not TEMPLATE.is_file():
        raise ExamplesMissing(
            f"the example deployment is not at {TEMPLATE.parent}; "
            "install the gateway from a source checkout (pip install -e .)"
        )
    return TEMPLATE.parent


def write_example_deployment(target: Path, *, overwrite: bool = False) -> Path:
    """Copy the example deployment (gateway.yaml + mapping files) into ``target``."""
    src = example_dir()
    target.mkdir(parents=True, exist_ok=True)
    for item in sorted(src.iterdir()):
        dest = target / item.name
        if dest.exists() and not overwrite:
            raise FileExistsError(f"{dest} exists; choose an empty folder")
        if item.is_dir():
            shutil.copytree(item, dest, dirs_exist_ok=overwrite)
        else:
            shutil.copy2(item, dest)
    return target / "gateway.yaml"


def demo_inputs() -> list[Path]:
    """Every synthetic input file the demo runs through the gateway."""
    return sorted(
        p for p in FIXTURES.rglob("*") if p.is_file() and p.parent.name != "expected" and not p.name.startswith(".")
    )
