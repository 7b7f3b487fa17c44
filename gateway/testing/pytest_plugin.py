"""pytest fixtures of the plugin test kit (registered through the ``pytest11``
entry point, so they exist wherever the gateway is installed).

Imports of the gateway happen inside the fixtures: a test run that uses none
of them pays nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from gateway.testing import Deployment


@pytest.fixture
def gateway_deployment(tmp_path: Path) -> Deployment:
    """The example deployment in a temp folder, to edit and build a gateway from
    (:class:`gateway.testing.Deployment`)."""
    from gateway.testing import Deployment

    return Deployment(tmp_path / "gateway-deployment")
