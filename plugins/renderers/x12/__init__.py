"""X12 5010 837P claims out: the ``x12-837p`` renderer, a tolerant 837P
reader and the ``gateway validate`` command (pyx12 + clean-claim checks).

See docs/x12-837p.md.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel

from gateway.documents import Renderer
from gateway.hookspecs import hookimpl

from .render import Claim837Renderer, X12RenderError
from .rules import RULES
from .settings import X12ClinicSettings, X12Settings

__all__ = ["RULES", "Claim837Renderer", "X12ClinicSettings", "X12RenderError", "X12Settings"]


@hookimpl
def gateway_register_renderers(register: Callable[[Renderer], None]) -> None:
    register(Claim837Renderer())


@hookimpl
def gateway_register_settings(register: Callable[[str, type[BaseModel]], None]) -> None:
    register("x12", X12ClinicSettings)
