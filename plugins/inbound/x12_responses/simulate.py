"""A payer simulator: our 837P files in, the 999, 277CA and 835 files a
clearinghouse and a payer would send back, for tests and the demo.

Deterministic for a seed. Every file balances (docs/remittance.md). What it
answers, for the claims of all input files together:

* a 999 per input interchange: each transaction set accepted, or rejected
  with IK3/IK5 when the project's 837P reader found a structural problem in
  it (its claims go no further);
* a 277CA per input interchange (one transaction set per payer): claims
  accepted into adjudication (A2:20); one claim per run (in the first file
  with three primary claims or more) rejected for an invalid member id
  (A7:164:IL), which then gets no 835;
* two 835 runs per payer (one transaction set per payee, the billing
  provider): run 1 pays claims in full, with a CO-45 contractual
  adjustment, with PR deductible (CARC 1), coinsurance (2) or copay (3),
  denies one (CO-96 with RARC N130), and carries a PLB (L6 interest);
  run 2 reverses one claim of run 1 (CLP02 = 22, amounts negated) and pays
  it again, higher. A primary claim that names another coverage (2320)
  always gets a PR coinsurance (something is left for the next payer).
  Secondary and tertiary claims (SBR01 = S/T) are processed as such (CLP02
  = 2/3): per line, what the earlier payers settled (charge − the PR the
  payer just before left, read from its 2430 or, at claim level, its
  2320) is OA-23, 80% of the rest is paid and what remains is PR
  coinsurance; a secondary without the earlier payer's answer (only AMT*D)
  gets the earlier payment as OA-23 and an ordinary outcome for the rest.
"""

from __future__ import annotations

import random
import re
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from gateway_plugins.renderers.x12.facts import ClaimFacts
from gateway_plugins.renderers.x12.reader import read_837

from gateway.model import (
    Ack999,
    AckSegmentError,
    Address,
    Adjustment,
    ClaimAck277,
    PersonName,
    ProviderAdjustment,
    Remit835,
    RemitClaim,
    RemitLine,
    RemitParty,
    RemitPayment,
    Status277,
    StatusCode,
    TransactionAck,
    X12Control,
)
from gateway.x12 import SegmentStream, X12SyntaxError

from .codes import (
    CLAIM_STATUS,
    ENTITIES,
    GROUP_STATUS,
    REMIT_FILING_INDICATORS,
    SEGMENT_ERRORS,
    SET_STATUS,
    STATUS_CATEGORIES,
    STATUS_CODES,
)
from .write import Party, ack277_segments, ack999_segments, interchange, remit_segments

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
RATES = (Decimal("0.60"), Decimal("0.65"), Decimal("0.70"), Decimal("0.75"), Decimal("0.80"))
#: outcomes every run shows when it has enough claims, in this order
SPECIAL = ("denied", "reversed", "deductible", "coinsurance", "paid_in_full", "contractual", "copay")
ORDINARY = ("contractual", "deductible", "coinsurance", "copay", "paid_in_full")
#: 837 reader problems → IK3 segment error code
_IK3_CODES = {"X12-HI-MISSING": "3", "X12-NO-LINES": "3", "X12-HL-PARENT": "2", "X12-HL-LEVEL": "2"}


class SimulationError(ValueError):
    """An input is not an 837P file the simulator can answer."""


@dataclass(frozen=True)
class Envelope837:
    """What the simulator needs from an 837's envelope."""

    sender: str
    receiver: str
    interchange: str
    created: datetime
    submitter: tuple[str, str]
    groups: list[tuple[str, str, list[tuple[str, int, str]]]]  # (GS06, GS08, [(ST02, ST position, BHT03)])


@dataclass
class Simulation:
    """The files written (name → X12 text) and the typed documents in them."""

    files: dict[str, str] = field(default_factory=dict)
    acks: list[Ack999] = field(default_factory=list)
    claim_acks: list[ClaimAck277] = field(default_factory=list)
    remits: list[Remit835] = field(default_factory=list)
    outcomes: dict[str, str] = field(default_factory=dict)


