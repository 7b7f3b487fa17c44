"""A fresh virtualenv, outside the checkout, with the gateway installed from
a wheel (not editable): what a user who runs ``pip install billing-gateway``
gets. Built once per test session.

Dependencies come from the local wheelhouse ``scripts/setup.sh`` fills
(``.venv/wheelhouse``), so no test downloads anything; the gateway wheel is
built from the working tree each session.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import ROOT

WHEELHOUSE = Path(sys.prefix) / "wheelhouse"


@dataclass(frozen=True)
class WheelEnv:
    """A venv with the gateway wheel installed; ``run`` runs its commands."""

    prefix: Path
    wheel: Path
    workdir: Path

    @property
    def bin(self) -> Path:
        return self.prefix / "bin"

    def run(self, *args: str | os.PathLike[str], cwd: Path | None = None, check: bool = True, **kw: object):
        env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        proc = subprocess.run(
            [str(a) for a in args], cwd=cwd or self.workdir, env=env, capture_output=True, text=True, **kw
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"{args} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    def pip_install(self, *args: str | os.PathLike[str]) -> None:
        """pip install from the local wheelhouse only (no index)."""
        self.run(self.bin / "python", "-m", "pip", "install", "-q", "--no-index", "--find-links", WHEELHOUSE, *args)


def build_wheel_env(base: Path) -> WheelEnv:
    if not any(WHEELHOUSE.glob("*.whl")):
        raise RuntimeError(
            f"no wheelhouse at {WHEELHOUSE}: run `make test` (scripts/setup.sh fills it) before these tests"
        )
    dist = base / "dist"
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-index"]
    subprocess.run(
        [*pip_wheel, "--find-links", str(WHEELHOUSE), "-w", str(dist), str(ROOT)], check=True, capture_output=True
    )
    (wheel,) = dist.glob("billing_gateway-*.whl")
    prefix = base / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(prefix)
    workdir = base / "work"
    workdir.mkdir()
    env = WheelEnv(prefix=prefix, wheel=wheel, workdir=workdir)
    env.pip_install(f"{wheel}[test]")
    return env
