"""Operator commands for what payers sent back: ``gateway remits
list|show|unmatched`` (payments, check/EFT numbers, the claims each paid,
what matched no claim), ``gateway ar`` (accounts-receivable aging) and
``gateway claims follow-up`` (claims without an answer in time, rejected
ones, denials by reason).

Every command reads the deployment's store (``--config F``, ``--store``) and
has JSON output (``--json``; ``ar``: ``--format``). Amounts are strings with
two decimals; output carries claim ids, payer ids, codes and amounts, never
patient data.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import click

from gateway.adjustment_codes import AdjustmentCodesError, codes_for
from gateway.claim_reports import aging, follow_up_list, today
from gateway.config import ConfigError, read_config
from gateway.daemon.cli import CONFIG, STORE, _date, _open
from gateway.reports import AGING_BUCKETS, AgingRow, FollowUpReport
from gateway.store.remits import REMIT_STATUSES, RemitDetail, RemitFilter, RemitRow, Unmatched


def money(value: Decimal | None) -> str | None:
    return f"{value:.2f}" if value is not None else None


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _as_of(_ctx: click.Context, _param: click.Parameter, value: str | None) -> date:
    if value is None:
        return today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"'{value}' is not a date (YYYY-MM-DD)") from None


AS_OF = click.option("--as-of", "as_of", callback=_as_of, metavar="DATE",
                     help="Report as of this day (YYYY-MM-DD, UTC; default today).")  # fmt: skip


# -- remits ----------------------------------------------------------------------
def remit_json(r: RemitRow) -> dict[str, Any]:
    return {
        "id": r.id,
        "clinic": r.clinic_id,
        "status": r.status,
        "payer_id": r.payer_id,
        "payer_name": r.payer_name,
        "payee_npi": r.payee_npi,
        "trace_number": r.trace_number,
        "method": r.method,
        "amount": money(r.amount),
        "payment_date": r.payment_date,
        "claims": r.claims,
        "unmatched_claims": r.unmatched_claims,
        "duplicate_of": r.duplicate_of,
        "message_id": r.message_id,
        "received_at": iso(r.created_at),
        "findings": r.findings,
    }


def remit_detail_json(d: RemitDetail) -> dict[str, Any]:
    out = remit_json(d.remit)
    out["claim_payments"] = [
        {"claim": c.clm01, "clinic": c.clinic_id, "outcome": c.outcome, "status_code": c.status_code,
         "charge": money(c.charge), "paid": money(c.paid),
         "patient_responsibility": money(c.patient_responsibility), "payer_claim_id": c.payer_claim_id,
         "adjustments": [{**a, "amount": money(Decimal(str(a["amount"])))} for a in c.adjustments]}
        for c in d.claims
    ]  # fmt: skip
    out["provider_adjustments"] = [
        {"provider_id": p.provider_id, "reason": p.reason, "reference": p.reference, "amount": money(p.amount),
         "fiscal_period": p.fiscal_period}
        for p in d.provider_adjustments
    ]  # fmt: skip
    return out


def unmatched_json(u: Unmatched) -> dict[str, Any]:
    return {"kind": u.kind, "clinic": u.clinic_id, "reference": u.reference, "message_id": u.message_id,
            "received_at": iso(u.at), "remit_id": u.remit_id, "ack_id": u.ack_id, "amount": money(u.amount),
            "detail": u.detail}  # fmt: skip


@click.group("remits", help="Payments (835 remits) as posted: list, show one, what matched no claim.")
def remits() -> None:
    pass


@remits.command("list")
@CONFIG
@STORE
@click.option("--clinic", help="Only this clinic.")
@click.option("--status", type=click.Choice(REMIT_STATUSES))
@click.option("--payer", help="Payer id (N1*PR REF*2U, or the sender).")
@click.option("--since", help="Received at or after (ISO date or time, UTC).")
@click.option("--limit", type=int, default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="JSON (amounts as strings with two decimals).")
def list_remits(config: Path, store_url: str | None, clinic: str | None, status: str | None, payer: str | None,
                since: str | None, limit: int, as_json: bool) -> None:  # fmt: skip
    """List remits, newest first: payer, check/EFT number, amount, claims paid."""
    with _open(config, store_url) as store:
        rows = store.list_remits(RemitFilter(clinic, status, payer, _date(since), limit))
    if as_json:
        click.echo(json.dumps([remit_json(r) for r in rows], indent=2))
        return
    click.echo(f"{'id':>5} {'clinic':<12} {'status':<11} {'payer':<12} {'check/EFT':<16} {'method':<6} "
               f"{'amount':>11} {'paid on':<10} {'claims':>6} {'unmatched':>9}")  # fmt: skip
    for r in rows:
        click.echo(f"{r.id:>5} {r.clinic_id or '-':<12} {r.status:<11} {r.payer_id or '-':<12} "
                   f"{r.trace_number or '-':<16} {r.method or '-':<6} {money(r.amount) or '-':>11} "
                   f"{r.payment_date or '-':<10} {r.claims:>6} {r.unmatched_claims:>9}")  # fmt: skip


@remits.command("show")
@CONFIG
@STORE
@click.argument("remit_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="JSON (amounts as strings with two decimals).")
def show_remit(config: Path, store_url: str | None, remit_id: int, as_json: bool) -> None:
    """One remit: the payment, every claim it paid (or could not match) and its PLB."""
    with _open(config, store_url) as store:
        detail = store.remit(remit_id)
    if detail is None:
        click.echo(f"no remit {remit_id}", err=True)
        sys.exit(1)
    out = remit_detail_json(detail)
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    click.echo(f"remit {out['id']}  clinic {out['clinic'] or '-'}  {out['status']}  payer {out['payer_id'] or '-'}"
               f"  {out['method'] or '-'} {out['trace_number'] or '-'}  {out['amount'] or '-'}"
               f"  paid on {out['payment_date'] or '-'}")  # fmt: skip
    for f in out["findings"]:
        click.echo(f"  finding: {f.get('rule', '')} {f.get('message', '')}")
    click.echo("claims:")
    for c in out["claim_payments"]:
        cas = ", ".join(f"{a['group']}-{a['reason']} {a['amount']}" for a in c["adjustments"])
        click.echo(f"  {c['claim']:<20} {c['outcome']:<10} CLP02 {c['status_code']:<3} charge {c['charge']:>10} "
                   f"paid {c['paid']:>10} patient {c['patient_responsibility'] or '-':>8}  {cas}")  # fmt: skip
    for p in out["provider_adjustments"]:
        click.echo(f"provider adjustment (PLB) {p['reason']} {p['reference'] or ''}: {p['amount']}")


@remits.command("unmatched")
@CONFIG
@STORE
@click.option("--clinic", help="Only this clinic.")
@click.option("--limit", type=int, default=500, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="JSON (amounts as strings with two decimals).")
def unmatched(config: Path, store_url: str | None, clinic: str | None, limit: int, as_json: bool) -> None:
    """Answers that matched no claim (kept, never dropped): 835 claims, 999, TA1 and 277CA."""
    with _open(config, store_url) as store:
        rows = store.unmatched(clinic, limit)
    if as_json:
        click.echo(json.dumps([unmatched_json(u) for u in rows], indent=2))
        return
    if not rows:
        click.echo("no unmatched answers" + (f" for clinic {clinic}" if clinic else ""))
    for u in rows:
        where = f"remit {u.remit_id}" if u.remit_id else f"ack {u.ack_id}"
        click.echo(f"{iso(u.at)}  {u.kind:<5} {u.clinic_id or '(no clinic)':<12} {u.reference:<20} "
                   f"{money(u.amount) or '':>10}  {where}, message {u.message_id}")  # fmt: skip


# -- accounts receivable -----------------------------------------------------------
def _aging_row(row: AgingRow) -> dict[str, Any]:
    return {"clinic": row.clinic, "payer": row.payer_id, "claims": row.claims,
            **{name: money(amount) for name, amount in row.buckets.items()}, "total": money(row.total),
            "patient": money(row.patient)}  # fmt: skip


#: what the AR report says of its days (the statements count from the day the patient was first billed)
AGES_FROM = (
    "payer balances age from the claim's delivered date; patient = what patients still owe on claims their "
    "payers are done with (gateway accounts; statements age it from the day the patient was first billed)"
)


@click.command("ar")
@CONFIG
@STORE
@click.option("--clinic", help="Only this clinic.")
@AS_OF
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
def ar(config: Path, store_url: str | None, clinic: str | None, as_of: date, fmt: str) -> None:
    """Accounts-receivable aging: what payers still owe, per clinic and payer,
    by days since the claim's delivered date (0-30, 31-60, 61-90, 90+), with
    a total row per clinic (payer "*"), and a patient column: what patients
    still owe on claims that payer answered last (their guarantor accounts)."""
    with _open(config, store_url) as store:
        report = aging(store, as_of, clinic)
    rows = [_aging_row(r) for r in report.rows] + [_aging_row(r) for r in report.clinic_totals()]
    rows.sort(key=lambda r: (r["clinic"], r["payer"] == "*", r["payer"]))
    names = [b[0] for b in AGING_BUCKETS]
    if fmt == "json":
        click.echo(json.dumps({"as_of": as_of.isoformat(), "ages_from": "delivered", "note": AGES_FROM,
                                "buckets": names, "rows": rows}, indent=2))  # fmt: skip
    elif fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, ["clinic", "payer", "claims", *names, "total", "patient"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        click.echo(buf.getvalue(), nl=False)
    else:
        click.echo(f"AR aging as of {as_of.isoformat()}: {AGES_FROM}")
        click.echo(f"{'clinic':<12} {'payer':<14} {'claims':>6} " + " ".join(f"{n:>11}" for n in names)
                   + f" {'total':>12} {'patient':>11}")  # fmt: skip
        for r in rows:
            click.echo(f"{r['clinic']:<12} {r['payer'] if r['payer'] != '*' else 'all payers':<14} {r['claims']:>6} "
                       + " ".join(f"{r[n]:>11}" for n in names) + f" {r['total']:>12} {r['patient']:>11}")  # fmt: skip


# -- follow-up -----------------------------------------------------------------------
def follow_up_json(report: FollowUpReport) -> dict[str, Any]:
    return {
        "as_of": report.as_of.isoformat(),
        "overdue": [
            {"claim": i.claim_id, "clinic": i.clinic, "payer": i.payer_id, "status": i.status,
             "awaiting": i.awaiting, "delivered": i.delivered.isoformat() if i.delivered else None,
             "days": i.days, "limit_days": i.limit, "balance": money(i.balance)}
            for i in report.overdue
        ],
        "denied": [
            {"reason": g.reason, "description": g.description, "total": money(g.total),
             "claims": [{"claim": c.claim_id, "clinic": c.clinic, "payer": c.payer_id, "charge": money(c.charge),
                         "balance": money(c.balance)} for c in g.claims]}
            for g in report.denied
        ],
    }  # fmt: skip


_AWAITING = {"ack": "no 999/277CA", "remit": "no 835", "rejected": "rejected"}


@click.command("follow-up")
@CONFIG
@STORE
@click.option("--clinic", help="Only this clinic.")
@AS_OF
@click.option("--json", "as_json", is_flag=True, help="JSON (amounts as strings with two decimals).")
def follow_up(config: Path, store_url: str | None, clinic: str | None, as_of: date, as_json: bool) -> None:
    """Claims that need a person: no 999/277CA after the payer's ack_days, no
    835 after its remit_days (payer directory ``follow_up``; defaults 3 and
    30), rejected by a 999/277CA and not sent again; and denied claims
    grouped by reason code, in plain words."""
    from gateway.app import Gateway

    try:
        gw = Gateway.from_config(config)
        codes = codes_for(read_config(config))
    except (ConfigError, AdjustmentCodesError) as exc:
        click.echo("configuration errors:\n" + "\n".join(f"  {p}" for p in exc.problems), err=True)
        sys.exit(2)
    with _open(config, store_url) as store:
        report = follow_up_list(store, gw.clinics, codes, as_of, clinic)
    out = follow_up_json(report)
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    click.echo(f"follow-up as of {out['as_of']}: {len(out['overdue'])} claim(s) overdue or rejected, "
               f"{sum(len(g['claims']) for g in out['denied'])} denied")  # fmt: skip
    for i in out["overdue"]:
        limit = f" (payer allows {i['limit_days']})" if i["limit_days"] is not None else ""
        click.echo(f"  {i['claim']:<20} {i['clinic']:<12} {i['payer']:<12} {_AWAITING[i['awaiting']]:<13} "
                   f"{i['status']:<17} {i['days']:>4} day(s){limit}  balance {i['balance']}")  # fmt: skip
    for g in out["denied"]:
        click.echo(f"denied, {g['reason'] or '-'}: {g['description']} ({len(g['claims'])} claim(s), {g['total']})")
        for c in g["claims"]:
            click.echo(f"  {c['claim']:<20} {c['clinic']:<12} {c['payer']:<12} charge {c['charge']}")


def register(cli: click.Group) -> None:
    """Add ``remits`` and ``ar`` to the ``gateway`` group and ``follow-up`` to its ``claims`` group."""
    cli.add_command(remits)
    cli.add_command(ar)
    claims = cli.commands.get("claims")
    if not isinstance(claims, click.Group):
        raise RuntimeError("register the claims commands before the remittance ones")
    claims.add_command(follow_up)
