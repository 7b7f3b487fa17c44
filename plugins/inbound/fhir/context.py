"""What building one encounter needs: the resolver, the clinic's settings
and the findings about that encounter."""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel

from gateway.model import Finding

from .models import error, info, warning
from .resolve import TYPE_ID, Res, Resolver
from .settings import FhirSettings
from .values import Json

T = TypeVar("T")
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_ENTRY = re.compile(r"^Bundle\.entry\[(\d+)\]")


@dataclass
class Ctx:
    """``memo`` is shared by the encounters of one message: a patient,
    provider or coverage used by several encounters is read once (each
    encounter still gets its own model objects and the same findings)."""

    resolver: Resolver
    settings: FhirSettings
    findings: list[Finding] = field(default_factory=list)
    memo: dict[Hashable, tuple[Any, list[Finding], Any]] = field(default_factory=dict)
    #: the message's identity (Bundle.identifier, else its id, else a hash of
    #: the bytes), for ids derived when a resource has none
    identity: str = ""

    def derived_id(self, res: Res) -> str:
        """An id for a resource sent without any: the UUID (or last part) of
        its entry's fullUrl, else the message identity and the entry index.
        Deterministic (a resent message gets the same id) and unique within
        and across messages."""
        url = (res.full_url or "").strip()
        if url.lower().startswith("urn:uuid:") and _ID.fullmatch(url[9:]):
            return url[9:]
        typed = TYPE_ID.search(url)
        if typed and typed[1] == res.type:
            return typed[2]
        entry = _ENTRY.search(res.path)
        return f"{self.identity}-e{entry.group(1)}" if entry else self.identity

    def once(self, key: Hashable, build: Callable[[], T]) -> T:
        """``build()`` the first time per message; later uses get a copy
        (plugins edit encounters in place) and the same findings again. No
        one edits the first result while the message is still being read."""
        hit = self.memo.get(key)
        if hit is None:
            start = len(self.findings)
            value = build()
            self.memo[key] = (value, self.findings[start:], None)
            return value
        value, findings, frozen = hit
        if frozen is None:  # second use: keep a plain copy to rebuild from
            frozen = _freeze(value)
            self.memo[key] = (value, findings, frozen)
        self.findings += findings
        return _thaw(frozen)  # type: ignore[no-any-return]

    def error(self, rule: str, message: str, where: str | None = None) -> None:
        self.findings.append(error(rule, message, where))

    def warning(self, rule: str, message: str, where: str | None = None) -> None:
        self.findings.append(warning(rule, message, where))

    def info(self, rule: str, message: str, where: str | None = None) -> None:
        self.findings.append(info(rule, message, where))

    def follow(
        self,
        ref: Json | None,
        at: Res,
        where: str,
        types: tuple[str, ...] = (),
        *,
        what: str = "resource",
        required: bool = False,
        quiet: bool = False,
    ) -> Res | None:
        """Resolve a Reference; a missing or unresolvable one becomes a
        finding (an error when ``required``, else a warning; none when
        ``quiet``)."""
        found = self.resolver.resolve(ref, at, types)
        if found is not None or quiet:
            return found
        report = self.error if required else self.warning
        if not isinstance(ref, dict) or not ref:
            if required:
                report("FHIR-REF", f"{what} reference is missing", where)
        elif ref.get("reference") or ref.get("identifier"):
            kinds = "/".join(types) or "resource"
            report("FHIR-REF", f"{what} ({kinds}) not found in this message or earlier ones", where)
        else:
            report("FHIR-REF", f"{what} is named only by display text; no reference to follow", where)
        return None


def _freeze(value: Any) -> Any:
    """Models as (class, plain dict): rebuilding from that is the cheapest copy."""
    if isinstance(value, BaseModel):
        return (type(value), value.model_dump())
    if isinstance(value, list):
        return [_freeze(v) for v in value]
    return value


def _thaw(frozen: Any) -> Any:
    if isinstance(frozen, tuple) and len(frozen) == 2 and isinstance(frozen[0], type):
        return frozen[0].model_validate(frozen[1])
    if isinstance(frozen, list):
        return [_thaw(v) for v in frozen]
    return frozen
