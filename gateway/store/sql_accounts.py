"""Guarantor accounts (:mod:`gateway.store.accounts`), shared by both backends:
what patients owe once payers have answered, what they paid, credits and
write-offs.

:meth:`SQLAccounts._bill_patients` is called by
:meth:`gateway.store.sql_remits.SQLRemits._after_adjudication` inside the
posting transaction when the last payer of a claim has answered (the claim's
lock is held); :meth:`SQLAccounts._charge_statements` by
:meth:`Store.complete` for the self-pay statements it stores. Writers of one
account (payment imports, write-offs) take a lock per account and per
payment reference, then the claim locks posting takes for the account's
claims (SQLite's write lock; advisory locks on PostgreSQL), so the same file
imported twice at once posts once and an 835 posting meanwhile waits.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from gateway.adjustment_codes import shipped_codes
from gateway.claims import self_pay_statement_id
from gateway.money import ZERO
from gateway.responsibility import Adjudication, Step
from gateway.store.accounts import (
    IMPORT,
    SIGN,
    VISIT,
    AccountCredit,
    AccountDue,
    AccountEntry,
    AccountError,
    AccountItem,
    AccountStore,
    AccountView,
    Applied,
    ItemAdjustment,
    PatientPayment,
    PaymentImport,
    StatementSent,
    WriteOff,
)
from gateway.store.codec import ref
from gateway.store.sql_remits import _claim_lock
from gateway.store.sql_submissions import ROW_KEY
from gateway.store.sqlbase import SQLBase, chunks, marks
from gateway.store.sqlbase import money_text as _money

_COLUMNS = (
    "id, clinic_id, account, clm01, statement_id, line, kind, amount, reference, method, source, actor, note, "
    "on_date, billed_on, billed_by, at"
)
_INSERT = f"INSERT INTO account_ledger ({_COLUMNS.replace('id, ', '', 1)}) VALUES ({marks(16)})"
#: "as of" for writes that see every row
_FOREVER = date(9999, 12, 30)
#: payer ledger kinds that reduce a submission's balance besides payments
_ADJUSTING = ("adjustment", "manual", "prior_payer")
#: submissions that are not (or no longer) at a payer
_NOT_AT_PAYER = ("held", "superseded", "discarded", "failed")


def day_of(t: float) -> date:
    """The UTC day of a store timestamp."""
    return datetime.fromtimestamp(t, UTC).date()


def _end_of(d: date) -> float:
    """The first instant after day ``d`` (UTC), as a store timestamp."""
    return datetime.combine(d + timedelta(days=1), datetime.min.time(), UTC).timestamp()


def _entry(r: Sequence[Any]) -> AccountEntry:
    return AccountEntry(
        int(r[0]), r[1], r[2], r[3], r[4], int(r[5]) if r[5] is not None else None, r[6], Decimal(r[7]), r[8], r[9],
        r[10], r[11], r[12], date.fromisoformat(r[13]), date.fromisoformat(r[14]) if r[14] else None, r[15],
        float(r[16]),
    )  # fmt: skip


class _Row:
    """A new account ledger row (see the table in :mod:`gateway.store.migrations`)."""

    @staticmethod
    def of(
        clinic: str, account: str, kind: str, amount: Decimal, on: date, actor: str, now: float, *,
        clm01: str | None = None, statement_id: str | None = None, line: int | None = None,
        reference: str | None = None, method: str | None = None, source: str | None = None, note: str | None = None,
        billed_on: date | None = None, billed_by: str | None = None,
    ) -> tuple[Any, ...]:  # fmt: skip
        return (clinic, account, clm01, statement_id, line, kind, _money(amount), reference, method, source, actor,
                note, on.isoformat(), billed_on.isoformat() if billed_on else None, billed_by, now)  # fmt: skip


class SQLAccounts(SQLBase, AccountStore):
    """The guarantor account ledger (see the module doc)."""

    _lock_keys: Any
    _lock_clause: str

    # -- writing inside other transactions -----------------------------------------------
    def _bill_patients(
        self, cur: Any, items: Sequence[tuple[Adjudication, Step]], source: str, actor: str, now: float
    ) -> None:
        """For each (adjudication, step) — claims of one clinic, each once —
        charge the guarantor account ``step.amount`` (the last payer's
        patient responsibility) for the adjudication's claim — the
        difference to what it was charged before, when a correction changed
        it — and apply the visit copay (AMT*F5) once per claim: up to the
        claim's patient balance, the rest a credit on the account. The
        submission is ``patient_due`` while a patient balance is left, else
        ``closed``. The claims' account rows and accounts are read in one
        query per chunk, their new rows written in one statement."""
        if not items:
            return
        clinic = items[0][0].clinic_id
        clm01s = sorted({adj.clm01 for adj, _ in items})
        assert len(clm01s) == len(items) and all(adj.clinic_id == clinic for adj, _ in items)
        rows: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for part in chunks(clm01s):
            cur.execute(f"SELECT clm01, kind, amount FROM account_ledger WHERE clinic_id = ? "
                        f"AND clm01 IN ({marks(len(part))})", (clinic, *part))  # fmt: skip
            for clm01, kind, amount in cur.fetchall():
                rows[clm01].append((kind, amount))
        accounts = self._claim_accounts(cur, clinic, {adj.clm01: adj.claim_row for adj, _ in items})
        on = day_of(now)
        new: list[tuple[Any, ...]] = []
        balances: dict[int, Decimal] = {}
        for adj, step in items:
            clm01, copay, claim_rows = adj.clm01, adj.facts.patient_paid, rows.get(adj.clm01, [])
            if not claim_rows and step.amount == 0 and copay <= 0:  # nothing owed, nothing paid: posting closed it
                continue
            account = accounts[clm01]
            balance = self._responsibility(adj, claim_rows, account, step.amount, source, actor, now, new)
            if copay > 0 and adj.facts.encounter_id:  # what the visit's self-pay statement took is not the claim's
                copay -= self._copay_on_statement(cur, clinic, self_pay_statement_id(clinic, adj.facts.encounter_id))
            if copay > 0:
                cur.execute(
                    "SELECT 1 FROM account_ledger WHERE clinic_id = ? AND kind = 'payment' AND source = ? "
                    "AND reference = ?",
                    (clinic, VISIT, clm01),
                )
                if cur.fetchone() is None:
                    parts = self._apply(clinic, account, clm01, None, copay, balance, on, actor, now, reference=clm01,
                                        method=VISIT, source=VISIT, new=new)  # fmt: skip
                    balance -= parts
            balances[adj.claim_row] = balance
        self._insert_rows(cur, new)
        self._settle_claims(cur, balances, source, actor, now)

    @staticmethod
    def _copay_on_statement(cur: Any, clinic: str, statement_id: str) -> Decimal:
        """The part of a visit's copay its self-pay statement posted (its due
        lines' paid at the visit, credit included): a visit with insured and
        self-pay lines splits one copay between the statement and the claim."""
        cur.execute("SELECT amount FROM account_ledger WHERE clinic_id = ? AND kind = 'payment' AND source = ? "
                    "AND reference = ?", (clinic, VISIT, statement_id))  # fmt: skip
        return sum((Decimal(a) for (a,) in cur.fetchall()), ZERO)

    def _unbill_patient(self, cur: Any, adj: Adjudication, source: str, actor: str, now: float) -> None:
        """A payer reversed its answer (CLP02 = 22) or denied the claim
        (corrected to a denial): what the patient was billed for the claim is
        taken back (a negative ``responsibility`` row); what they paid stays,
        a credit on the claim. The claim's status stays the payer's."""
        cur.execute("SELECT 1 FROM account_ledger WHERE clinic_id = ? AND clm01 = ? AND kind = 'responsibility'",
                    (adj.clinic_id, adj.clm01))  # fmt: skip
        if cur.fetchone() is None:
            return
        new: list[tuple[Any, ...]] = []
        account = self._claim_account(cur, adj.clinic_id, adj.clm01, adj.claim_row)
        rows = self._claim_rows(cur, adj.clinic_id, adj.clm01)
        why = "reversed by the payer" if adj.status == "reversed" else "denied by the payer"
        self._responsibility(adj, rows, account, ZERO, source, actor, now, new, why)
        self._insert_rows(cur, new)

    @staticmethod
    def _claim_rows(cur: Any, clinic: str, clm01: str) -> list[tuple[str, str]]:
        """(kind, amount) of a claim's account ledger rows."""
        cur.execute("SELECT kind, amount FROM account_ledger WHERE clinic_id = ? AND clm01 = ?", (clinic, clm01))
        return [(k, a) for k, a in cur.fetchall()]

    @staticmethod
    def _responsibility(
        adj: Adjudication, rows: list[tuple[str, str]], account: str, amount: Decimal, source: str, actor: str,
        now: float, new: list[tuple[Any, ...]], note: str = "correction: the payer changed the patient's share",
    ) -> Decimal:  # fmt: skip
        """A ``responsibility`` row (in ``new``) bringing what the claim's
        patient was billed (its ``rows``) to ``amount`` (none when it is
        already); the claim's patient balance after it."""
        billed = sum((Decimal(a) for k, a in rows if k == "responsibility"), ZERO)
        balance = sum((Decimal(a) * SIGN[k] for k, a in rows), ZERO)
        delta = amount - billed
        if delta != 0:
            new.append(_Row.of(adj.clinic_id, account, "responsibility", delta, day_of(now), actor, now,
                               clm01=adj.clm01, reference=f"remit:{adj.remit_id}", source=source,
                               note=note if rows else None))  # fmt: skip
        return balance + delta

    def _charge_statements(self, cur: Any, admitted: Sequence[Any], actor: str, now: float) -> None:
        """Post the self-pay statements just stored (``created``; :meth:`_charge_statement`)."""
        for a in admitted:
            if a.kind == "statements" and a.known is not None and a.known.status == "created":
                self._charge_statement(cur, a.clinic_id, a.new.statement_id, str(a.new.body), f"message:{a.message_id}",
                                       actor, now)  # fmt: skip

    def _restate(self, cur: Any, row: int, actor: str, now: float) -> None:
        """An operator released changed content for statement ``row``
        (``statements resolve --replace``): its account rows follow it."""
        cur.execute(f"SELECT statement, {ROW_KEY['statements']} FROM statements WHERE id = ?", (row,))
        body, clinic, sid, version = cur.fetchone()
        text = self.open("statements.statement", body, ref(clinic, sid, version))
        self._charge_statement(cur, clinic, sid, text, f"operator:{actor}", actor, now, version)

    def _charge_statement(
        self, cur: Any, clinic: str, sid: str, body: str, source: str, actor: str, now: float, version: int = 1
    ) -> None:
        """A self-pay statement's rows: a ``charge`` per line the patient owes
        now (not insurance pending), billed on the statement's date, and what
        they paid at the visit. A statement charged before (a replaced
        version) gets the differences only; the same content again, nothing."""
        data = json.loads(body)
        account, dated = data.get("account_number"), data.get("statement_date")
        if not account or not dated:  # not a patient statement (nothing owed on an account)
            return
        on = date.fromisoformat(dated)
        due = [(i, ln) for i, ln in enumerate(data.get("lines") or [], 1) if not ln.get("insurance_pending")]
        charged = sum((Decimal(str(ln["charge"])) for _, ln in due), ZERO)
        paid = sum((Decimal(str(ln.get("patient_paid", "0"))) for _, ln in due), ZERO)
        cur.execute("SELECT kind, amount, source FROM account_ledger WHERE clinic_id = ? AND statement_id = ? "
                    "UNION ALL SELECT kind, amount, source FROM account_ledger WHERE clinic_id = ? "
                    "AND statement_id IS NULL AND clm01 IS NULL AND source = ? AND reference = ?",
                    (clinic, sid, clinic, VISIT, sid))  # fmt: skip
        before = cur.fetchall()
        new: list[tuple[Any, ...]] = []
        if not before:
            new += [_Row.of(clinic, account, "charge", Decimal(str(ln["charge"])), on, actor, now, statement_id=sid,
                            line=i, source=source, billed_on=on, billed_by=sid) for i, ln in due]  # fmt: skip
            if paid > 0:
                self._apply(clinic, account, None, sid, paid, charged, on, actor, now, reference=sid, method=VISIT,
                            source=VISIT, new=new)  # fmt: skip
        else:
            note = f"statement version {version}: the difference"
            more = charged - sum((Decimal(a) for k, a, _ in before if k == "charge"), ZERO)
            if more:
                new.append(_Row.of(clinic, account, "charge", more, on, actor, now, statement_id=sid, source=source,
                                   note=note, billed_on=on, billed_by=sid))  # fmt: skip
            more_paid = paid - sum((Decimal(a) for k, a, src in before if k == "payment" and src == VISIT), ZERO)
            if more_paid:
                new.append(_Row.of(clinic, account, "payment", more_paid, on, actor, now, statement_id=sid,
                                   reference=sid, method=VISIT, source=VISIT, note=note))  # fmt: skip
        self._insert_rows(cur, new)

    @staticmethod
    def _apply(
        clinic: str, account: str, clm01: str | None, statement_id: str | None, amount: Decimal, balance: Decimal,
        on: date, actor: str, now: float, *, reference: str, method: str, source: str, new: list[tuple[Any, ...]],
    ) -> Decimal:  # fmt: skip
        """Rows (appended to ``new``) paying ``amount`` toward an item whose
        patient balance is ``balance``: up to that balance on the item, the
        rest a credit on the account. What went to the item."""
        applied = min(amount, max(balance, ZERO))
        if applied > 0:
            new.append(_Row.of(clinic, account, "payment", applied, on, actor, now, clm01=clm01,
                               statement_id=statement_id, reference=reference, method=method,
                               source=source))  # fmt: skip
        if amount - applied > 0:
            what = f"claim {clm01}" if clm01 else f"statement {statement_id}" if statement_id else "the account"
            new.append(_Row.of(clinic, account, "payment", amount - applied, on, actor, now, reference=reference,
                               method=method, source=source,
                               note=f"paid above the patient balance of {what}: a credit"))  # fmt: skip
        return applied

    @staticmethod
    def _insert_rows(cur: Any, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            cur.executemany(_INSERT, rows)

    def _claim_account(self, cur: Any, clinic: str, clm01: str, row: int) -> str:
        """The account a claim is owed on: its rows' ``account`` (stored with
        the claim); for a claim stored before accounts, its patient id."""
        return self._claim_accounts(cur, clinic, {clm01: row})[clm01]

    def _claim_accounts(self, cur: Any, clinic: str, rows: dict[str, int]) -> dict[str, str]:
        """:meth:`_claim_account` of claims CLM01 → submission row, a query per chunk."""
        out: dict[str, str] = {}
        for part in chunks(sorted(rows)):
            cur.execute(f"SELECT clm01, account FROM claims WHERE clinic_id = ? AND clm01 IN ({marks(len(part))}) "
                        "AND account IS NOT NULL ORDER BY clm01, payer_seq, version", (clinic, *part))  # fmt: skip
            for clm01, account in cur.fetchall():
                out.setdefault(clm01, str(account))
        before = sorted({rows[c] for c in rows if c not in out})  # claims stored before accounts: their patient id
        for part in chunks(before):
            cur.execute(f"SELECT clm01, claim, {ROW_KEY['claims']} FROM claims WHERE id IN ({marks(len(part))})", part)
            for clm01, body, *key in cur.fetchall():
                patient = json.loads(self.open("claims.claim", body, ref(*key))).get("patient") or {}
                out[clm01] = str(patient.get("id") or clm01)
        return out

    def _patient_balance(self, cur: Any, clinic: str, clm01: str) -> Decimal:
        """A claim's patient balance: Σ of its account ledger rows."""
        return sum((Decimal(a) * SIGN[k] for k, a in self._claim_rows(cur, clinic, clm01)), ZERO)

    def _settled(self, cur: Any, clinic: str, clm01: str) -> str:
        """The status of a claim its payers are done with: ``patient_due``
        while its patient balance is above zero, else ``closed``."""
        return "patient_due" if self._patient_balance(cur, clinic, clm01) > 0 else "closed"

    def _lock_accounts(self, cur: Any, accounts: Iterable[tuple[str, str]], also: Iterable[str] = ()) -> None:
        """Serialise writers of ``accounts`` (clinic, account) until the commit:
        a lock per account (and the ``also`` keys), then the claim locks
        posting takes (:func:`gateway.store.sql_remits._claim_lock`) for every
        claim of those accounts, so an 835 posting to one of them waits (posting
        never takes account locks: no deadlock)."""
        accounts = sorted(set(accounts))
        self._lock_keys(cur, sorted({f"account|{c}|{a}" for c, a in accounts} | set(also)))
        claims: set[tuple[str, str]] = set()
        for clinic, account in accounts:
            for table in ("claims", "account_ledger"):
                cur.execute(f"SELECT DISTINCT clm01 FROM {table} WHERE clinic_id = ? AND account = ?",
                            (clinic, account))  # fmt: skip
                claims |= {(clinic, r[0]) for r in cur.fetchall() if r[0]}
        self._lock_keys(cur, sorted({_claim_lock(c, k) for c, k in claims}))

    def _settle_claim(self, cur: Any, row: int, balance: Decimal, source: str, actor: str, now: float) -> bool:
        """Submission ``row`` is ``patient_due`` while the patient balance is
        above zero, else ``closed`` (an event when it moves). Whether it closed now."""
        return row in self._settle_claims(cur, {row: balance}, source, actor, now)

    def _settle_claims(
        self, cur: Any, balances: dict[int, Decimal], source: str, actor: str, now: float
    ) -> set[int]:  # fmt: skip
        """:meth:`_settle_claim` for each submission row → patient balance; the rows closed now."""
        current: dict[int, str] = {}
        for part in chunks(sorted(balances)):
            cur.execute(f"SELECT id, status FROM claims WHERE id IN ({marks(len(part))}){self._lock_clause}", part)
            current.update((int(i), st) for i, st in cur.fetchall())
        moves = []
        for row, balance in balances.items():
            want = "patient_due" if balance > 0 else "closed"
            if current[row] != want:
                moves.append((row, want, balance))
        cur.executemany("UPDATE claims SET status = ?, updated_at = ? WHERE id = ?", [(w, now, r) for r, w, _ in moves])
        self._events(cur, "claims", [(r, w, w, source, actor, {"patient_balance": _money(b)}) for r, w, b in moves],
                     now)  # fmt: skip
        return {r for r, w, _ in moves if w == "closed"}

    def _close_paid(self, cur: Any, clinic: str, balances: dict[str, Decimal], source: str, actor: str,
                    now: float) -> list[tuple[str, str]]:  # fmt: skip
        """Close the ``patient_due`` claims among ``balances`` (CLM01 → patient
        balance) whose balance is no longer above zero."""
        done = [c for c, b in balances.items() if b <= 0]
        closed = []
        for part in chunks(sorted(done)):
            cur.execute(
                f"SELECT id, clm01 FROM claims WHERE clinic_id = ? AND status = 'patient_due' "
                f"AND clm01 IN ({marks(len(part))})",
                (clinic, *part),
            )
            for row, clm01 in cur.fetchall():
                if self._settle_claim(cur, int(row), self._patient_balance(cur, clinic, clm01), source, actor, now):
                    closed.append((clinic, clm01))
        return closed

    # -- reading --------------------------------------------------------------------------
    def _entries(self, cur: Any, where: str, args: Sequence[Any]) -> list[AccountEntry]:
        cur.execute(f"SELECT {_COLUMNS} FROM account_ledger WHERE {where} ORDER BY id", args)
        return [_entry(r) for r in cur.fetchall()]

    def account_of(self, clinic_id: str, clm01: str) -> str | None:
        with self.read() as cur:
            return self._account_of(cur, clinic_id, clm01)

    @staticmethod
    def _account_of(cur: Any, clinic_id: str, clm01: str) -> str | None:
        cur.execute(
            "SELECT account FROM claims WHERE clinic_id = ? AND clm01 = ? AND account IS NOT NULL LIMIT 1",
            (clinic_id, clm01),
        )
        found = cur.fetchone()
        if found is None:
            cur.execute("SELECT account FROM account_ledger WHERE clinic_id = ? AND clm01 = ? LIMIT 1",
                        (clinic_id, clm01))  # fmt: skip
            found = cur.fetchone()
        return str(found[0]) if found else None

    def claim_view(self, clinic_id: str, clm01: str) -> AccountItem | None:
        with self.read() as cur:
            rows = self._entries(cur, "clinic_id = ? AND clm01 = ?", (clinic_id, clm01))
            items = self._claim_items(cur, clinic_id, [clm01], {clm01: rows}, _end_of(_FOREVER))
        item = items[0]
        return None if item.status is None and not rows else item

    def account(self, clinic_id: str, account: str, as_of: date | None = None) -> AccountView | None:
        as_of = as_of or day_of(time.time())
        with self.read() as cur:
            return self._view(cur, clinic_id, account, as_of)

    def _view(self, cur: Any, clinic_id: str, account: str, as_of: date) -> AccountView | None:
        entries = [e for e in self._entries(cur, "clinic_id = ? AND account = ?", (clinic_id, account))
                   if e.on <= as_of]  # fmt: skip
        cur.execute(
            "SELECT DISTINCT clm01 FROM claims WHERE clinic_id = ? AND account = ? AND created_at < ?",
            (clinic_id, account, _end_of(as_of)),
        )
        claims = {r[0] for r in cur.fetchall()} | {e.clm01 for e in entries if e.clm01}
        if not claims and not entries:
            return None
        by_item: dict[str, list[AccountEntry]] = defaultdict(list)
        for e in entries:
            if e.item is not None:
                by_item[e.item].append(e)
        items = self._claim_items(cur, clinic_id, sorted(claims), by_item, _end_of(as_of))
        selfpay = sorted({e.statement_id for e in entries if e.statement_id and not e.clm01})
        items += self._self_pay_items(cur, clinic_id, selfpay, by_item)
        items.sort(key=lambda i: (i.service_date or date.max, i.key))
        return AccountView(clinic_id, account, as_of, items, entries, self._sent(cur, clinic_id, entries))

    def _sent(self, cur: Any, clinic_id: str, entries: list[AccountEntry]) -> list[StatementSent]:
        """The statements that billed an account (first-billed marks, self-pay statements)."""
        first: dict[str, date | None] = {}
        for e in entries:
            if e.billed_by:
                on = first.get(e.billed_by)
                first[e.billed_by] = min(on, e.billed_on) if on and e.billed_on else (on or e.billed_on)
        status: dict[str, str] = {}
        for part in chunks(sorted(first)):
            cur.execute(
                f"SELECT statement_id, version, status FROM statements WHERE clinic_id = ? "
                f"AND statement_id IN ({marks(len(part))}) ORDER BY version",
                (clinic_id, *part),
            )
            status.update({sid: st for sid, _, st in cur.fetchall()})
        return sorted((StatementSent(sid, on, status.get(sid)) for sid, on in first.items()),
                      key=lambda s: (s.on or date.min, s.statement_id))  # fmt: skip

    @staticmethod
    def _patient(rows: Iterable[AccountEntry]) -> tuple[Decimal, Decimal, Decimal, Decimal, date | None]:
        """(billed, paid, written off, balance, first billed) of an item's account rows."""
        billed = paid = written = balance = ZERO
        first: date | None = None
        for e in rows:
            balance += e.signed
            if e.kind in ("responsibility", "charge"):
                billed += e.signed
                if e.billed_on is not None:
                    first = min(first, e.billed_on) if first else e.billed_on
            elif e.kind == "write_off":
                written += e.amount
            else:
                paid -= e.signed
        return billed, paid, written, balance, first

    def _claim_items(
        self, cur: Any, clinic: str, clm01s: Sequence[str], by_item: dict[str, list[AccountEntry]], before: float
    ) -> list[AccountItem]:
        """The whole-claim view of each claim (every payer place) with its patient rows."""
        subs: dict[str, dict[int, tuple[int, str, str, Any, list[Any]]]] = defaultdict(dict)
        ledgers: dict[str, dict[int, list[tuple[str, str | None, str | None, Decimal, Any]]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for part in chunks(list(clm01s)):
            cur.execute(
                f"SELECT clm01, payer_seq, version, status, total_charge, claim, {ROW_KEY['claims']} FROM claims "
                f"WHERE clinic_id = ? AND created_at < ? AND clm01 IN ({marks(len(part))})",
                (clinic, before, *part),
            )
            for clm01, seq, version, status, total, body, *key in cur.fetchall():
                if status in _NOT_AT_PAYER:
                    continue
                held = subs[clm01].get(int(seq))
                if held is None or int(version) > held[0]:
                    subs[clm01][int(seq)] = (int(version), status, total, body, key)
            cur.execute(
                "SELECT clm01, payer_seq, kind, group_code, reason, amount, remit_id FROM ledger "
                f"WHERE clinic_id = ? AND at < ? AND clm01 IN ({marks(len(part))}) ORDER BY id",
                (clinic, before, *part),
            )
            for clm01, seq, kind, g, r, amount, remit in cur.fetchall():
                ledgers[clm01][int(seq)].append((kind, g, r, Decimal(amount), remit))
        codes = shipped_codes()
        out = []
        for clm01 in clm01s:
            places = subs.get(clm01) or {}
            billed, paid, written, balance, first = self._patient(by_item.get(clm01, []))
            if not places:  # only its account rows are left (the claim itself is not at a payer)
                out.append(AccountItem("claim", clm01, None, "", None, billed, ZERO, ZERO, ZERO, billed, paid,
                                       written, balance, first))  # fmt: skip
                continue
            money = {seq: _place_money(places[seq][2], ledgers[clm01].get(seq, [])) for seq in places}
            first_seq, latest = min(places), max(places)
            answered = [seq for seq in places if money[seq][4]]
            last = max(answered) if answered else None
            charge = money[first_seq][0]
            insurance = sum((m[1] for m in money.values()), ZERO)
            pending = ZERO if places[latest][1] == "voided" else money[latest][2]
            if last is not None and last == latest:
                pending += max(money[last][3] - billed, ZERO)  # left to a next payer not billed yet (crossover)
            adjusted = charge - insurance - pending - billed
            detail = tuple(
                ItemAdjustment(seq, g or "OA", r or "", a, codes.plain(g or "OA", r or ""))
                for seq in sorted(money)
                for (g, r), a in money[seq][5].items()
                if a != 0
            )
            service, description = _claim_summary(self.open("claims.claim", places[first_seq][3],
                                                            ref(*places[first_seq][4])))  # fmt: skip
            out.append(AccountItem("claim", clm01, service, description, places[latest][1], charge, insurance,
                                   adjusted + written, pending, billed, paid, written, balance, first, detail,
                                   last))  # fmt: skip
        return out

    def _self_pay_items(
        self, cur: Any, clinic: str, statement_ids: Sequence[str], by_item: dict[str, list[AccountEntry]]
    ) -> list[AccountItem]:
        """Each self-pay statement's visit: its charges and the patient's rows."""
        bodies: dict[str, tuple[int, str, Any, list[Any]]] = {}
        for part in chunks(list(statement_ids)):
            cur.execute(
                f"SELECT statement_id, version, status, statement, {ROW_KEY['statements']} FROM statements "
                f"WHERE clinic_id = ? AND statement_id IN ({marks(len(part))})",
                (clinic, *part),
            )
            for sid, version, status, body, *key in cur.fetchall():
                if sid not in bodies or int(version) > bodies[sid][0]:
                    bodies[sid] = (int(version), status, body, key)
        out = []
        for sid in statement_ids:
            billed, paid, written, balance, first = self._patient(by_item.get(sid, []))
            service, description = None, "Self-pay visit"
            lines_of = {e.line for e in by_item.get(sid, []) if e.kind == "charge"}
            if sid in bodies:
                _, status, body, key = bodies[sid]
                lines = json.loads(self.open("statements.statement", body, ref(*key))).get("lines") or []
                mine = [ln for i, ln in enumerate(lines, 1) if i in lines_of] or lines
                service, description = _summary(mine)
            out.append(AccountItem("self_pay", sid, service, description, None, billed, ZERO, written, ZERO, billed,
                                   paid, written, balance, first))  # fmt: skip
        return out

    def accounts_due(self, clinic_id: str | None, as_of: date | None = None) -> list[AccountDue]:
        as_of = as_of or day_of(time.time())
        out = []
        for (clinic, account), rows in self._by_account(clinic_id, as_of).items():
            balance = sum((e.signed for e in rows), ZERO)
            if balance <= 0:
                continue
            owed = [e for e in rows if e.kind in ("responsibility", "charge") and e.amount > 0]
            billed = [e.billed_on for e in owed if e.billed_on is not None]
            out.append(AccountDue(clinic, account, balance, min(billed) if billed else None,
                                  any(e.billed_on is None for e in owed), max(e.on for e in rows)))  # fmt: skip
        return out

    def credits(self, clinic_id: str | None = None) -> list[AccountCredit]:
        out = []
        for (clinic, account), rows in self._by_account(clinic_id, None).items():
            balance = sum((e.signed for e in rows), ZERO)
            if balance < 0:
                out.append(AccountCredit(clinic, account, -balance, max(e.on for e in rows)))
        return out

    def _by_account(self, clinic_id: str | None, as_of: date | None) -> dict[tuple[str, str], list[AccountEntry]]:
        """Every account's rows (dated on or before ``as_of``), by clinic and account."""
        with self.read() as cur:
            rows = self._entries(cur, "clinic_id = ?", (clinic_id,)) if clinic_id else self._entries(cur, "1 = 1", ())
        out: dict[tuple[str, str], list[AccountEntry]] = defaultdict(list)
        for e in rows:
            if as_of is None or e.on <= as_of:
                out[(e.clinic_id, e.account)].append(e)
        return dict(sorted(out.items()))

    # -- operations ------------------------------------------------------------------------
    def post_payments(self, payments: Sequence[PatientPayment], actor: str) -> PaymentImport:
        now = time.time()
        with self.write() as cur:
            self._lock_accounts(cur, {(p.clinic_id, p.account) for p in payments},
                                {f"payment|{p.clinic_id}|{p.reference}" for p in payments})  # fmt: skip
            self._check_payments(cur, payments)
            posted_before: set[tuple[str, str]] = set()
            for clinic in sorted({p.clinic_id for p in payments}):
                refs = sorted({p.reference for p in payments if p.clinic_id == clinic})
                for part in chunks(refs):
                    cur.execute(
                        "SELECT DISTINCT reference FROM account_ledger WHERE clinic_id = ? AND kind = 'payment' "
                        f"AND source = ? AND reference IN ({marks(len(part))})",
                        (clinic, IMPORT, *part),
                    )
                    posted_before |= {(clinic, r[0]) for r in cur.fetchall()}
            duplicates = [p for p in payments if (p.clinic_id, p.reference) in posted_before]
            todo = [p for p in payments if (p.clinic_id, p.reference) not in posted_before]
            applied, new, touched = self._apply_payments(cur, todo, actor, now)
            self._insert_rows(cur, new)
            closed = []
            for clinic, balances in sorted(touched.items()):
                closed += self._close_paid(cur, clinic, balances, IMPORT, actor, now)
            if todo or duplicates:
                self._audit(cur, None, actor, "payments-import", {
                    "clinics": sorted({p.clinic_id for p in payments}), "posted": len(todo),
                    "amount": _money(sum((p.amount for p in todo), ZERO)),
                    "duplicates": [p.reference for p in duplicates], "closed": [c for _, c in closed],
                })  # fmt: skip
        return PaymentImport(applied, duplicates, closed)

    def _check_payments(self, cur: Any, payments: Sequence[PatientPayment]) -> None:
        """Raise :class:`AccountError` naming every row whose account or claim the clinic does not have."""
        problems = []
        seen: dict[tuple[str, str], int] = {}
        known: dict[tuple[str, str], bool] = {}
        for p in payments:
            if (p.clinic_id, p.reference) in seen:
                problems.append(f"line {p.line}: reference {p.reference} repeats line {seen[p.clinic_id, p.reference]}")
            seen.setdefault((p.clinic_id, p.reference), p.line)
            if (p.clinic_id, p.account) not in known:
                cur.execute(
                    "SELECT 1 FROM claims WHERE clinic_id = ? AND account = ? LIMIT 1", (p.clinic_id, p.account)
                )
                found = cur.fetchone() is not None
                if not found:
                    cur.execute("SELECT 1 FROM account_ledger WHERE clinic_id = ? AND account = ? LIMIT 1",
                                (p.clinic_id, p.account))  # fmt: skip
                    found = cur.fetchone() is not None
                known[(p.clinic_id, p.account)] = found
            if not known[(p.clinic_id, p.account)]:
                problems.append(f"line {p.line}: clinic {p.clinic_id} has no account {p.account}")
            elif p.claim is not None:
                owner = self._account_of(cur, p.clinic_id, p.claim)
                if owner is None:
                    problems.append(f"line {p.line}: clinic {p.clinic_id} has no claim {p.claim}")
                elif owner != p.account:
                    problems.append(f"line {p.line}: claim {p.claim} is not on account {p.account}")
        if problems:
            raise AccountError(problems)

    def _apply_payments(
        self, cur: Any, payments: Sequence[PatientPayment], actor: str, now: float
    ) -> tuple[list[Applied], list[tuple[Any, ...]], dict[str, dict[str, Decimal]]]:
        """Rows applying ``payments`` (in order) to their accounts' items:
        the named claim, else the oldest item with a balance first; the rest a
        credit. Also each clinic's touched claims with their balances after."""
        items: dict[tuple[str, str], list[AccountItem]] = {}
        balances: dict[tuple[str, str], dict[str, Decimal]] = {}
        new: list[tuple[Any, ...]] = []
        out = []
        touched: dict[str, dict[str, Decimal]] = defaultdict(dict)
        for p in payments:
            key = (p.clinic_id, p.account)
            if key not in items:
                view = self._view(cur, p.clinic_id, p.account, _FOREVER)
                items[key] = view.items if view else []
                balances[key] = {i.key: i.patient_balance for i in items[key]}
            order = [i for i in items[key] if p.claim in (None, i.key)]
            left, parts = p.amount, []
            for item in order:
                due = balances[key][item.key]
                share = min(left, max(due, ZERO))
                if share <= 0:
                    continue
                clm01, sid = (item.key, None) if item.kind == "claim" else (None, item.key)
                new.append(_Row.of(p.clinic_id, p.account, "payment", share, p.on, actor, now, clm01=clm01,
                                   statement_id=sid, reference=p.reference, method=p.method,
                                   source=IMPORT))  # fmt: skip
                balances[key][item.key] = due - share
                if item.kind == "claim":
                    touched[p.clinic_id][item.key] = due - share
                parts.append((item.key, share))
                left -= share
            if left > 0:
                new.append(_Row.of(p.clinic_id, p.account, "payment", left, p.on, actor, now, reference=p.reference,
                                   method=p.method, source=IMPORT,
                                   note="paid above the account's balance: a credit"))  # fmt: skip
                parts.append((None, left))
            out.append(Applied(p, tuple(parts)))
        return out, new, touched

    def write_off_small(
        self, clinic_id: str, threshold: Decimal, actor: str, as_of: date | None = None
    ) -> list[WriteOff]:
        if threshold <= 0:
            return []
        as_of = as_of or day_of(time.time())
        now = time.time()
        candidates = [(c, a) for (c, a), rows in self._by_account(clinic_id, as_of).items()
                      if 0 < sum((e.signed for e in rows), ZERO) <= threshold]  # fmt: skip
        out: list[WriteOff] = []
        if not candidates:
            return out
        with self.write() as cur:
            self._lock_accounts(cur, candidates)
            touched: dict[str, Decimal] = {}
            for clinic, account in candidates:
                view = self._view(cur, clinic, account, as_of)
                if view is None or not 0 < view.balance <= threshold:  # paid meanwhile
                    continue
                left, new = view.balance, []
                for item in view.items:
                    share = min(left, max(item.patient_balance, ZERO))
                    if share <= 0:
                        continue
                    clm01, sid = (item.key, None) if item.kind == "claim" else (None, item.key)
                    new.append(_Row.of(clinic, account, "write_off", share, as_of, actor, now, clm01=clm01,
                                       statement_id=sid, source="write-off-small",
                                       note=f"small balance at or under {_money(threshold)}"))  # fmt: skip
                    out.append(WriteOff(clinic, account, item.key, share))
                    if item.kind == "claim":
                        touched[item.key] = item.patient_balance - share
                    left -= share
                if left > 0:  # owed on the account itself (a refund paid out above its credit)
                    new.append(_Row.of(clinic, account, "write_off", left, as_of, actor, now, source="write-off-small",
                                       note=f"small balance at or under {_money(threshold)}"))  # fmt: skip
                    out.append(WriteOff(clinic, account, None, left))
                self._insert_rows(cur, new)
                self._audit(cur, None, actor, "account-write-off", {
                    "clinic": clinic, "account_number": account, "amount": _money(view.balance),
                    "threshold": _money(threshold),
                })  # fmt: skip
            self._close_paid(cur, clinic_id, touched, "write-off-small", actor, now)
        return out

    def mark_billed(self, clinic_id: str, account: str, items: Sequence[str], statement_id: str, on: date) -> int:
        n = 0
        with self.write() as cur:
            for part in chunks(sorted(set(items))):
                m = marks(len(part))
                cur.execute(
                    "UPDATE account_ledger SET billed_on = ?, billed_by = ? WHERE clinic_id = ? AND account = ? "
                    "AND billed_on IS NULL AND kind IN ('responsibility', 'charge') "
                    f"AND (clm01 IN ({m}) OR statement_id IN ({m}))",
                    (on.isoformat(), statement_id, clinic_id, account, *part, *part),
                )
                n += max(cur.rowcount, 0)
        return n


def _place_money(
    total_charge: str, rows: list[tuple[str, str | None, str | None, Decimal, Any]]
) -> tuple[Decimal, Decimal, Decimal, Decimal, bool, dict[tuple[str | None, str | None], Decimal]]:
    """One payer place's (charge, paid, balance, PR, answered, adjustments by
    group and reason) from its ledger rows (its total charge before any)."""
    if not rows:
        charge = Decimal(total_charge)
        return charge, ZERO, charge, ZERO, False, {}
    charge = paid = adjusted = patient = ZERO
    answered = False
    adjustments: dict[tuple[str | None, str | None], Decimal] = defaultdict(lambda: ZERO)
    for kind, g, r, amount, remit in rows:
        answered = answered or remit is not None
        if kind == "charge":
            charge += amount
        elif kind == "payment":
            paid += amount
        elif kind in _ADJUSTING:
            adjusted += amount
            if kind != "prior_payer":
                adjustments[(g, r)] += amount
            if g == "PR" and kind == "adjustment":
                patient += amount
    return charge, paid, charge - paid - adjusted, patient, answered, dict(adjustments)


def _summary(lines: list[dict[str, Any]]) -> tuple[date | None, str]:
    """The first service date and a description of a claim's or statement's lines."""
    if not lines:
        return None, ""
    dates = [date.fromisoformat(str(ln["service_date"])) for ln in lines if ln.get("service_date")]
    first = lines[0]
    text = str(first.get("description") or first.get("procedure_code") or "Service")
    if len(lines) > 1:
        text += f" and {len(lines) - 1} more"
    return (min(dates) if dates else None), text


def _claim_summary(body: str) -> tuple[date | None, str]:
    return _summary(json.loads(body).get("service_lines") or [])
