"""People and organisations: patient, providers, coverages, guarantor."""

from __future__ import annotations

from gateway.codes import MAX_COVERAGES, x12_relationship
from gateway.model import Coverage, Guarantor, Patient, Payer, PersonName, Provider, Subscriber

from .context import Ctx
from .resolve import Res, conditional_identifier, same_resource
from .systems import NPI, SELF_PAY_TYPES, SOPT, SOPT_FILING, TAXONOMY, X12_FILING, norm
from .values import (
    Json,
    address,
    codings,
    concept_codes,
    email,
    first_coding,
    items,
    npi_of,
    person_name,
    phone,
    pick_identifier,
    sex,
    tax_id_of,
    text_of,
    to_date,
)

PROVIDER_TYPES = ("Practitioner", "PractitionerRole", "Organization", "Location")
PERSON_TYPES = ("Patient", "RelatedPerson")
PAYOR_TYPES = ("Organization", "Patient", "RelatedPerson")
PLACEHOLDER_NAME = PersonName(family="UNKNOWN")


def patient_of(ctx: Ctx, res: Res) -> Patient:
    """The canonical patient; a missing name is an error (placeholder kept
    so the encounter can be reported). A patient without identifier or id
    gets one derived from the message (a warning; ``id_derived`` keeps
    statements from merging accounts on it)."""
    name = person_name(res.get("name"))
    if name is None:
        ctx.error("FHIR-PATIENT-NAME", "Patient has no name with a family name", f"{res.path}.name")
    pid = pick_identifier(res.get("identifier"), types=("MR",)) or res.id
    if not pid:
        ctx.warning(
            "FHIR-PATIENT-ID",
            "Patient has no medical record number or id; an id is derived from its fullUrl (or the bundle and entry)",
            f"{res.path}.identifier",
        )
    return Patient(
        id=pid or ctx.derived_id(res),
        id_derived=not pid,
        name=name or PLACEHOLDER_NAME,
        birth_date=to_date(res.get("birthDate")),
        sex=sex(res.get("gender")),
        address=address(res.get("address")),
        phone=phone(res.get("telecom")),
        email=email(res.get("telecom")),
    )


def _taxonomy(*concepts: Json | None) -> str | None:
    c = first_coding(concepts, TAXONOMY)
    return str(c["code"]) if c else None


def provider_of(ctx: Ctx, res: Res) -> Provider:
    """A Provider from a Practitioner, PractitionerRole, Organization or Location."""
    data = res.data
    if res.type == "Practitioner":
        quals = [q.get("code") for q in items(data.get("qualification")) if isinstance(q, dict)]
        return Provider(
            npi=npi_of(data),
            name=person_name(data.get("name")),
            taxonomy=_taxonomy(*quals),
            address=address(data.get("address")),
            phone=phone(data.get("telecom")),
        )
    if res.type == "PractitionerRole":
        where = f"{res.path}.practitioner"
        who = ctx.follow(data.get("practitioner"), res, where, ("Practitioner",), what="practitioner", quiet=True)
        base = provider_of(ctx, who) if who else Provider(npi=_reference_npi(data.get("practitioner")))
        taxonomy = _taxonomy(*items(data.get("code")), *items(data.get("specialty"))) or base.taxonomy
        return base.model_copy(update={"npi": base.npi or npi_of(data), "taxonomy": taxonomy})
    if res.type == "Location":
        org = ctx.follow(data.get("managingOrganization"), res, "", ("Organization",), quiet=True)
        return Provider(
            npi=npi_of(data) or (npi_of(org.data) if org else None),
            organization_name=data.get("name") or (org.get("name") if org else None),
            tax_id=tax_id_of(org.data) if org else None,
            address=address(data.get("address")),
            phone=phone(data.get("telecom")),
        )
    return Provider(
        npi=npi_of(data),
        organization_name=data.get("name"),
        tax_id=tax_id_of(data),
        address=address(data.get("address")),
        phone=phone(data.get("telecom")),
    )


def _reference_npi(ref: Json | None) -> str | None:
    """An NPI written in the reference itself (identifier or conditional)."""
    if not isinstance(ref, dict):
        return None
    ident = ref.get("identifier")
    if isinstance(ident, dict) and norm(ident.get("system")) in NPI and ident.get("value"):
        return str(ident["value"])
    cond = conditional_identifier(str(ref.get("reference") or ""))
    if cond and norm(cond[0]) in NPI:
        return cond[1]
    return None


