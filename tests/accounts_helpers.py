"""Guarantor account tests: claims billed and 835s posted straight through
the store's own entry point (:meth:`Store.complete`, as a worker does), on
either backend, fast enough for property tests; and the money checks."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from gateway.model import Adjustment, Remit835, RemitClaim, RemitPayment, X12Control
from gateway.posting import ResponseItem
from gateway.store import EncounterOutcome, NewMessage, Outcome, Status, Store
from gateway.store.accounts import SIGN, AccountView
from gateway.store.submissions import NewClaim, NewStatement, content_digest

CLINIC = "riverside"
D = Decimal
SERVICE = date(2026, 11, 2)


@dataclass
class Books:
    """Claims billed and answered through a real store."""

    store: Store
    n: int = 0
    worker: str = "test-worker"
    charges: dict[str, Decimal] = field(default_factory=dict)

    def _complete(self, outcome_of: Any) -> None:
        self.n += 1
        raw = f"message {self.n} {time.time_ns()}".encode()
        self.store.journal([NewMessage(raw=raw, sha256=hashlib.sha256(raw).hexdigest(), scope=CLINIC,
                                       source="test", received_at=time.time(), clinic_id=CLINIC)])  # fmt: skip
        (m,) = self.store.claim(self.worker, 1, 60)
        self.store.complete(self.worker, [outcome_of(m.id)])

    def bill(
        self, clm01: str, charges: list[Decimal], account: str | None = "ACC1", copay: Decimal | None = None,
        others: tuple[int, ...] = (), service: date = SERVICE, payer_seq: int = 1, encounter: str = "{}",
    ) -> None:  # fmt: skip
        """Store claim ``clm01`` (one line per charge) and mark it delivered
        (``encounter``: the stored encounter's JSON, where statements find the patient)."""
        body = {
            "id": clm01,
            "service_lines": [
                {
                    "charge": str(c),
                    "service_date": service.isoformat(),
                    "procedure_code": "99213",
                    "description": "Office visit",
                }
                for c in charges
            ],
            "other_coverages": [{"order": o} for o in others],
        }
        if copay is not None:
            body["patient_paid"] = str(copay)
        text = json.dumps(body)
        total = sum(charges, D("0.00"))
        self.charges[clm01] = total
        claim = NewClaim(clm01, "PAYER1", str(total), text, payer_seq, content_digest("claims", text), account)
        enc = EncounterOutcome(0, CLINIC, clm01, Status.CLAIMED, encounter, [], claims=[claim])
        self._complete(lambda mid: Outcome(mid, Status.CLAIMED, clinic_id=CLINIC, encounters=[enc]))
        for s in self.store.submissions("claims", CLINIC, clm01):
            if s.status == "created":
                self.store.record_transition("claims", s.row, "delivered", status="delivered")

    def self_pay(self, statement_id: str, account: str, lines: list[tuple[Decimal, Decimal]]) -> None:
        """Store a self-pay statement: lines of (charge, paid at the visit)."""
        body = {
            "id": statement_id, "clinic_id": CLINIC, "account_number": account, "statement_date": "2026-11-05",
            "due_date": "2026-12-05",
            "lines": [{"service_date": "2026-11-03", "description": "Visit", "charge": str(c), "patient_paid": str(p)}
                      for c, p in lines],
        }  # fmt: skip
        text = json.dumps(body)
        st = NewStatement(statement_id, text, content_digest("statements", text))
        enc = EncounterOutcome(0, CLINIC, statement_id, Status.CLAIMED, "{}", [], statements=[st])
        self._complete(lambda mid: Outcome(mid, Status.CLAIMED, clinic_id=CLINIC, encounters=[enc]))

    def remit(
        self, clm01: str, paid: Decimal, adjustments: list[tuple[str, str, Decimal]], status: str = "1",
        charge: Decimal | None = None,
    ) -> None:  # fmt: skip
        """Post an 835 CLP for ``clm01`` (claim-level CAS) through Store.complete."""
        self.n += 1
        charge = charge if charge is not None else self.charges[clm01]
        pr = sum((a for g, _, a in adjustments if g == "PR"), D("0.00"))
        clp = RemitClaim(
            claim_id=clm01, status=status, status_text="", charge=charge, paid=paid, patient_responsibility=pr,
            adjustments=[Adjustment(group=g, reason=r, amount=a, segment=4) for g, r, a in adjustments], segment=3,
        )  # fmt: skip
        doc = Remit835(
            control=X12Control(interchange=f"{self.n:09d}", sender="PAYER1", receiver="CLINIC", segment=1),
            payment=RemitPayment(handling="I", amount=paid, method="ACH", trace_number=f"TRN{self.n}-{time.time_ns()}",
                                 segment=2),
            claims=[clp],
        )  # fmt: skip
        item = ResponseItem(0, doc, CLINIC, [], False)
        self._complete(lambda mid: Outcome(mid, Status.PARSED, clinic_id=CLINIC, responses=[item]))

    def status(self, clm01: str, payer_seq: int = 1) -> str:
        return self.store.submissions("claims", CLINIC, clm01, payer_seq)[-1].status


def assert_account_balances(view: AccountView) -> None:
    """The account balance is Σ of its rows; every item's whole view adds up
    (charge = insurance paid + adjustments + pending + patient paid +
    patient balance); the items' balances and the account's own rows make the balance."""
    assert view.balance == sum((e.amount * SIGN[e.kind] for e in view.entries), D("0"))
    for i in view.items:
        parts = i.insurance_paid + i.adjustments + i.pending + i.patient_paid + i.patient_balance
        assert parts == i.charge, (i.key, i.charge, i.insurance_paid, i.adjustments, i.pending, i.patient_paid,
                                   i.patient_balance)  # fmt: skip
        assert i.patient_balance == i.patient_responsibility - i.patient_paid - i.written_off
    assert sum((i.patient_balance for i in view.items), D("0")) + view.unapplied == view.balance


def ledger_total(store: Any) -> Decimal:
    """Σ of the whole account ledger (every clinic, every account), signed."""
    with store.read() as cur:
        cur.execute("SELECT kind, amount FROM account_ledger")
        return sum((D(a) * SIGN[k] for k, a in cur.fetchall()), D("0"))
