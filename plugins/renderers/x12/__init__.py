"""X12 5010 837P claims out: the ``x12-837p`` renderer, a tolerant 837P
reader and the ``gateway validate`` command (pyx12 + clean-claim checks).

See docs/x12-837p.md.

The renderer (:mod:`.render`) is imported when the renderers are first
registered, not with the plugin: ``gateway inspect`` registers the clinic
settings section ``x12`` and renders nothing (start-up, issue 18).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from gateway.hookspecs import hookimpl

from .rules import RULES
from .settings import X12ClinicSettings, X12Settings

if TYPE_CHECKING:
    from gateway.documents import Renderer

    from .render import Claim837Renderer, X12RenderError

__all__ = ["RULES", "Claim837Renderer", "X12ClinicSettings", "X12RenderError", "X12Settings"]

_LAZY = {"Claim837Renderer", "X12RenderError"}


def __getattr__(name: str) -> Any:
    """``Claim837Renderer`` and ``X12RenderError``, from :mod:`.render` on first use."""
    if name in _LAZY:
        from . import render

        return getattr(render, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@hookimpl
def gateway_register_renderers(register: Callable[[Renderer], None]) -> None:
    from .render import Claim837Renderer

    register(Claim837Renderer())


@hookimpl
def gateway_register_settings(register: Callable[[str, type[BaseModel]], None]) -> None:
    register("x12", X12ClinicSettings)
