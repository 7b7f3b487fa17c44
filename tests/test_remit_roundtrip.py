"""Round trips: random balanced remits written by the simulator's writer and
read back are the same models (and pass pyx12); the simulator's 999, 277CA
and 835 documents read back from its files are the documents it meant."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from gateway_plugins.inbound.x12_responses import read_responses
from gateway_plugins.inbound.x12_responses.codes import CLAIM_STATUS, PROVIDER_ADJUSTMENTS, REMIT_FILING_INDICATORS
from gateway_plugins.inbound.x12_responses.simulate import PayerSimulator
from gateway_plugins.inbound.x12_responses.write import Party, interchange, remit_segments
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.model import (
    Address,
    Adjustment,
    PersonName,
    ProviderAdjustment,
    Remit835,
    RemitClaim,
    RemitLine,
    RemitParty,
    RemitPayment,
    ResponseBatch,
    X12Control,
)
from tests.test_payer_simulator import claim_files
from tests.x12check import assert_valid_x12

D = Decimal
CREATED = datetime(2026, 12, 1, 6, 0)

cents = st.integers(0, 200_000).map(lambda n: D(n) / 100)
words = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=12)
codes = st.text("ABCDEFGHJKLMNPRSTVWXYZ0123456789", min_size=5, max_size=5)
days = st.dates(date(2020, 1, 1), date(2030, 12, 31))
ids = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", min_size=2, max_size=20).filter(lambda s: s.strip("-"))


def strip(value: Any) -> Any:
    """A model dump without reading positions and envelope (the writer's input has none)."""
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items() if k not in ("segment", "control", "findings")}
    if isinstance(value, list):
        return [strip(v) for v in value]
    return value


@st.composite
def adjustments(draw: st.DrawFn, total: Decimal, groups: tuple[str, ...] = ("CO", "PR", "OA", "PI")) -> list:
    """Adjustments taking up at most ``total``."""
    out = []
    left = total
    for _ in range(draw(st.integers(0, 3))):
        amount = draw(st.integers(0, int(left * 100)).map(lambda n: D(n) / 100))
        left -= amount
        qty = draw(st.one_of(st.none(), st.integers(1, 30).map(D)))
        group = draw(st.sampled_from(groups))
        out.append(Adjustment(group=group, reason=draw(st.sampled_from(["1", "2", "3", "45", "96", "97", "A2", "253"])),
                              amount=amount, quantity=qty, segment=0))  # fmt: skip
    return out


@st.composite
def lines(draw: st.DrawFn) -> RemitLine:
    charge = draw(cents)
    adj = draw(adjustments(charge))
    start = draw(days)
    end = draw(st.one_of(st.just(start), st.integers(1, 5).map(lambda n: start + timedelta(days=n))))
    original = draw(st.one_of(st.none(), codes))
    return RemitLine(
        qualifier="HC", procedure=draw(codes), modifiers=draw(st.lists(st.sampled_from(["25", "59", "QW", "RT"]),
                                                                       max_size=4)),
        charge=charge, paid=charge - sum((a.amount for a in adj), D(0)),
        revenue_code=draw(st.one_of(st.none(), st.just("0450"))), units=draw(st.one_of(st.none(), st.integers(1, 9).map(D))),
        original_qualifier="HC" if original else None, original_procedure=original,
        original_units=draw(st.integers(1, 9).map(D)) if original else None,
        service_date=start, service_end=end, control_number=draw(st.one_of(st.none(), ids)),
        allowed=draw(st.one_of(st.none(), cents)), adjustments=adj,
        remarks=draw(st.lists(st.sampled_from(["N130", "M15", "N20", "MA01"]), max_size=2)), segment=0,
    )  # fmt: skip


@st.composite
def claims(draw: st.DrawFn) -> RemitClaim:
    its_lines = draw(st.lists(lines(), min_size=0, max_size=3))
    line_paid = sum((ln.paid for ln in its_lines), D(0))
    charge = sum((ln.charge for ln in its_lines), D(0)) if its_lines else draw(cents)
    claim_adj = draw(adjustments(line_paid if its_lines else charge, ("CO", "OA", "PI", "PR")))
    paid = (line_paid if its_lines else charge) - sum((a.amount for a in claim_adj), D(0))
    status = draw(st.sampled_from(["1", "2", "3", "4", "19", "22", "23"]))
    sign = D(-1) if status == "22" else D(1)
    if sign < 0:  # a reversal: every amount negated
        claim_adj = [a.model_copy(update={"amount": -a.amount}) for a in claim_adj]
        its_lines = [
            ln.model_copy(update={"charge": -ln.charge, "paid": -ln.paid,
                                  "adjustments": [a.model_copy(update={"amount": -a.amount}) for a in ln.adjustments]})
            for ln in its_lines
        ]  # fmt: skip
    pr = sum((a.amount for a in claim_adj + [a for ln in its_lines for a in ln.adjustments] if a.group == "PR"), D(0))
    start = draw(days)
    return RemitClaim(
        claim_id=draw(ids), status=status, status_text=CLAIM_STATUS[status], charge=charge * sign, paid=paid * sign,
        patient_responsibility=draw(st.sampled_from([pr, None])), filing_indicator=draw(st.sampled_from(
            sorted(REMIT_FILING_INDICATORS))), payer_claim_id=draw(ids),
        facility_type=draw(st.sampled_from([None, "11", "22"])), frequency=draw(st.sampled_from([None, "1", "7"])),
        patient=PersonName(family=draw(words), given=draw(st.one_of(st.none(), words))),
        member_id=draw(st.one_of(st.none(), ids)), rendering_npi=draw(st.sampled_from([None, "1543210987"])),
        received_date=draw(st.one_of(st.none(), days)), service_date=start,
        service_end=draw(st.one_of(st.none(), st.just(start + timedelta(days=2)))), adjustments=claim_adj,
        remarks=draw(st.lists(st.sampled_from(["MA01", "MA18", "N1"]), max_size=5)), lines=its_lines, segment=0,
    )  # fmt: skip