def provider(ctx: Ctx, ref: Json | None, at: Res, where: str, what: str) -> Provider | None:
    """Follow a provider reference. When the resource is not available but
    the reference carries an NPI, a provider with that NPI is used."""
    if not isinstance(ref, dict):
        return None
    res = ctx.follow(ref, at, where, PROVIDER_TYPES, what=what, quiet=True)
    if res is not None:
        return ctx.once(("provider", id(res.data)), lambda: provider_of(ctx, res))
    npi = _reference_npi(ref)
    if npi:
        ctx.info("FHIR-REF-NPI", f"{what} not in this message or earlier ones; using the NPI in the reference", where)
        return Provider(npi=npi)
    ctx.follow(ref, at, where, PROVIDER_TYPES, what=what)
    return None


# -- coverage -----------------------------------------------------------------


def _filing_indicator(ctx: Ctx, cov: Json) -> str:
    for system, code in concept_codes(cov.get("type")):
        if code.upper() in X12_FILING and system not in SOPT:
            return code.upper()
        if system in SOPT:
            for prefix, sbr09 in SOPT_FILING:
                if code.startswith(prefix):
                    return sbr09
    return ctx.settings.claim_filing_indicator


def _is_self_pay(cov: Json) -> bool:
    return any(code in SELF_PAY_TYPES or code.upper() in SELF_PAY_TYPES for _, code in concept_codes(cov.get("type")))


def _payer(ctx: Ctx, cov: Res) -> Payer | bool | None:
    """The payer; False when the payor is a person (self-pay), None when unknown."""
    payors = items(cov.get("payor"))
    where = f"{cov.path}.payor[0]"
    if not payors:
        ctx.error("FHIR-PAYER", "Coverage has no payor", f"{cov.path}.payor")
        return None
    ref = payors[0]
    res = ctx.follow(ref, cov, where, PAYOR_TYPES, what="payor", quiet=True)
    if res is not None and res.type != "Organization":
        return False
    if res is not None:
        pid = pick_identifier(res.get("identifier"), types=("NIIP", "PAYERID"), systems=frozenset()) or pick_identifier(
            res.get("identifier")
        )
        name = res.get("name") or (ref.get("display") if isinstance(ref, dict) else None)
    else:
        ident = ref.get("identifier") if isinstance(ref, dict) else None
        pid = str(ident["value"]) if isinstance(ident, dict) and ident.get("value") else None
        name = ref.get("display") if isinstance(ref, dict) else None
        if pid is None:
            ctx.follow(ref, cov, where, PAYOR_TYPES, what="payor", required=True)
            return None
    if not pid:
        ctx.error("FHIR-PAYER", "payor Organization has no identifier (payer id)", f"{res.path}.identifier")
        return None
    return Payer(id=pid, source_id=pid, name=str(name or pid))


def _member_id(cov: Json) -> str | None:
    if cov.get("subscriberId"):
        return str(cov["subscriberId"])
    return pick_identifier(cov.get("identifier"), types=("MB", "SN", "MC", "MA")) or pick_identifier(
        cov.get("identifier")
    )


def _classes(cov: Json) -> dict[str, Json]:
    out: dict[str, Json] = {}
    for c in items(cov.get("class")):
        for coding in codings(c.get("type") if isinstance(c, dict) else None):
            out.setdefault(str(coding.get("code")), c)
    return out


def coverage_of(ctx: Ctx, cov: Res, patient: Res | None, order: int) -> Coverage | None:
    """A canonical Coverage, or None (self-pay, inactive or unusable — the
    latter with an error finding)."""
    if cov.get("status") in ("cancelled", "entered-in-error", "draft"):
        ctx.info("FHIR-COVERAGE-INACTIVE", f"Coverage with status '{cov.get('status')}' ignored", f"{cov.path}.status")
        return None
    if _is_self_pay(cov.data):
        return None
    payer = _payer(ctx, cov)
    if payer is False:
        return None
    member = _member_id(cov.data)
    if not member:
        ctx.error("FHIR-MEMBER-ID", "Coverage has no subscriberId or member identifier", f"{cov.path}.subscriberId")
    sub_ref = cov.get("subscriber") or cov.get("beneficiary")
    sub = ctx.follow(sub_ref, cov, f"{cov.path}.subscriber", PERSON_TYPES, what="subscriber", required=True)
    if payer is None or not member or sub is None:
        return None
    same = same_resource(sub, patient)
    rel_codes = [code for _, code in concept_codes(cov.get("relationship"))]
    if rel_codes:
        relationship = x12_relationship(rel_codes[0])
    else:
        relationship = "18" if same else "21"
        if not same:
            ctx.warning(
                "FHIR-RELATIONSHIP",
                "subscriber is not the patient and Coverage.relationship is missing; sent as unknown (21)",
                f"{cov.path}.relationship",
            )
    name = person_name(sub.get("name"))
    if name is None:
        ctx.error("FHIR-SUBSCRIBER-NAME", "subscriber has no name with a family name", f"{sub.path}.name")
        return None
    classes = _classes(cov.data)
    group, plan = classes.get("group", {}), classes.get("plan", {})
    return Coverage(
        order=order,
        payer=payer,
        subscriber=Subscriber(
            member_id=member,
            name=name,
            birth_date=to_date(sub.get("birthDate")),
            sex=sex(sub.get("gender")),
            address=address(sub.get("address")),
            group_number=group.get("value"),
            group_name=group.get("name"),
        ),
        relationship=relationship,
        claim_filing_indicator=_filing_indicator(ctx, cov.data),
        plan_name=plan.get("name") or plan.get("value") or text_of(cov.get("type")),
    )


