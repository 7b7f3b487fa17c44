"""Statement runs: the statement cycle applied to every guarantor account of
a clinic on a date, from ``gateway statements run`` or the daemon's daily
run (:class:`StatementScheduler`).

First the clinic's small balances are written off (audited, never mailed:
``AccountStore.write_off_small``). Then for each account with a balance or
a credit (``AccountStore.accounts_due`` and ``credits``), the run builds the
account's statement from the account ledger (:func:`account_statement`:
every insurer's payment, the patient's share in plain words, what is still
pending), decides with the clinic's cycle (:func:`gateway.cycles.decide`),
records the balances it bills as first billed today
(``AccountStore.mark_billed``: statement aging counts from it), then renders
what is due with the renderer of the clinic's ``statements_to`` destination
(final notices too) and the accounts sent to collections with the renderer
of the cycle's ``collections_to`` destination (``collections-csv``: the
agency's export). Documents and the cycle rows go into the store in one
transaction (:meth:`gateway.store.cycles.CycleStore.record_cycle`): the
outbox delivers them like every document, and a run done again (a crash, a
second run that day) adds nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from gateway import logging as glog
from gateway.app import Gateway
from gateway.claims import DEFAULT_TERMS_DAYS
from gateway.cycles import (
    LedgerMismatch,
    account_lines,
    billed_items,
    cycle_statement,
    decide,
    facts_of,
    finish,
    statement_cycle,
)
from gateway.delivery.batcher import link_items
from gateway.documents import RenderContext
from gateway.model import Guarantor, Patient, Statement
from gateway.store import Store
from gateway.store.cycles import CycleEntry

log = glog.get("statements")


class RunError(ValueError):
    """A clinic's run cannot start (no destination, a bad cycle setting): the
    message names the clinic and the configuration key."""


@dataclass
class AccountOutcome:
    """What the run did for one account (no patient data)."""

    account: str
    action: str
    reason: str
    total_due: Decimal
    dunning_level: int = 0
    statement_id: str | None = None
    document: str | None = None


@dataclass
class ClinicRun:
    """One clinic's run on ``run_date``: each account's outcome, the documents
    stored in the outbox, and ``skipped`` when the run was already done."""

    clinic_id: str
    run_date: date
    accounts: list[AccountOutcome] = field(default_factory=list)
    documents: list[tuple[int, str]] = field(default_factory=list)
    skipped: str | None = None

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for a in self.accounts:
            out[a.action] = out.get(a.action, 0) + 1
        return out


def _parties(store: Store, clinic_id: str, view: Any) -> tuple[Patient, Guarantor] | None:
    claims = [i.key for i in view.items if i.kind == "claim"]
    visits = [i.key for i in view.items if i.kind != "claim"]
    found = store.account_parties(clinic_id, claims[-200:], visits[-200:])  # the newest name the party
    if not found:
        return None
    return Patient.model_validate(found["patient"]), Guarantor.model_validate(found["guarantor"])


def account_statement(store: Store, clinic_id: str, account: str, as_of: date, terms: int) -> Statement | None:
    """An account's statement as of ``as_of`` from the account ledger, before
    the cycle's decision (None: no such account). Raises
    :class:`gateway.cycles.LedgerMismatch` when it would disagree with the
    ledger, and :class:`RunError` when no stored encounter names the guarantor."""
    view = store.account(clinic_id, account, as_of)
    if view is None:
        return None
    paid_by = store.payers_paid(clinic_id, [i.key for i in view.items if i.kind == "claim"])
    lines = account_lines(view.items, paid_by, as_of)
    parties = _parties(store, clinic_id, view)
    if parties is None:
        raise RunError(f"account {account}: no stored encounter or statement names its guarantor")
    st = cycle_statement(clinic_id, account, *parties, lines, as_of, terms, -view.unapplied)
    held = sum((i.patient_balance for i in view.items if i.pending > 0), Decimal("0.00"))
    if st.total_due + held != view.balance:
        raise LedgerMismatch(f"account {account}: the statement's total {st.total_due} is not the ledger's balance")
    return st


def run_clinic(
    gw: Gateway,
    store: Store,
    clinic_id: str,
    as_of: date,
    actor: str,
    owner: str | None = None,
    stale_after: float = 3600.0,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ClinicRun:
    """Run the clinic's statement cycle for ``as_of`` (see the module doc).
    With ``owner`` (the daemon), a run the store records as done — or as
    running under another live owner — is skipped."""
    clinic = gw.clinics.get(clinic_id)
    if clinic is None:
        raise RunError(f"clinic {clinic_id} is not configured")
    policy = statement_cycle(gw.host, clinic)
    dest = clinic.config.statements_to
    if not dest or dest not in gw.config.destinations:
        raise RunError(f"clinic {clinic_id}: statements_to names no configured destination")
    if policy.collections_to is not None and policy.collections_to not in gw.config.destinations:
        raise RunError(
            f"clinic {clinic_id}: settings.statements.cycle.collections_to '{policy.collections_to}' "
            "is not a configured destination"
        )
    result = ClinicRun(clinic_id, as_of)
    if owner is not None and not store.begin_statement_run(clinic_id, as_of, owner, stale_after):
        result.skipped = "already run"
        return result
    terms = gw.pipeline.terms_days.get(clinic_id, DEFAULT_TERMS_DAYS)
    to_send: list[tuple[Statement, AccountOutcome]] = []
    to_collect: list[tuple[Statement, AccountOutcome]] = []
    if policy.small_balance > 0:  # small balances are written off (audited), never mailed
        for w in store.write_off_small(clinic_id, policy.small_balance, actor, as_of):
            result.accounts.append(AccountOutcome(w.account, "write_off", f"item {w.item}: small balance", w.amount))
    accounts = {a.account for a in store.accounts_due(clinic_id, as_of)} | {a.account for a in store.credits(clinic_id)}
    for account in sorted(accounts):
        try:
            draft = account_statement(store, clinic_id, account, as_of, terms)
        except (LedgerMismatch, RunError) as exc:
            glog.event(log, "statements.account_failed", logging.ERROR, clinic=clinic_id, error=str(exc))
            result.accounts.append(AccountOutcome(account, "failed", str(exc), Decimal("0.00")))
            continue
        if draft is None:
            continue
        last = store.last_cycle(clinic_id, account)
        facts = facts_of(draft, as_of)
        decision = decide(facts, last, policy, as_of)
        outcome = AccountOutcome(account, decision.action, decision.reason, facts.due, decision.dunning_level)
        result.accounts.append(outcome)
        if decision.action in ("statement", "final_notice", "collections"):
            st = finish(draft, decision)
            if decision.action == "collections":
                assert last is not None
                st = st.model_copy(update={"final_notice_on": last.final_notice_on})
            else:  # aging counts from the first statement that billed each balance
                store.mark_billed(clinic_id, account, billed_items(st), st.id, as_of)
            outcome.statement_id = st.id
            (to_collect if decision.action == "collections" else to_send).append((st, outcome))
    ctx = RenderContext(created=clock(), config=gw.config, control_numbers=store.control_numbers(), clinics=gw.clinics)
    docs = []
    for destination, group in ((dest, to_send), (policy.collections_to, to_collect)):
        if not group:
            continue
        assert destination is not None  # collections only with collections_to (StatementCycle requires it)
        rendered = gw.renderer(destination).render([s for s, _ in group], _with_settings(ctx, gw, destination))
        links = link_items("statements", [(0, 0, s) for s, _ in group], rendered)
        run_entries = []
        for (st, outcome), i in zip(group, links, strict=True):
            outcome.document = rendered[i].name
            run_entries.append(
                CycleEntry(st.account_number, st.id, st.notice, st.total_due, facts_of(st, as_of).content_hash,
                           outcome.reason, st.dunning_level, i)
            )  # fmt: skip
        docs += store.record_cycle(clinic_id, as_of, run_entries, rendered, destination, actor)
    result.documents = docs
    if owner is not None:
        store.finish_statement_run(clinic_id, as_of, owner, result.counts())
    glog.event(
        log, "statements.run", clinic=clinic_id, run_date=as_of.isoformat(), documents=len(docs), **result.counts()
    )
    return result


def _with_settings(ctx: RenderContext, gw: Gateway, destination: str) -> RenderContext:
    return RenderContext(
        created=ctx.created, config=ctx.config, control_numbers=ctx.control_numbers,
        settings=gw.format_settings.get(destination), clinics=ctx.clinics,
    )  # fmt: skip


def run_all(
    gw: Gateway, store: Store, as_of: date, actor: str, clinic_id: str | None = None, owner: str | None = None
) -> list[ClinicRun]:
    """Run every clinic (or ``clinic_id``) for ``as_of``."""
    ids = [clinic_id] if clinic_id else sorted(gw.clinics)
    return [run_clinic(gw, store, cid, as_of, actor, owner) for cid in ids]


class StatementScheduler:
    """The daemon's statement runs: every ``period`` seconds (default once an
    hour; the first look ``min(period, 30 s)`` after start), each clinic's run
    for today (UTC) unless the store records it done;
    a run interrupted by a crash is taken over once its ``running`` row is
    ``stale_after`` seconds old. Runs in a thread with its own store."""

    def __init__(
        self, gateway: Callable[[], Gateway], store: Store, owner: str, period: float = 3600.0,
        stale_after: float = 3600.0, today: Callable[[], date] = lambda: datetime.now(UTC).date(),
    ) -> None:  # fmt: skip
        self.gateway = gateway
        self.store = store
        self.owner = owner
        self.period = period
        self.stale_after = stale_after
        self.today = today
        self.stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> list[ClinicRun]:
        """Each clinic's run for today, unless done (a crashed holder's run is taken over)."""
        from gateway.delivery.outbox import dead_local_holder

        gw = self.gateway()
        day = self.today()
        out = []
        for cid in sorted(gw.clinics):
            try:
                held = [
                    r for r in self.store.statement_runs(cid, limit=5) if r.run_date == day and r.status == "running"
                ]
                stale = 0.0 if any(dead_local_holder(r.owner) for r in held) else self.stale_after
                run = run_clinic(gw, self.store, cid, day, "daemon", self.owner, stale)
            except Exception as exc:  # one clinic's problem never stops the others' runs
                glog.event(log, "statements.run_failed", logging.ERROR, clinic=cid, error=type(exc).__name__)
                continue
            out.append(run)
        return out

    def _loop(self) -> None:
        # the first look waits a little (at most 30 s): start-up work (the journal, workers) goes first
        if self.stop.wait(min(self.period, 30.0)):
            return
        while not self.stop.is_set():
            started = time.monotonic()
            self.tick()
            self.stop.wait(max(0.0, self.period - (time.monotonic() - started)))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="statements", daemon=True)
        self._thread.start()

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def close(self, timeout: float = 30.0) -> None:
        self.stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.store.close()


def outcome_json(run: ClinicRun) -> dict[str, Any]:
    """A run as JSON (ids, actions, amounts as two-decimal strings)."""
    return {
        "clinic": run.clinic_id,
        "run_date": run.run_date.isoformat(),
        "skipped": run.skipped,
        "counts": run.counts(),
        "documents": [{"outbox_id": i, "name": n} for i, n in run.documents],
        "accounts": [
            {"account": a.account, "action": a.action, "reason": a.reason, "total_due": f"{a.total_due:.2f}",
             "dunning_level": a.dunning_level, "statement_id": a.statement_id, "document": a.document}
            for a in run.accounts
        ],
    }  # fmt: skip
