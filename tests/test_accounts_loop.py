"""Guarantor accounts end to end: claims out with `gateway process`, the
payer simulator's real 835s (checked by pyx12) back in, the patient's share
on each guarantor account; then `gateway payments import` and the account
commands on the same store."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from gateway.store import Store
from tests.accounts_helpers import assert_account_balances
from tests.posting_helpers import Loop, claims_out, process
from tests.x12check import assert_valid_x12

CLINIC = "riverside"


@pytest.fixture(scope="module")
def posted(tmp_path_factory: pytest.TempPathFactory) -> Loop:
    """Seven visits billed and every answer posted (999, 277CA, 835)."""
    loop = claims_out(tmp_path_factory.mktemp("accounts"), 7)
    for n, kind in enumerate(("999", "277CA", "835")):
        for f in loop.files(kind):
            assert_valid_x12(f.read_bytes(), kind.rstrip("CA"))
        process(loop.config, loop.root / f"answers-{n}", *loop.files(kind))
    return loop


def _pr(store: Store, clm01: str) -> Decimal:
    return sum((e.amount for e in store.ledger(CLINIC, clm01) if e.kind == "adjustment" and e.group == "PR"),
               Decimal("0.00"))  # fmt: skip


def test_every_claim_left_with_a_patient_share_is_billed_to_its_guarantor_account(posted: Loop) -> None:
    with posted.store() as store:
        outcomes = posted.sim.outcomes
        shared = [c for c, o in outcomes.items() if o in ("coinsurance", "deductible", "copay") and _pr(store, c) > 0]
        assert shared, outcomes  # the simulator's run shows patient shares
        for clm01 in outcomes:
            account = store.account_of(CLINIC, clm01)
            assert account, clm01  # stored with the claim
            view = store.account(CLINIC, account)
            assert_account_balances(view)
            (item,) = [i for i in view.items if i.key == clm01]
            status = store.submissions("claims", CLINIC, clm01)[-1].status
            if clm01 in shared:
                assert item.patient_responsibility == _pr(store, clm01)
                assert status == "patient_due" and item.patient_balance == item.patient_responsibility
                assert item.pending == 0
            elif outcomes[clm01] in ("contractual", "paid_in_full"):
                assert status == "closed" and item.patient_responsibility == 0
        due = {d.account: d.balance for d in store.accounts_due(CLINIC)}
        assert sum(due.values()) == sum((_pr(store, c) for c in shared), Decimal("0.00"))


def test_the_accounts_hold_no_names(posted: Loop) -> None:
    with posted.store() as store, store.read() as cur:
        cur.execute("SELECT * FROM account_ledger")
        text = repr(cur.fetchall())
    for name in ("DOE", "Doe", "JANE", "Jane"):
        assert name not in text


_ = Path
