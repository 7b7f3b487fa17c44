"""The corpus suite: real third-party samples in ../shared/corpus.

Run with ``make corpus`` (``.ci/run`` does when the folder exists). The
samples keep their own licences and are never copied into this project.
If the folder is missing, the suite fails loudly rather than skipping.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("GATEWAY_CORPUS", ROOT.parent / "shared" / "corpus"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/corpus" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.corpus)


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.fail(f"corpus folder {CORPUS} not found: set GATEWAY_CORPUS or run without the corpus suite")
    return CORPUS