def is_display_only(ref: Json | None) -> bool:
    """A Reference with display text and nothing to follow (no reference, no identifier)."""
    return isinstance(ref, dict) and bool(ref.get("display")) and not ref.get("reference") and not ref.get("identifier")


def display_only_coverage(ctx: Ctx, ins: Json, where: str, patient: Patient) -> Coverage | None:
    """A Claim.insurance whose coverage is named only by display text: None
    when not display-only or a self-pay name (``settings.fhir.self_pay_names``),
    else a coverage whose payer has the name only (the payer directory gives
    its id) and no member id (nobody sent one: the claim is held until it is)."""
    ref = ins.get("coverage") if isinstance(ins, dict) else None
    if not is_display_only(ref):
        return None
    name = " ".join(str(ref["display"]).split())  # type: ignore[index]
    if name.upper() in ctx.settings.self_pay_names:
        ctx.info("FHIR-COVERAGE-SELF-PAY", "the coverage is named as self-pay; the patient is billed", where)
        return None
    ctx.warning(
        "FHIR-COVERAGE-DISPLAY",
        "coverage named only by display text: the payer is looked up by that name in the payer directory; "
        "no subscriber or member id was sent (the patient is taken as the subscriber)",
        where,
    )
    return Coverage(
        payer=Payer(id="", name=name[:60]),
        subscriber=Subscriber(
            member_id="",
            name=patient.name,
            birth_date=patient.birth_date,
            sex=patient.sex,
            address=patient.address,
        ),
        relationship="18",
        claim_filing_indicator=ctx.settings.claim_filing_indicator,
        plan_name=name[:60],
    )


def coverages_of(ctx: Ctx, ranked: list[tuple[int, Res]], patient: Res | None) -> list[Coverage]:
    """Canonical coverages in payer order (1 primary, 2 secondary, 3 tertiary)."""
    out: list[Coverage] = []
    seen: set[int] = set()
    for _, res in sorted(ranked, key=lambda r: r[0]):
        if id(res.data) in seen:
            continue
        seen.add(id(res.data))
        if len(out) == MAX_COVERAGES:
            text = f"more than {MAX_COVERAGES} coverages; the rest are not billed"
            ctx.warning("FHIR-COVERAGE-LIMIT", text, res.path)
            break
        cov = coverage_of(ctx, res, patient, len(out) + 1)
        if cov is not None:
            out.append(cov)
    return out


# -- guarantor ----------------------------------------------------------------


def guarantor_of(ctx: Ctx, account: Res, patient: Res | None) -> Guarantor | None:
    """The guarantor of an Account (first party not on hold)."""
    for i, g in enumerate(items(account.get("guarantor"))):
        if not isinstance(g, dict) or g.get("onHold"):
            continue
        where = f"{account.path}.guarantor[{i}].party"
        party = ctx.follow(g.get("party"), account, where, (*PERSON_TYPES, "Organization"), what="guarantor")
        if party is None:
            continue
        if party.type == "Organization":
            name = PersonName(family=str(party.get("name") or "")) if party.get("name") else None
        else:
            name = person_name(party.get("name"))
        if name is None:
            ctx.warning("FHIR-GUARANTOR", "guarantor has no name; the patient receives the statement", where)
            return None
        if same_resource(party, patient):
            relationship = "self"
        else:
            rel = next(iter(items(party.get("relationship"))), None)
            relationship = (text_of(rel) or "").lower() or None
        addresses = party.get("address")
        return Guarantor(
            name=name,
            address=address(addresses if isinstance(addresses, list) else [addresses] if addresses else None),
            phone=phone(party.get("telecom")),
            email=email(party.get("telecom")),
            relationship=relationship,
            account_number=pick_identifier(account.get("identifier")) or account.id,
        )
    return None