def _envelope(data: bytes) -> Envelope837:
    try:
        stream = SegmentStream(data)
        segments = list(stream)
    except X12SyntaxError as exc:
        raise SimulationError(f"not an X12 file ({exc})") from None
    isa = segments[0]
    groups: list[tuple[str, str, list[tuple[str, int, str]]]] = []
    created = None
    submitter = ("SUBMITTER", "SUBMITTER")
    for seg in segments:
        if seg.id == "GS":
            if seg.get(1) != "HC":
                raise SimulationError("the file is not an 837 claim file (GS01 is not HC)")
            groups.append((seg.get(6), seg.get(8), []))
            try:
                created = created or datetime.strptime(seg.get(4) + seg.get(5)[:4], "%Y%m%d%H%M")
            except ValueError:
                raise SimulationError("GS04/GS05 is not a date and time") from None
        elif seg.id == "ST" and groups:
            groups[-1][2].append((seg.get(2), seg.index, ""))
        elif seg.id == "BHT" and groups and groups[-1][2]:
            st, pos, _ = groups[-1][2][-1]
            groups[-1][2][-1] = (st, pos, seg.get(3))
        elif seg.id == "NM1" and seg.get(1) == "41":
            submitter = (seg.get(3) or "SUBMITTER", seg.get(9) or "SUBMITTER")
    if not groups or created is None:
        raise SimulationError("the file has no functional group")
    return Envelope837(isa.get(6).strip(), isa.get(8).strip(), isa.get(13).strip(), created, submitter, groups)


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _person(claim: ClaimFacts) -> PersonName:
    p = claim.patient
    return PersonName(family=p.family or "UNKNOWN", given=p.given or None, middle=p.middle or None)


def _day(text: str, default: date) -> date:
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return default


