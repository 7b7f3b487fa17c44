"""Guarantor accounts in the store: what patients owe once payers have
answered, what they paid, their credits and write-offs (issue 14).

**Account ledger** (table ``account_ledger``): append-only rows per clinic
and guarantor account (the encounter's guarantor account number, else the
patient id: :func:`gateway.claims.guarantor_account`; stored with each claim
row as ``claims.account``). A row belongs to a claim (``clm01``), to a
self-pay statement (``statement_id``) or to the account itself (both NULL: a
credit left over by a payment). ``amount`` is two-decimal text, the
``kind`` gives its sign (:data:`SIGN`):

* ``responsibility`` (+) the last payer's patient responsibility (CAS group
  PR) for a claim, posted when that payer's 835 posts; a later correction
  posts the difference (a negative row when the share went down);
* ``charge`` (+) a self-pay statement line, posted when the statement is stored;
* ``payment`` (−) what the patient paid: the visit copay (AMT*F5, source
  ``visit``), lockbox/portal/front-desk payments (``gateway payments
  import``, source ``import``);
* ``write_off`` (−) a small balance written off (audited);
* ``refund`` (+) a credit paid out; ``transfer`` (±, signed) a credit applied
  to another claim.

The account balance is Σ signed rows; below zero it is a **credit** (the
patient paid more than their share), listed by :meth:`AccountStore.credits`,
never absorbed silently. A claim's patient balance is Σ of its rows; its
submission is ``patient_due`` while that is above zero, ``closed`` once it
is not.

No patient data: clinic, account number, claim and statement ids, codes,
amounts and dates.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Literal

from gateway.money import ZERO

#: the kinds of account ledger rows and the sign each gives its amount
SIGN: dict[str, int] = {"responsibility": 1, "charge": 1, "payment": -1, "write_off": -1, "refund": 1, "transfer": 1}
ENTRY_KINDS = tuple(SIGN)
#: the source of a visit copay's payment rows and of imported payments
VISIT, IMPORT = "visit", "import"


class AccountError(ValueError):
    """A payment import or write-off that cannot be posted; ``problems``
    name each bad row (``line N: …``). Nothing was posted."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class AccountEntry:
    """One row of a guarantor account's ledger (see the module doc)."""

    id: int
    clinic_id: str
    account: str
    clm01: str | None
    statement_id: str | None
    line: int | None
    kind: str
    amount: Decimal
    reference: str | None
    method: str | None
    source: str | None
    actor: str
    note: str | None
    on: date
    billed_on: date | None
    billed_by: str | None
    at: float

    @property
    def signed(self) -> Decimal:
        """The amount with the sign its kind gives it (+ owed, − paid/credited)."""
        return self.amount * SIGN[self.kind]

    @property
    def item(self) -> str | None:
        """The claim or self-pay statement the row belongs to (None: the account's own)."""
        return self.clm01 or self.statement_id


@dataclass(frozen=True)
class ItemAdjustment:
    """One payer's adjustment of a claim, summed per group and reason, with
    the words a patient reads (PR-1/2/3: deductible, coinsurance, copay)."""

    payer_seq: int
    group: str
    reason: str
    amount: Decimal
    words: str


@dataclass(frozen=True)
class AccountItem:
    """One claim (whole claim, all payer places) or self-pay visit on an account.

    ``charge = insurance_paid + adjustments + pending + patient_paid +
    patient_balance`` to the cent: ``adjustments`` are what payers wrote off
    (charge − paid − what they left the patient, across payer places) plus
    the patient balance written off (``written_off``); ``pending`` is still
    at an insurer (shown, not due); ``patient_responsibility`` is what the
    patient was billed (the last payer's PR, or a self-pay charge);
    ``patient_paid`` what they paid toward it (net of refunds and transfers)."""

    kind: Literal["claim", "self_pay"]
    key: str
    service_date: date | None
    description: str
    status: str | None
    charge: Decimal
    insurance_paid: Decimal
    adjustments: Decimal
    pending: Decimal
    patient_responsibility: Decimal
    patient_paid: Decimal
    written_off: Decimal
    patient_balance: Decimal
    #: the day a statement first billed the patient for it (None: not yet billed)
    first_billed: date | None
    adjustment_detail: tuple[ItemAdjustment, ...] = ()
    #: the payer place that answered last (claims; None before any answer)
    last_payer_seq: int | None = None


@dataclass(frozen=True)
class StatementSent:
    """A statement that billed the account: its id and the day."""

    statement_id: str
    on: date | None
    status: str | None = None


