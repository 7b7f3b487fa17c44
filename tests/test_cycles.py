"""Statement cycles: the pure rules (gateway.cycles) and the clinic's cycle
settings read through gateway_statement_cycle."""

from __future__ import annotations

import types
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from gateway import hookimpl
from gateway.app import Gateway
from gateway.config import ConfigError
from gateway.cycles import AccountFacts, LastCycle, content_hash, decide, facts_of, statement_cycle
from gateway.model import DunningStep, Guarantor, Patient, PersonName, Statement, StatementCycle, StatementLine
from gateway.plugins import PluginError

D = Decimal
DAY = date(2026, 3, 1)
POLICY = StatementCycle(
    every_days=30,
    small_balance=D("5.00"),
    dunning=[
        DunningStep(min_days=30, message="Reminder: {amount_due} is past due."),
        DunningStep(min_days=60, message="Second notice: please pay {amount_due} now."),
    ],
    final_notice_after_days=90,
    collections_after_days=30,
    collections_to="agency-out",
)


def _statement(*lines: StatementLine, credit: str = "0.00") -> Statement:
    who = PersonName(family="Doe", given="Jane")
    return Statement(
        id="S1", clinic_id="c", account_number="A1", statement_date=DAY, due_date=DAY, patient=Patient(id="p", name=who),
        guarantor=Guarantor(name=who), lines=list(lines), unapplied_credit=D(credit),
    )  # fmt: skip


def _line(charge: str, paid: str = "0.00", you_paid: str = "0.00", billed: date | None = None, **kw) -> StatementLine:
    return StatementLine(
        service_date=date(2026, 1, 5), description="Office visit", charge=D(charge), insurance_paid=D(paid),
        patient_paid=D(you_paid), first_billed=billed, **{"claim_id": "V1", **kw},
    )  # fmt: skip


def test_first_statement_then_nothing_until_the_cycle_is_due() -> None:
    st = _statement(_line("100.00", "60.00"))
    facts = facts_of(st, DAY)
    assert facts.due == D("40.00") and facts.oldest_billed == DAY  # never billed: billed by this statement
    first = decide(facts, None, POLICY, DAY)
    assert (first.action, first.reason) == ("statement", "first statement")
    last = LastCycle(DAY, facts.content_hash)
    assert decide(facts, last, POLICY, DAY).action == "none"  # the same day again
    later = decide(facts, last, POLICY, DAY + timedelta(days=29))
    assert later.action == "none" and later.next_cycle == DAY + timedelta(days=30)
    due = decide(facts, last, POLICY, DAY + timedelta(days=30))
    assert (due.action, due.reason) == ("statement", "cycle due")


def test_a_payment_or_a_new_responsibility_is_a_new_statement_at_the_next_run() -> None:
    before = _statement(_line("100.00", "60.00", billed=DAY))
    last = LastCycle(DAY, content_hash(before))
    paid = _statement(_line("100.00", "60.00", you_paid="10.00", billed=DAY))
    d = decide(facts_of(paid, DAY), last, POLICY, DAY + timedelta(days=1))
    assert (d.action, d.reason) == ("statement", "balance changed")
    more = _statement(_line("100.00", "60.00", billed=DAY), _line("80.00", "50.00", claim_id=None))
    assert decide(facts_of(more, DAY), last, POLICY, DAY + timedelta(days=1)).reason == "balance changed"
    # paid in full: nothing to send
    settled = _statement(_line("100.00", "60.00", you_paid="40.00", billed=DAY))
    assert decide(facts_of(settled, DAY), last, POLICY, DAY + timedelta(days=1)).reason == "nothing due"


def test_dunning_escalates_with_the_age_since_first_billed_not_since_the_service_date() -> None:
    levels = []
    for age in (0, 29, 30, 59, 60, 89):
        st = _statement(_line("100.00", "60.00", billed=DAY))
        d = decide(facts_of(st, DAY), LastCycle(DAY - timedelta(days=1), "old"), POLICY, DAY + timedelta(days=age))
        levels.append((d.age_days, d.dunning_level, (d.dunning_message or "")[:6]))
    assert levels == [
        (0, 0, ""),
        (29, 0, ""),
        (30, 1, "Remind"),
        (59, 1, "Remind"),
        (60, 2, "Second"),
        (89, 2, "Second"),
    ]


def test_final_notice_then_collections() -> None:
    st = _statement(_line("100.00", "60.00", billed=DAY))
    facts = facts_of(st, DAY)
    d = decide(facts, LastCycle(DAY + timedelta(days=60), facts.content_hash), POLICY, DAY + timedelta(days=90))
    assert d.action == "final_notice" and d.dunning_level == 2
    noticed = LastCycle(DAY + timedelta(days=90), facts.content_hash, 2, final_notice_on=DAY + timedelta(days=90))
    assert decide(facts, noticed, POLICY, DAY + timedelta(days=100)).action == "none"
    assert decide(facts, noticed, POLICY, DAY + timedelta(days=120)).action == "collections"
    gone = LastCycle(
        DAY + timedelta(days=120), facts.content_hash, 2, DAY + timedelta(days=90), DAY + timedelta(days=120)
    )
    assert decide(facts, gone, POLICY, DAY + timedelta(days=400)).reason == "sent to collections"
    # without collections configured: the final notice repeats with the cycle, never collections
    no_agency = POLICY.model_copy(update={"collections_after_days": None})
    assert decide(facts, noticed, no_agency, DAY + timedelta(days=200)).action == "statement"


