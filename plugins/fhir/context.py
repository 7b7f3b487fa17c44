"""What building one encounter needs: the resolver, the clinic's settings
and the findings about that encounter."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.model import Finding

from .models import error, info, warning
from .resolve import Res, Resolver
from .settings import FhirSettings
from .values import Json


@dataclass
class Ctx:
    resolver: Resolver
    settings: FhirSettings
    findings: list[Finding] = field(default_factory=list)

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
