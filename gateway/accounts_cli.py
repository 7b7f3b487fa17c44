"""Operator commands for the patient side of the ledger (docs/accounts.md):
``gateway payments import`` (lockbox, portal, front-desk payments),
``gateway accounts show|credits|write-off-small``.

Every command reads the deployment's store (``--config F``, ``--store``) and
has JSON output (``--json``). Amounts are strings with two decimals; output
carries clinic, account and claim ids, codes, amounts and dates — never a
name; the guarantor account number is under ``account_number``, a field
gateway/phi.py lists, so the console and the logs redact it for viewers.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

import click

from gateway.config import ConfigError, read_config
from gateway.daemon.cli import CONFIG, STORE, _actor, _open
from gateway.money import ZERO
from gateway.payments import read_payments
from gateway.remits_cli import AS_OF, iso, money
from gateway.store.accounts import AccountEntry, AccountError, AccountItem, AccountView, PaymentImport

JSON = click.option("--json", "as_json", is_flag=True, help="JSON (amounts as strings with two decimals).")


def _day(d: date | None) -> str | None:
    return d.isoformat() if d else None


def item_json(i: AccountItem) -> dict[str, Any]:
    """One claim (whole, every payer place) or self-pay visit of an account."""
    return {
        "item": i.key, "kind": i.kind, "status": i.status, "service_date": _day(i.service_date),
        "description": i.description, "charge": money(i.charge), "insurance_paid": money(i.insurance_paid),
        "adjustments": money(i.adjustments),
        "adjustment_detail": [{"payer_seq": a.payer_seq, "group": a.group, "reason": a.reason,
                               "amount": money(a.amount), "words": a.words} for a in i.adjustment_detail],
        "pending_at_insurer": money(i.pending), "patient_responsibility": money(i.patient_responsibility),
        "patient_paid": money(i.patient_paid), "written_off": money(i.written_off),
        "patient_balance": money(i.patient_balance), "first_billed": _day(i.first_billed),
        "last_payer_seq": i.last_payer_seq,
    }  # fmt: skip


def entry_json(e: AccountEntry) -> dict[str, Any]:
    return {"id": e.id, "on": e.on.isoformat(), "kind": e.kind, "amount": money(e.signed), "claim": e.clm01,
            "statement": e.statement_id, "reference": e.reference, "method": e.method, "source": e.source,
            "actor": e.actor, "note": e.note, "billed_on": _day(e.billed_on), "billed_by": e.billed_by,
            "at": iso(e.at)}  # fmt: skip


def view_json(v: AccountView) -> dict[str, Any]:
    """``accounts show --json``."""
    return {
        "clinic": v.clinic_id, "account_number": v.account, "as_of": v.as_of.isoformat(), "balance": money(v.balance),
        "due": money(v.due), "credit": money(v.credit), "pending_at_insurer": money(v.pending),
        "items": [item_json(i) for i in v.items],
        "statements": [{"statement": s.statement_id, "on": _day(s.on), "status": s.status} for s in v.statements],
        "payments": [entry_json(e) for e in v.payments], "ledger": [entry_json(e) for e in v.entries],
    }  # fmt: skip


def whole_claim_text(i: dict[str, Any]) -> str:
    """One line of ``claims show``: the whole claim (:func:`item_json`) across payer places and the patient's side."""
    return (f"  whole claim: insurance paid {i['insurance_paid']} (all payers)  adjustments {i['adjustments']}  "
            f"pending at insurer {i['pending_at_insurer']}  patient responsibility {i['patient_responsibility']}  "
            f"patient paid {i['patient_paid']}  patient balance {i['patient_balance']}")  # fmt: skip


def _clinic_ids(config: Path) -> list[str]:
    try:
        return [c.id for c in read_config(config).config.clinics]
    except ConfigError as exc:
        click.echo("configuration errors:\n" + "\n".join(f"  {p}" for p in exc.problems), err=True)
        sys.exit(2)


