"""Documents (rendered claims and statements) and the renderer interface."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel

from gateway.model import Claim, Statement

Kind = Literal["claims", "statements"]


@dataclass(frozen=True)
class Document:
    """One file or message to deliver.

    ``name`` is deterministic (the same input renders the same name), so a
    transport can deliver idempotently. ``refs`` lists the claim or statement
    ids inside, for tracing. ``headers`` carries transport hints such as an
    e-mail recipient, never PHI a transport would log.
    """

    name: str
    content: bytes
    media_type: str
    kind: Kind
    clinic_id: str
    refs: tuple[str, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


class ControlNumbers(Protocol):
    """Allocates interchange/group/transaction control numbers: persisted,
    never reused (the store implements it in the daemon)."""

    def next(self, scope: str, counter: str) -> int: ...


class MemoryControlNumbers:
    """Counter per (scope, counter) starting at 1; for one-shot runs and tests."""

    def __init__(self) -> None:
        self._n: dict[tuple[str, str], int] = {}

    def next(self, scope: str, counter: str) -> int:
        n = self._n.get((scope, counter), 0) + 1
        self._n[(scope, counter)] = n
        return n


@dataclass(frozen=True)
class RenderContext:
    """What a renderer may use besides the items: the run's timestamp, the
    gateway configuration (submitter, receiver), a control-number allocator
    and the destination's ``format_settings`` validated by the renderer's
    ``settings_model``. ``clinics`` maps clinic id to the run-time
    :class:`~gateway.config.Clinic` (validated settings, loaded resources such
    as a statement logo) when the caller has them."""

    created: datetime
    config: object
    control_numbers: ControlNumbers
    settings: BaseModel | None = None
    clinics: Mapping[str, Any] = field(default_factory=dict)


class Renderer(Protocol):
    """Turns claims or statements of one clinic into documents.

    ``name`` is what configuration refers to (``x12-837p``, ``pdf``);
    ``kind`` says whether it takes claims or statements;
    ``settings_model`` (a pydantic model or None) validates a destination's
    ``format_settings`` (ISA15, separators, file naming…). The batcher's
    claims are a sequence that validates each item as it is read (a batch is
    never all models at once): read them one at a time.
    """

    name: str
    kind: Kind
    settings_model: type[BaseModel] | None

    def render(self, items: Sequence[Claim] | Sequence[Statement], ctx: RenderContext) -> list[Document]: ...