class PayerSimulator:
    """Answers 837P files; see the module docstring."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.control = 100_000_000 + (seed % 1000) * 100_000
        self.icns: dict[str, str] = {}

    def next_control(self) -> int:
        self.control += 1
        return self.control

    # -- the whole run -----------------------------------------------------------------
    def run(self, inputs: list[tuple[str, bytes]]) -> Simulation:
        sim = Simulation()
        accepted: list[tuple[ClaimFacts, date]] = []
        latest = date(2000, 1, 1)
        for name, data in inputs:
            env = _envelope(data)
            try:
                read = read_837(data)
            except Exception as exc:  # the 837P reader should never raise; say which input, not a traceback
                raise SimulationError(f"{name}: the 837P reader failed ({type(exc).__name__})") from None
            stem = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(name).stem)
            rejected_sets: set[str] = set()
            acks = []
            for group in env.groups:
                ack, rejected = self._ack999(env, group, read.problems)
                acks.append(ack)
                rejected_sets |= rejected
            sim.acks += acks
            sim.files[f"{stem}.999.x12"] = self._file("999", [ack999_segments(a) for a in acks], env, env.created)
            claims = [c for c in read.claims if c.where.st_control not in rejected_sets]
            if not claims:
                continue
            acks277 = self._ack277(env, claims, sim)
            sim.claim_acks += acks277
            created = env.created + timedelta(days=1)
            sets = []
            for payer in sorted({a.payer_id or "" for a in acks277}):
                of_payer = [a for a in acks277 if (a.payer_id or "") == payer]
                batch = env.groups[0][2][0][2] or env.interchange
                sets.append(ack277_segments(of_payer, batch=batch, created=created, receiver=env.submitter))
            sim.files[f"{stem}.277CA.x12"] = self._file("277", sets, env, created)
            rejected = {a.claim_id for a in acks277 if a.rejected}
            accepted += [(c, env.created.date()) for c in claims if c.claim_id not in rejected]
            latest = max(latest, env.created.date())
        self._remits(accepted, latest, sim)
        return sim

    def _file(self, kind: str, sets: list[list[str]], env: Envelope837, created: datetime) -> str:
        return interchange(
            kind,
            sets,
            sender=Party(env.receiver),
            receiver=Party(env.sender),
            control=self.next_control(),
            created=created,
        )

    # -- 999 ---------------------------------------------------------------------------
    def _ack999(
        self, env: Envelope837, group: tuple[str, str, list[tuple[str, int, str]]], problems: list
    ) -> tuple[Ack999, set[str]]:
        """The 999 for one of our functional groups; the sets it rejects."""
        control = X12Control(interchange="", sender=env.receiver, receiver=env.sender, segment=0)
        gs06, gs08, sets = group
        starts = sorted((pos, st) for g in env.groups for st, pos, _ in g[2])
        own = {st for st, _, _ in sets}
        errors: dict[str, list[AckSegmentError]] = {}
        codes: dict[str, list[str]] = {}
        for p in problems:
            if p.segment is None or p.rule.startswith("X12-SYNTAX"):
                continue
            st, start = next(((st, pos) for pos, st in reversed(starts) if pos <= p.segment), (starts[0][1], 1))
            if st not in own:
                continue
            if p.rule == "X12-SE-COUNT":
                codes.setdefault(st, []).append("4")
                continue
            code = _IK3_CODES.get(p.rule, "8")
            errors.setdefault(st, []).append(
                AckSegmentError(
                    segment_id=p.seg_id or "CLM",
                    position=p.segment - start + 1,
                    code=code,
                    description=SEGMENT_ERRORS[code],
                    segment=0,
                )
            )
        transactions = []
        for st, _, _ in sets:
            bad = st in errors or st in codes
            set_codes = (codes.get(st, []) + (["5"] if st in errors else [])) if bad else []
            transactions.append(
                TransactionAck(
                    transaction_set="837",
                    control_number=st,
                    convention=gs08,
                    status="R" if bad else "A",
                    status_text=SET_STATUS["R" if bad else "A"],
                    codes=set_codes,
                    errors=errors.get(st, []),
                    segment=0,
                )
            )
        rejected = {t.control_number for t in transactions if t.status == "R"}
        status = "A" if not rejected else ("R" if len(rejected) == len(transactions) else "P")
        n = len(transactions)
        ack = Ack999(
            control=control,
            functional_id="HC",
            group_control=gs06,
            convention=gs08,
            status=status,
            status_text=GROUP_STATUS[status],
            sets_included=n,
            sets_received=n,
            sets_accepted=n - len(rejected),
            transactions=transactions,
            segment=0,
        )
        return ack, rejected

    # -- 277CA ---------------------------------------------------------------------------
    def _status(self, category: str, code: str, entity: str | None, day: date, charge: Decimal | None) -> Status277:
        return Status277(
            codes=[
                StatusCode(
                    category=category,
                    category_text=STATUS_CATEGORIES[category],
                    code=code,
                    code_text=STATUS_CODES[code],
                    entity=entity,
                    entity_text=ENTITIES.get(entity or ""),
                )
            ],
            status_date=day,
            action="WQ",
            charge=charge,
            segment=0,
        )

    def _ack277(self, env: Envelope837, claims: list[ClaimFacts], sim: Simulation) -> list[ClaimAck277]:
        day = env.created.date() + timedelta(days=1)
        primary = [c.claim_id for c in claims if c.responsibility in ("P", "")]
        reject_one = len(primary) >= 3 and "rejected_277" not in sim.outcomes.values()
        rejected = self.rng.choice(primary) if reject_one else None
        out = []
        for i, c in enumerate(claims, 1):
            control = X12Control(interchange="", sender=env.receiver, receiver=env.sender, segment=0)
            if c.claim_id == rejected:
                status = self._status("A7", "164", "IL", day, c.total_charge)
                sim.outcomes[c.claim_id] = "rejected_277"
            else:
                status = self._status("A2", "20", None, day, c.total_charge)
            first = _day(c.lines[0].service_date, day) if c.lines else day
            last = max((_day(ln.service_date, day) for ln in c.lines), default=first)
            out.append(
                ClaimAck277(
                    control=control,
                    claim_id=c.claim_id,
                    payer_claim_id=None if c.claim_id == rejected else self.icn_of(c),
                    clearinghouse_trace=f"CH{env.interchange[-6:]}{i:05d}",
                    batch_reference=env.groups[0][2][0][2] or None,
                    payer_name=c.payer_name or "PAYER",
                    payer_id=c.payer_id or "PAYER",
                    billing_name=c.billing_name,
                    billing_npi=c.billing_npi or None,
                    billing_tax_id=c.billing_tax_id or None,
                    statuses=[status],
                    charge=c.total_charge,
                    patient=_person(c),
                    member_id=c.member_id or None,
                    service_date=first,
                    service_end=last,
                    segment=0,
                )
            )
        return out

    def icn_of(self, claim: ClaimFacts, adjudication: int = 1) -> str:
        """The claim's payer's claim control number (ICN) of a claim's
        ``adjudication`` (a corrected payment gets a new one), stable within a run."""
        key = f"{claim.payer_id}|{claim.claim_id}#{adjudication}"
        if key not in self.icns:  # each payer numbers its own claims (a secondary's ICN is not its primary's)
            payer = zlib.crc32(claim.payer_id.encode()) % 1000
            self.icns[key] = f"2{self.seed % 1000:03d}{payer:03d}{len(self.icns) + 1:07d}"
        return self.icns[key]

    # -- 835 ---------------------------------------------------------------------------
    def _outcomes(self, claims: list[ClaimFacts], sim: Simulation) -> dict[str, str]:
        primary = [c.claim_id for c in claims if c.responsibility in ("P", "") and not c.other_payers]
        self.rng.shuffle(primary)
        out = {c.claim_id: "secondary" for c in claims if c.responsibility not in ("P", "")}
        out.update({c.claim_id: "coinsurance" for c in claims if c.responsibility in ("P", "") and c.other_payers})
        for i, cid in enumerate(primary):
            out[cid] = SPECIAL[i] if i < len(SPECIAL) else self.rng.choice(ORDINARY)
        sim.outcomes.update(out)
        return out

    def _lines(self, claim: ClaimFacts, outcome: str, day: date, rate: Decimal) -> list[RemitLine]:
        if outcome == "secondary" and (left := _left_by_earlier_payer(claim)) is not None:
            return [self._after_earlier_payer(claim, i, left[i], day) for i in range(len(claim.lines))]
        lines = []
        prior = claim.other_payers[0].paid if claim.other_payers and claim.other_payers[0].paid else ZERO
        total = claim.total_charge or sum((ln.charge or ZERO for ln in claim.lines), ZERO)
        prior_left = prior
        deductible = Decimal(self.rng.choice(("20.00", "35.00", "50.00")))
        for i, ln in enumerate(claim.lines):
            charge = ln.charge or ZERO
            adj: list[Adjustment] = []
            remarks: list[str] = []
            allowed = charge if outcome == "paid_in_full" else _cents(charge * rate)
            if outcome == "denied":
                adj.append(Adjustment(group="CO", reason="96", amount=charge, segment=0))
                remarks.append("N130")
                allowed = ZERO
            elif allowed != charge:
                adj.append(Adjustment(group="CO", reason="45", amount=charge - allowed, segment=0))
            patient, reason = ZERO, ""
            if outcome == "deductible" and deductible > 0:
                patient, reason = min(deductible, allowed), "1"
                deductible -= patient
            elif outcome == "coinsurance":
                patient, reason = _cents(allowed * Decimal("0.20")), "2"
            elif outcome == "copay" and i == 0:
                patient, reason = min(Decimal("20.00"), allowed), "3"
            if patient > 0:
                adj.append(Adjustment(group="PR", reason=reason, amount=patient, segment=0))
            prior_share = ZERO
            if outcome == "secondary":
                last = i == len(claim.lines) - 1
                prior_share = prior_left if last else (_cents(prior * charge / total) if total else ZERO)
                prior_share = min(prior_share, allowed - patient, prior_left)
                prior_left -= prior_share
                if prior_share > 0:
                    adj.append(Adjustment(group="OA", reason="23", amount=prior_share, segment=0))
            paid = allowed - patient - prior_share
            code = ln.procedure_code or "99499"
            served = _day(ln.service_date, day)
            lines.append(
                RemitLine(
                    qualifier="HC",
                    procedure=code,
                    modifiers=list(ln.modifiers),
                    charge=charge,
                    paid=paid,
                    units=ln.units,
                    service_date=served,
                    service_end=served,
                    control_number=ln.control_number or None,
                    allowed=None if outcome == "denied" else allowed,
                    adjustments=adj,
                    remarks=remarks,
                    segment=0,
                )
            )
        return lines

    def _after_earlier_payer(self, claim: ClaimFacts, i: int, left: Decimal, day: date) -> RemitLine:
        """Line ``i`` of a secondary/tertiary claim: OA-23 for what the earlier
        payers settled, 80% of what they left paid, the rest PR coinsurance."""
        ln = claim.lines[i]
        charge = ln.charge or ZERO
        paid = _cents(left * Decimal("0.80"))
        adj = [Adjustment(group=g, reason=r, amount=a, segment=0)
               for g, r, a in (("OA", "23", charge - left), ("PR", "2", left - paid)) if a != 0]  # fmt: skip
        served = _day(ln.service_date, day)
        return RemitLine(qualifier="HC", procedure=ln.procedure_code or "99499", modifiers=list(ln.modifiers),
                         charge=charge, paid=paid, units=ln.units, service_date=served, service_end=served,
                         control_number=ln.control_number or None, allowed=left, adjustments=adj,
                         segment=0)  # fmt: skip

    def _claim(self, claim: ClaimFacts, outcome: str, day: date, rate: Decimal) -> RemitClaim:
        lines = self._lines(claim, outcome, day, rate)
        pr = sum((a.amount for ln in lines for a in ln.adjustments if a.group == "PR"), ZERO)
        if outcome == "secondary":
            status = {"S": "2", "T": "3"}.get(claim.responsibility, "2")
        else:
            status = "4" if outcome == "denied" else "1"
        dates = [ln.service_date for ln in lines if ln.service_date]
        return RemitClaim(
            claim_id=claim.claim_id,
            status=status,
            status_text=CLAIM_STATUS[status],
            charge=sum((ln.charge for ln in lines), ZERO),
            paid=sum((ln.paid for ln in lines), ZERO),
            patient_responsibility=pr,
            filing_indicator=claim.filing_indicator if claim.filing_indicator in REMIT_FILING_INDICATORS else "ZZ",
            payer_claim_id=self.icn_of(claim),
            patient=_person(claim),
            member_id=claim.member_id or None,
            service_date=min(dates) if dates else None,
            lines=lines,
            segment=0,
        )

    def _remits(self, accepted: list[tuple[ClaimFacts, date]], latest: date, sim: Simulation) -> None:
        if not accepted:
            return
        outcomes = self._outcomes([c for c, _ in accepted], sim)
        first_run: dict[tuple[str, str], list[RemitClaim]] = {}
        second_run: dict[tuple[str, str], list[RemitClaim]] = {}
        facts: dict[tuple[str, str], ClaimFacts] = {}
        for claim, sent in accepted:
            key = (claim.payer_id or "PAYER", claim.billing_npi or claim.billing_tax_id)
            facts.setdefault(key, claim)
            outcome = outcomes[claim.claim_id]
            rate = self.rng.choice(RATES)
            paid = self._claim(claim, "contractual" if outcome == "reversed" else outcome, sent, rate)
            first_run.setdefault(key, []).append(paid)
            if outcome == "reversed":
                reversal = _negated(paid)
                again = self._claim(claim, "contractual", sent, rate + Decimal("0.05"))
                again.payer_claim_id = self.icn_of(claim, 2)
                second_run.setdefault(key, []).extend([reversal, again])
        pay_day = latest + timedelta(days=14)
        plb_done = False
        for run, runs, day in ((1, first_run, pay_day), (2, second_run, pay_day + timedelta(days=14))):
            for payer in sorted({k[0] for k in runs}):
                remits = []
                for key in sorted(k for k in runs if k[0] == payer):
                    plb = []
                    if not plb_done:
                        plb_done = True
                        interest = Decimal(self.rng.choice(("1.25", "2.40", "3.75")))
                        plb = [
                            ProviderAdjustment(
                                provider_id=facts[key].billing_npi or "0",
                                fiscal_period=date(day.year, 12, 31),
                                reason="L6",
                                amount=-interest,
                                segment=0,
                            )
                        ]
                    remits.append(self._remit(facts[key], runs[key], plb, day, run))
                sim.remits += remits
                ident = re.sub(r"[^A-Za-z0-9-]", "_", payer)
                when = datetime(day.year, day.month, day.day, 6, 0)
                payer_party = Party(payer[:15])
                sets = [remit_segments(r) for r in remits]
                sim.files[f"remit-{ident}-{run}.835.x12"] = interchange(
                    "835",
                    sets,
                    sender=payer_party,
                    receiver=Party(self._submitter(sim)),
                    control=self.next_control(),
                    created=when,
                )

    def _submitter(self, sim: Simulation) -> str:
        return sim.acks[0].control.receiver if sim.acks else "SUBMITTER"

    def _remit(
        self, claim: ClaimFacts, claims: list[RemitClaim], plb: list[ProviderAdjustment], day: date, run: int
    ) -> Remit835:
        total = sum((c.paid for c in claims), ZERO) - sum((a.amount for a in plb), ZERO)
        method = "ACH" if total else "NON"
        salt = zlib.crc32(f"{claim.payer_id}|{claim.billing_npi}|{self.seed}".encode()) % 10**6
        trace = f"{run}{day:%y%m%d}{salt:06d}"
        payer_id = claim.payer_id or "PAYER"
        return Remit835(
            control=X12Control(interchange="", sender=payer_id, receiver="", segment=0),
            payment=RemitPayment(
                handling="C" if total else "H",
                amount=abs(total),
                credit_debit="C" if total >= 0 else "D",
                method=method,
                payment_format="CCP" if method == "ACH" else None,
                payment_date=day,
                trace_number=trace,
                originator="1999999999",
                segment=0,
            ),
            payer=RemitParty(
                name=claim.payer_name or "PAYER",
                payer_id=payer_id,
                address=Address(lines=["PO BOX 1000"], city="SPRINGFIELD", state="IL", postal_code="62701"),
                segment=0,
            ),
            payee=RemitParty(
                name=claim.billing_name or "PROVIDER",
                id_qualifier="XX" if claim.billing_npi else "FI",
                id=claim.billing_npi or claim.billing_tax_id,
                npi=claim.billing_npi or None,
                tax_id=claim.billing_tax_id or None,
                segment=0,
            ),
            production_date=day,
            claims=claims,
            provider_adjustments=plb,
        )


def _left_by_earlier_payer(claim: ClaimFacts) -> list[Decimal] | None:
    """Per line, what the payer just before this one (P for S, S for T) left
    to the patient (its PR), from its 2430 answers, else its claim-level
    answer spread over the lines by charge; None without its answer."""
    before = "PST"[max("PST".find(claim.responsibility) - 1, 0)]
    payer = next((o for o in claim.other_payers if o.responsibility == before), None)
    if payer is None:
        return None
    pr = lambda cas: sum((a or ZERO for g, _, a, _ in cas if g == "PR"), ZERO)  # noqa: E731
    answered = [[a for a in ln.adjudications if a.payer_id == payer.payer_id] for ln in claim.lines]
    if any(answered):
        return [sum((pr(a.adjustments) for a in mine), ZERO) for mine in answered]
    if not payer.adjudicated:
        return None
    left_total = payer.remaining if payer.remaining is not None else pr(payer.adjustments)
    charges = [ln.charge or ZERO for ln in claim.lines]
    total = sum(charges, ZERO)
    out = [_cents(left_total * c / total) if total else ZERO for c in charges[:-1]]
    return [*out, left_total - sum(out, ZERO)]


def _negated(claim: RemitClaim) -> RemitClaim:
    """The reversal (CLP02 = 22) of a payment: every amount negated."""

    def neg(a: Adjustment) -> Adjustment:
        return a.model_copy(update={"amount": -a.amount})

    lines = [
        ln.model_copy(
            update={
                "charge": -ln.charge,
                "paid": -ln.paid,
                "adjustments": [neg(a) for a in ln.adjustments],
                "allowed": None,
            }
        )
        for ln in claim.lines
    ]
    return claim.model_copy(
        update={
            "status": "22",
            "status_text": CLAIM_STATUS["22"],
            "charge": -claim.charge,
            "paid": -claim.paid,
            "patient_responsibility": -(claim.patient_responsibility or ZERO),
            "adjustments": [neg(a) for a in claim.adjustments],
            "lines": lines,
        }
    )


def simulate_payer(paths: list[Path], out_dir: Path, seed: int = 0) -> Simulation:
    """Answer the 837P files ``paths``; write the responses to ``out_dir``
    (folder 0700, files 0600) and return what was written."""
    sim = PayerSimulator(seed).run([(p.name, p.read_bytes()) for p in paths])
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name, text in sim.files.items():
        target = out_dir / name
        target.write_text(text)
        target.chmod(0o600)
    return sim