@dataclass(frozen=True)
class AccountView:
    """A guarantor account as of a day: its items (oldest first), every
    ledger row (oldest first), the statements that billed it and the
    balance (Σ signed rows; negative: a credit)."""

    clinic_id: str
    account: str
    as_of: date
    items: list[AccountItem]
    entries: list[AccountEntry]
    statements: list[StatementSent] = field(default_factory=list)

    @property
    def balance(self) -> Decimal:
        return sum((e.signed for e in self.entries), ZERO)

    @property
    def payments(self) -> list[AccountEntry]:
        return [e for e in self.entries if e.kind == "payment"]

    @property
    def unapplied(self) -> Decimal:
        """Σ of the rows that belong to no claim or statement (a payment's left-over: negative is a credit)."""
        return sum((e.signed for e in self.entries if e.item is None), ZERO)

    @property
    def pending(self) -> Decimal:
        """Still at an insurer across the items (shown, not due)."""
        return sum((i.pending for i in self.items), ZERO)

    @property
    def credit(self) -> Decimal:
        """What the account holds for the patient (0 unless the balance is negative)."""
        return max(-self.balance, ZERO)

    @property
    def due(self) -> Decimal:
        """What the patient owes now (0 when the account is in credit)."""
        return max(self.balance, ZERO)


@dataclass(frozen=True)
class AccountDue:
    """An account with a balance as of a day: the balance, the oldest day a
    statement billed part of it (None: nothing billed yet), and whether any
    of it was never on a statement."""

    clinic_id: str
    account: str
    balance: Decimal
    first_billed: date | None
    unbilled: bool
    last_activity: date


@dataclass(frozen=True)
class AccountCredit:
    """An account in credit (to refund or apply): the amount and since when."""

    clinic_id: str
    account: str
    credit: Decimal
    since: date


@dataclass(frozen=True)
class PatientPayment:
    """One row of a payment import (``gateway payments import``): its CSV
    line, clinic, account, payment date, amount, method, reference and the
    claim it names (None: applied oldest first)."""

    line: int
    clinic_id: str
    account: str
    on: date
    amount: Decimal
    method: str
    reference: str
    claim: str | None = None


@dataclass(frozen=True)
class Applied:
    """Where one payment went: ``(item or None for the account's credit, amount)``."""

    payment: PatientPayment
    parts: tuple[tuple[str | None, Decimal], ...]

    @property
    def credit(self) -> Decimal:
        return sum((a for k, a in self.parts if k is None), ZERO)


@dataclass(frozen=True)
class PaymentImport:
    """What an import posted, the rows skipped as posted before (same clinic
    and reference), and the claims it closed."""

    posted: list[Applied]
    duplicates: list[PatientPayment]
    closed: list[tuple[str, str]]


@dataclass(frozen=True)
class WriteOff:
    """A small balance written off: clinic, account, item, amount."""

    clinic_id: str
    account: str
    item: str | None
    amount: Decimal


class AccountStore(ABC):
    """The guarantor accounts' part of the store interface. Every method is
    one transaction (retried as a whole on PostgreSQL)."""

    @abstractmethod
    def account(self, clinic_id: str, account: str, as_of: date | None = None) -> AccountView | None:
        """The account as of ``as_of`` (rows dated on or before it; today
        without one); None when the clinic has no such account."""

    @abstractmethod
    def accounts_due(self, clinic_id: str | None, as_of: date | None = None) -> list[AccountDue]:
        """Every account with a balance above zero as of ``as_of``, by clinic and account."""

    @abstractmethod
    def credits(self, clinic_id: str | None = None) -> list[AccountCredit]:
        """Every account in credit (balance below zero), by clinic and account."""

    @abstractmethod
    def claim_view(self, clinic_id: str, clm01: str) -> AccountItem | None:
        """The whole claim (every payer place) with its patient side, as an
        account shows it; None when the clinic has no such claim."""

    @abstractmethod
    def account_of(self, clinic_id: str, clm01: str) -> str | None:
        """The guarantor account a claim is owed on (None: no such claim)."""

    @abstractmethod
    def post_payments(self, payments: Sequence[PatientPayment], actor: str) -> PaymentImport:
        """Post patient payments, all or nothing: each applied to the claim
        it names, else to the account's items oldest first; what is left is a
        credit on the account. A row whose clinic and reference were posted
        before is skipped and reported. Raises :class:`AccountError` naming
        every bad row (unknown account or claim) and posts nothing. Audited;
        a claim whose patient balance reaches 0 is closed."""

    @abstractmethod
    def write_off_small(
        self, clinic_id: str, threshold: Decimal, actor: str, as_of: date | None = None
    ) -> list[WriteOff]:
        """Write off every account balance above zero and at or under
        ``threshold`` (a ``write_off`` row per item, an audit row per
        account; claims brought to 0 are closed). ``threshold`` 0 does nothing."""

    @abstractmethod
    def mark_billed(self, clinic_id: str, account: str, items: Sequence[str], statement_id: str, on: date) -> int:
        """Record that statement ``statement_id`` billed ``items`` (CLM01s or
        self-pay statement ids) of the account on ``on``: their rows not yet
        billed get that day as their first-billed date. How many rows."""
