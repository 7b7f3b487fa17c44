"""Shared fixtures: paths, a gateway built from the example deployment."""

from __future__ import annotations

import socket
from datetime import date
from pathlib import Path

import pytest

from gateway.app import Gateway
from gateway.examples import write_example_deployment

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
TODAY = date(2026, 11, 27)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def example_config(tmp_path: Path) -> Path:
    """A fresh copy of the example deployment's gateway.yaml."""
    return write_example_deployment(tmp_path / "deployment")


@pytest.fixture
def example_gateway(example_config: Path) -> Gateway:
    return Gateway.from_config(example_config)


@pytest.fixture(scope="session")
def wheel_env(tmp_path_factory: pytest.TempPathFactory):
    """A fresh venv outside the checkout with the gateway installed from its
    wheel (see tests/wheel_env.py); built once per session."""
    from tests.wheel_env import build_wheel_env

    return build_wheel_env(tmp_path_factory.mktemp("wheel-env"))


def pytest_report_header() -> str:
    from tests.corpus.conftest import CORPUS

    state = "present" if CORPUS.is_dir() else "absent"
    return f"corpus suite (tests/corpus, `make corpus`): deselected here; samples at {CORPUS}: {state}"