# -- payments ------------------------------------------------------------------------
def import_json(result: PaymentImport) -> dict[str, Any]:
    return {
        "posted": [{"line": a.payment.line, "clinic": a.payment.clinic_id, "account_number": a.payment.account,
                    "reference": a.payment.reference, "date": a.payment.on.isoformat(),
                    "amount": money(a.payment.amount), "method": a.payment.method,
                    "applied": [{"item": k, "amount": money(v)} for k, v in a.parts if k is not None],
                    "credit": money(a.credit)} for a in result.posted],
        "duplicates": [{"line": p.line, "clinic": p.clinic_id, "reference": p.reference} for p in result.duplicates],
        "closed": [{"clinic": c, "claim": k} for c, k in result.closed],
    }  # fmt: skip


@click.group("payments", help="Patient payments: import a lockbox, portal or front-desk CSV.")
def payments() -> None:
    pass


@payments.command("import")
@CONFIG
@STORE
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@JSON
def import_payments(config: Path, store_url: str | None, file: Path, as_json: bool) -> None:
    """Post the patient payments of FILE (CSV: clinic, account, date, amount,
    method, reference, optional claim) to guarantor accounts: each applied
    to the claim it names, else oldest first; what is left is a credit on
    the account. All or nothing: a bad row (unknown clinic, account or
    claim, bad amount or date, missing column) is named by its line and
    nothing is posted. A reference posted before (same clinic) is skipped and
    reported, so the same file twice posts once."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        click.echo(f"{file}: cannot read it ({getattr(exc, 'strerror', None) or 'not UTF-8 text'})", err=True)
        sys.exit(1)
    try:
        rows = read_payments(text, file.name, _clinic_ids(config))
        with _open(config, store_url) as store:
            result = store.post_payments(rows, _actor())
    except AccountError as exc:
        where = "" if exc.problems[0].startswith(file.name) else f"{file.name}: "
        click.echo("payment import refused, nothing posted:\n" + "\n".join(f"  {where}{p}" for p in exc.problems),
                   err=True)  # fmt: skip
        sys.exit(1)
    out = import_json(result)
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    total = sum((a.payment.amount for a in result.posted), ZERO)
    credit = sum((a.credit for a in result.posted), ZERO)
    click.echo(f"{file.name}: {len(result.posted)} payment(s) posted, {money(total)}"
               + (f" ({money(credit)} left as credit)" if credit else "")
               + (f"; {len(result.duplicates)} posted before, skipped" if result.duplicates else ""))  # fmt: skip
    for p in out["posted"]:
        applied = ", ".join(f"{a['item']} {a['amount']}" for a in p["applied"]) or "-"
        extra = f"  credit {p['credit']}" if p["credit"] != "0.00" else ""
        click.echo(f"  line {p['line']:>4}  {p['clinic']:<12} {p['account_number']:<14} {p['reference']:<16} "
                   f"{p['amount']:>10}  to {applied}{extra}")  # fmt: skip
    for d in out["duplicates"]:
        click.echo(f"  line {d['line']:>4}  reference {d['reference']} was posted before: skipped")
    for c in out["closed"]:
        click.echo(f"  claim {c['claim']} ({c['clinic']}): patient balance 0, closed")


# -- accounts ------------------------------------------------------------------------
@click.group("accounts", help="Guarantor accounts: show one, list credits, write off small balances.")
def accounts() -> None:
    pass


@accounts.command("show")
@CONFIG
@STORE
@click.argument("account")
@click.option("--clinic", required=True, help="The clinic of the account.")
@AS_OF
@JSON
def show(config: Path, store_url: str | None, account: str, clinic: str, as_of: date, as_json: bool) -> None:
    """One guarantor account: its balance, every claim (the whole claim:
    insurance paid, adjustments, pending at an insurer, what the patient
    owes), self-pay visits, statements sent, payments and its ledger."""
    with _open(config, store_url) as store:
        view = store.account(clinic, account, as_of)
    if view is None:
        click.echo(f"no account {account} in clinic {clinic}", err=True)
        sys.exit(1)
    out = view_json(view)
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    state = f"credit {out['credit']}" if view.credit else f"due {out['due']}"
    click.echo(f"account {account}  clinic {clinic}  as of {out['as_of']}  balance {out['balance']} ({state}); "
               f"pending at insurers {out['pending_at_insurer']} (not due)")  # fmt: skip
    click.echo(f"{'item':<20} {'date':<10} {'status':<14} {'charge':>10} {'ins paid':>10} {'adjust':>10} "
               f"{'pending':>10} {'pt paid':>10} {'pt bal':>10}  first billed")  # fmt: skip
    for i in out["items"]:
        click.echo(f"{i['item']:<20} {i['service_date'] or '-':<10} {i['status'] or i['kind']:<14} {i['charge']:>10} "
                   f"{i['insurance_paid']:>10} {i['adjustments']:>10} {i['pending_at_insurer']:>10} "
                   f"{i['patient_paid']:>10} {i['patient_balance']:>10}  {i['first_billed'] or '-'}")  # fmt: skip
        for a in i["adjustment_detail"]:
            click.echo(f"    payer {a['payer_seq']}: {a['group']}-{a['reason']} {a['amount']} ({a['words']})")
    if out["statements"]:
        click.echo("statements: " + ", ".join(f"{s['statement']} {s['on'] or ''}".strip() for s in out["statements"]))
    click.echo("payments:" if out["payments"] else "payments: none")
    for p in out["payments"]:
        click.echo(f"  {p['on']}  {p['amount']:>10}  {p['method'] or '-':<8} {p['reference'] or '-':<16} "
                   f"{p['claim'] or p['statement'] or 'credit on the account'}")  # fmt: skip


@accounts.command("credits")
@CONFIG
@STORE
@click.option("--clinic", help="Only this clinic.")
@JSON
def credits(config: Path, store_url: str | None, clinic: str | None, as_json: bool) -> None:
    """Accounts in credit (the patient paid more than their share, e.g. a
    copay above the final patient responsibility): to refund or apply."""
    with _open(config, store_url) as store:
        rows = store.credits(clinic)
    out = [{"clinic": c.clinic_id, "account_number": c.account, "credit": money(c.credit), "since": c.since.isoformat()}
           for c in rows]  # fmt: skip
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    if not out:
        click.echo("no account in credit" + (f" in clinic {clinic}" if clinic else ""))
    for c in out:
        click.echo(f"{c['clinic']:<12} {c['account_number']:<20} credit {c['credit']:>10}  since {c['since']}")


@accounts.command("write-off-small")
@CONFIG
@STORE
@click.option("--clinic", help="Only this clinic (default: every clinic).")
@AS_OF
@JSON
def write_off_small(config: Path, store_url: str | None, clinic: str | None, as_of: date, as_json: bool) -> None:
    """Write off every account balance above zero and at or under the
    clinic's small-balance threshold (statements settings ``cycle:
    small_balance``, read through the ``gateway_statement_cycle`` hook;
    0.00, the default, writes off nothing): a write_off row per claim, an
    audit row per account, claims brought to 0 closed. ``gateway statements
    run`` does the same before it produces statements."""
    from gateway.app import Gateway
    from gateway.cycles import statement_cycle

    gw = Gateway.from_config(config)
    ids = [clinic] if clinic else sorted(gw.clinics)
    if clinic and clinic not in gw.clinics:
        click.echo(f"no clinic {clinic} in {config}", err=True)
        sys.exit(2)
    done, thresholds = [], {}
    with _open(config, store_url) as store:
        for cid in ids:
            thresholds[cid] = statement_cycle(gw.host, gw.clinics[cid]).small_balance
            done += store.write_off_small(cid, thresholds[cid], _actor(), as_of)
    out = {
        "as_of": as_of.isoformat(), "thresholds": {c: money(t) for c, t in thresholds.items()},
        "written_off": [{"clinic": w.clinic_id, "account_number": w.account, "item": w.item, "amount": money(w.amount)}
                        for w in done],
    }  # fmt: skip
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    for cid, t in out["thresholds"].items():
        mine = [w for w in out["written_off"] if w["clinic"] == cid]
        what = "off (small_balance 0.00)" if t == "0.00" else f"at or under {t}: {len(mine)} item(s) written off"
        click.echo(f"clinic {cid}: small balances {what}")
        for w in mine:
            click.echo(f"  {w['account_number']:<20} {w['item'] or '(account)':<20} {w['amount']:>10}")