def test_small_balances_are_written_off_and_credits_shown_once() -> None:
    small = _statement(_line("100.00", "95.00"))
    assert decide(facts_of(small, DAY), None, POLICY, DAY).action == "write_off"
    just_over = _statement(_line("100.00", "94.99"))
    assert decide(facts_of(just_over, DAY), None, POLICY, DAY).action == "statement"
    credit = _statement(_line("100.00", "80.00", you_paid="30.00"))  # copay larger than the share
    assert credit.total_due == D("-10.00")
    first = decide(facts_of(credit, DAY), None, POLICY, DAY)
    assert (first.action, first.reason) == ("statement", "credit balance")
    again = decide(facts_of(credit, DAY), LastCycle(DAY, content_hash(credit)), POLICY, DAY + timedelta(days=60))
    assert again.action == "none"


def test_pending_lines_are_not_due_and_do_not_age() -> None:
    st = _statement(_line("100.00", billed=DAY - timedelta(days=200), insurance_pending=True))
    assert facts_of(st, DAY) == AccountFacts(D("0.00"), None, content_hash(st))
    assert decide(facts_of(st, DAY), None, POLICY, DAY).action == "none"


def test_content_hash_ignores_dates_and_wording_but_not_money() -> None:
    a = _statement(_line("100.00", "60.00"))
    b = a.model_copy(update={"statement_date": DAY + timedelta(days=3), "dunning_message": "x", "id": "S2"})
    assert content_hash(a) == content_hash(b)
    assert content_hash(a) != content_hash(_statement(_line("100.00", "60.01")))
    assert content_hash(a) != content_hash(_statement(_line("100.00", "60.00"), credit="1.00"))


# -- settings through the hook ---------------------------------------------------------------
CYCLE = """        cycle:
          every_days: 28
          small_balance: "4.99"
          final_notice_after: 3 cycles
          collections_after: 21
          collections_to: statements-out
          dunning:
            - {min_days: 30, message: "Past due: {amount_due}"}
            - {min_days: 60, message: "Seriously past due"}
"""


def _with(example_config: Path, block: str) -> Path:
    text = example_config.read_text()
    anchor = "        logo: statements/lakeside-logo.png\n"
    assert anchor in text
    example_config.write_text(text.replace(anchor, anchor + block))
    return example_config


def test_cycle_settings_come_from_the_statements_plugin(example_config: Path) -> None:
    gw = Gateway.from_config(_with(example_config, CYCLE))
    policy = statement_cycle(gw.host, gw.clinics["lakeside"])
    assert policy.every_days == 28 and policy.small_balance == D("4.99")
    assert policy.final_notice_after_days == 84 and policy.collections_after_days == 21
    assert [(d.min_days, d.message) for d in policy.dunning] == [
        (30, "Past due: {amount_due}"),
        (60, "Seriously past due"),
    ]
    assert statement_cycle(gw.host, gw.clinics["riverside"]) == StatementCycle()  # no cycle section: the defaults


@pytest.mark.parametrize(
    ("block", "says"),
    [
        ("        cycle: {every_days: 0}\n", "cycle.every_days"),
        ("        cycle: {final_notice_after: soon}\n", "cycle.final_notice_after"),
        ("        cycle: {collections_after: 30}\n", "collections_after needs final_notice_after"),
        ("        cycle: {final_notice_after: 90, collections_after: 30}\n", "collections_after needs collections_to"),
        ("        cycle: {dunning: [{min_days: 60, message: a}, {min_days: 30, message: b}]}\n", "cycle.dunning"),
        ("        cycle: {dunning: [{min_days: 30, message: 'pay {ssn}'}]}\n", "cycle.dunning[0].message"),
        ("        cycle: {small_balance: '-1'}\n", "cycle.small_balance"),
        ("        cycle: {every_day: 30}\n", "cycle.every_day"),
    ],
)
def test_bad_cycle_settings_name_the_key(example_config: Path, block: str, says: str) -> None:
    with pytest.raises(ConfigError) as err:
        Gateway.from_config(_with(example_config, block))
    text = "\n".join(err.value.problems)
    assert "settings.statements" in text and says in text, text


def test_a_plugin_answer_wins_and_a_wrong_answer_is_an_error(example_config: Path) -> None:
    mine = StatementCycle(every_days=14)
    plugin = types.SimpleNamespace(gateway_statement_cycle=hookimpl(tryfirst=True)(lambda clinic: mine))
    gw = Gateway.from_config(example_config, extra_plugins=[("cyc", plugin)])
    assert statement_cycle(gw.host, gw.clinics["lakeside"]).every_days == 14
    bad = types.SimpleNamespace(gateway_statement_cycle=hookimpl(tryfirst=True)(lambda clinic: {"every_days": 3}))
    gw = Gateway.from_config(example_config, extra_plugins=[("bad_cycle", bad)])
    with pytest.raises(PluginError, match="returned dict, not a StatementCycle"):
        statement_cycle(gw.host, gw.clinics["lakeside"])