@st.composite
def remits(draw: st.DrawFn) -> Remit835:
    its_claims = draw(st.lists(claims(), min_size=0, max_size=4))
    plb = [
        ProviderAdjustment(provider_id="1234567893", fiscal_period=date(2026, 12, 31), reason=reason,
                           reference=draw(st.one_of(st.none(), ids)), amount=draw(cents) * draw(st.sampled_from([1, -1])),
                           segment=0)
        # at most six: one PLB segment (pyx12 refuses a second PLB, see the test below)
        for reason in draw(st.lists(st.sampled_from(sorted(PROVIDER_ADJUSTMENTS)), max_size=6))
    ]  # fmt: skip
    total = sum((c.paid for c in its_claims), D(0)) - sum((a.amount for a in plb), D(0))
    method = draw(st.sampled_from(["ACH", "CHK"])) if total else "NON"
    payment = RemitPayment(
        handling=("I" if method == "ACH" else "C") if total else "H", amount=abs(total),
        credit_debit="D" if total < 0 else "C", method=method, payment_format="CCP" if method == "ACH" else None,
        payment_date=draw(days), trace_number=draw(ids), originator="1999999999", segment=0,
    )  # fmt: skip
    return Remit835(
        control=X12Control(interchange="", sender="", receiver="", segment=0),
        payment=payment,
        payer=RemitParty(name=draw(words), payer_id=draw(st.one_of(st.none(), ids)), segment=0,
                         address=Address(lines=[draw(words)], city=draw(words), state="IL", postal_code="62701")),
        payee=RemitParty(name=draw(words), id_qualifier="XX", id="1234567893", npi="1234567893",
                         tax_id=draw(st.sampled_from([None, "123456789"])), segment=0),
        production_date=draw(st.one_of(st.none(), days)), claims=its_claims, provider_adjustments=plb,
    )  # fmt: skip


def write(*docs: Remit835) -> str:
    sets = [remit_segments(d) for d in docs]
    return interchange("835", sets, sender=Party("EXPAYER1"), receiver=Party("EXBILL01"), control=9, created=CREATED)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(remits())
def test_a_random_balanced_remit_round_trips_and_passes_pyx12(remit: Remit835) -> None:
    text = write(remit)
    batch = read_responses(text)
    assert not batch.findings
    (doc,) = batch.documents
    assert doc.findings == [], [f.message for f in doc.findings]
    assert strip(doc.model_dump()) == strip(remit.model_dump())
    assert_valid_x12(text.encode(), "835")


def test_the_simulators_documents_read_back_as_written() -> None:
    sim = PayerSimulator(seed=11).run(claim_files())
    texts = list(sim.files.items())
    remits = [d for n, t in texts if "835" in n for d in read_responses(t).documents]
    assert [strip(d.model_dump()) for d in remits] == [strip(r.model_dump()) for r in sim.remits]
    acks = [d for n, t in texts if n.endswith(".999.x12") for d in read_responses(t).documents]
    assert [strip(d.model_dump()) for d in acks] == [strip(a.model_dump()) for a in sim.acks]
    claim_acks = [d for n, t in texts if "277CA" in n for d in read_responses(t).documents]
    by_id = {a.claim_id: strip(a.model_dump()) for a in sim.claim_acks}
    assert len(claim_acks) == len(by_id)
    for doc in claim_acks:
        got = strip(doc.model_dump())
        got.pop("provider_statuses")  # the writer adds the provider loop's own STC
        want = by_id[doc.claim_id]
        want.pop("provider_statuses")
        assert got == want


def test_two_plb_segments_are_read_although_pyx12_refuses_them() -> None:
    """The 835 guide lets PLB repeat; pyx12's map (835.5010.X221.A1) allows
    one footer loop and flags the second PLB. The reader takes both."""
    from tests.responses_helpers import REMIT_BODY, remit
    from tests.x12check import pyx12_errors

    body = [*REMIT_BODY, "PLB*1234567893*20261231*CS*0"]
    (doc,) = read_responses(remit(body)).documents
    assert [a.reason for a in doc.provider_adjustments] == ["L6", "WO", "CS"] and not doc.findings
    assert [e.message for e in pyx12_errors(remit(body).encode())] == [
        "Loop FOOTER exceeded max count.  Found 2, should have 1"
    ]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(remits())
def test_remit_models_survive_a_json_round_trip_with_money_as_strings(remit: Remit835) -> None:
    text = remit.model_dump_json()
    assert Remit835.model_validate_json(text) == remit
    batch = ResponseBatch(documents=[remit])
    assert ResponseBatch.model_validate_json(batch.model_dump_json()) == batch
    if remit.claims:
        assert isinstance(remit.model_dump(mode="json")["claims"][0]["charge"], str)


def test_response_models_refuse_unknown_keys() -> None:
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        Adjustment(group="CO", reason="45", amount=D(1), segment=1, carc="45")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        ResponseBatch.model_validate({"documents": [{"kind": "837", "claims": []}]})
