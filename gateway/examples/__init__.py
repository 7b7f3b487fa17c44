"""The bundled example deployment and its synthetic inputs, shipped inside
the package (``importlib.resources``), so ``gateway demo`` and ``gateway
init`` work from a wheel as well as from a source checkout.

In the source tree the data lives at the top level (``mappings/example/`` and
``fixtures/``); ``deployment`` and ``fixtures`` here are links to them, which
a wheel build turns into real folders.
"""

from __future__ import annotations

import shutil
from importlib.resources import files
from pathlib import Path

#: the example deployment: gateway.yaml and its mapping files
DEPLOYMENT = Path(str(files(__name__).joinpath("deployment")))
#: synthetic inputs (fake people only) the demo runs
FIXTURES = Path(str(files(__name__).joinpath("fixtures")))
TEMPLATE = DEPLOYMENT / "gateway.yaml"


class ExamplesMissing(RuntimeError):
    pass


def example_dir() -> Path:
    if not TEMPLATE.is_file():
        raise ExamplesMissing(f"the example deployment is missing from the installed package ({DEPLOYMENT})")
    return DEPLOYMENT


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
