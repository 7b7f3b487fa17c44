"""Operator commands for claims and statements as the store keeps them:
``gateway claims list|show|resolve|adjust`` and ``gateway statements list|show|resolve``.

A claim is named by its CLM01 in every command (a statement by its id); the
store keeps one row per submission (version, payer place P/S/T, frequency) and
every event of its story. ``resolve`` is the operator's decision on content
held by the duplicate rule (``GW-DUPLICATE-CLAIM`` / ``GW-DUPLICATE-STATEMENT``),
audited with the operator's user name and reason. Output carries identifiers,
statuses and amounts, never patient data.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import click

from gateway.accounts_cli import item_json, whole_claim_text
from gateway.config import ConfigError, read_config
from gateway.daemon.cli import CONFIG, STORE, _actor, _date, _open, _ts
from gateway.store import Store
from gateway.store.remits import LedgerEntry, Money, PostingError, claim_money
from gateway.store.submissions import ACTIONS, KINDS, ClaimStatus, Kind, ResolveError, Submission, SubmissionFilter

_NOUN = {"claims": "claim", "statements": "statement"}


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _money(value: str | None) -> str | None:
    return f"{Decimal(value):.2f}" if value is not None else None


def _submission(s: Submission) -> dict[str, Any]:
    return {
        "version": s.version,
        "payer_seq": s.payer_seq,
        "frequency_code": s.frequency_code or None,
        "status": s.status,
        "charge": _money(s.total_charge),
        "payer_id": s.payer_id,
        "original_reference": s.original_reference,
        "payer_claim_id": s.payer_claim_id,
        "message_id": s.message_id,
        "outbox_id": s.outbox_id,
        "created_at": _iso(s.created_at),
        "updated_at": _iso(s.updated_at),
    }


def _clinics(config: Path, clinic: str | None) -> list[str]:
    if clinic:
        return [clinic]
    try:
        return [c.id for c in read_config(config).config.clinics]
    except ConfigError:
        return []


def _story(store: Store, kind: Kind, config: Path, key: str, clinic: str | None) -> tuple[str, list[Submission]]:
    """The clinic holding ``key`` and its submissions; exits when none or several do."""
    found = [(c, subs) for c in _clinics(config, clinic) if (subs := store.submissions(kind, c, key))]
    if not found:
        click.echo(f"no {_NOUN[kind]} {key}" + (f" in clinic {clinic}" if clinic else ""), err=True)
        sys.exit(1)
    if len(found) > 1:
        click.echo(f"{_NOUN[kind]} {key} exists in clinics {', '.join(c for c, _ in found)}: give --clinic", err=True)
        sys.exit(2)
    return found[0]


_SET_ASIDE = (ClaimStatus.HELD, ClaimStatus.DISCARDED, ClaimStatus.SUPERSEDED)


def _summary(kind: Kind, key: str, clinic: str, subs: list[Submission]) -> dict[str, Any]:
    """The claim's status and charge: the charge of the first payer place's
    latest submission; the status of the latest submission of the furthest
    payer place the claim reached (a secondary's once the primary answered)."""
    first = [s for s in subs if s.payer_seq == min(x.payer_seq for x in subs)]
    sent = [s for s in first if s.status not in _SET_ASIDE]
    reached = [s for s in subs if s.status not in _SET_ASIDE] or first
    furthest = [s for s in reached if s.payer_seq == max(x.payer_seq for x in reached)]
    return {
        "id": key,
        "kind": _NOUN[kind],
        "clinic": clinic,
        "status": furthest[-1].status,
        "charge": _money((sent or first)[-1].total_charge),
        "submissions": [_submission(s) for s in subs],
    }


def _money_json(m: Money) -> dict[str, Any]:
    return {
        "charge": _amount(m.charge),
        "paid": _amount(m.paid),
        "adjustments": [{"group": g, "reason": r, "amount": _amount(a)} for g, r, a in m.adjustments],
        "patient_responsibility": _amount(m.patient_responsibility),
        "balance": _amount(m.balance),
        "denials": [{"group": g, "reason": r, "amount": _amount(a)} for g, r, a in m.denials],
    }


def _amount(value: Decimal) -> str:
    return f"{value:.2f}"


def _money_view(out: dict[str, Any], ledger: list[LedgerEntry]) -> dict[str, Any]:
    """The claim's money from its ledger; before anything was posted the
    charge is owed whole (a claim never sent owes nothing yet)."""
    if not ledger:
        sent = out["status"] not in ("created", "held", "superseded", "discarded", "failed", "voided")
        charge = Decimal(out["charge"] or "0")
        owed = charge if sent and out["status"] not in ("rejected_999", "rejected_277") else Decimal("0")
        return {"charge": _amount(charge), "paid": "0.00", "adjustments": [], "patient_responsibility": "0.00",
                "balance": _amount(owed), "denials": [], "lines": {}, "ledger": []}  # fmt: skip
    places = sorted({e.payer_seq for e in ledger})
    if len(places) == 1:
        total, lines = claim_money(ledger)
        money, by_line = _money_json(total), {str(lx): _money_json(m) for lx, m in lines.items()}
    else:
        money, by_line = _payers_money(
            [(seq, claim_money([e for e in ledger if e.payer_seq == seq])) for seq in places]
        )
    return {
        **money,
        "lines": by_line,
        "ledger": [
            {"at": _iso(e.at), "line": e.line, "kind": e.kind, "group": e.group, "reason": e.reason,
             "amount": _amount(e.amount), "remit": e.remit_id, "source": e.source, "note": e.note}
            for e in ledger
        ],
    }  # fmt: skip


def _payers_money(places: list[tuple[int, tuple[Money, dict[int, Money]]]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A claim answered by several payer places, claim level and per line:
    the charge once (the first place's), paid by every payer, each payer's
    adjustments as it sent them (with ``payer_seq``: a later payer's CARC 23
    restates what the earlier ones paid and adjusted), the patient
    responsibility the last place left, and what the payers still owe."""

    def combine(moneys: list[tuple[int, Money]]) -> dict[str, Any]:
        out = _money_json(moneys[0][1])
        out["paid"] = _amount(sum((m.paid for _, m in moneys), Decimal("0")))
        out["balance"] = _amount(sum((m.balance for _, m in moneys), Decimal("0")))
        out["patient_responsibility"] = _amount(moneys[-1][1].patient_responsibility)
        out["adjustments"] = [{"payer_seq": seq, "group": g, "reason": r, "amount": _amount(a)}
                              for seq, m in moneys for g, r, a in m.adjustments]  # fmt: skip
        out["denials"] = [{"payer_seq": seq, "group": g, "reason": r, "amount": _amount(a)}
                          for seq, m in moneys for g, r, a in m.denials]  # fmt: skip
        return out

    claim = combine([(seq, total) for seq, (total, _) in places])
    numbers = sorted({lx for _, (_, lines) in places for lx in lines})
    lines = {str(lx): combine([(seq, ls[lx]) for seq, (_, ls) in places if lx in ls]) for lx in numbers}
    return claim, lines


def _adjustments_text(adjustments: list[dict[str, Any]]) -> str:
    return (
        ", ".join(
            (f"payer {a['payer_seq']} " if "payer_seq" in a else "") + f"{a['group']}-{a['reason']} {a['amount']}"
            for a in adjustments
        )
        or "-"
    )


def _echo_money(out: dict[str, Any]) -> None:
    adj = _adjustments_text(out["adjustments"])
    click.echo(f"  paid {out['paid']}  adjustments {adj}  patient responsibility {out['patient_responsibility']}  "
               f"balance {out['balance']}")  # fmt: skip
    for lx, m in out["lines"].items():
        adj = _adjustments_text(m["adjustments"])
        click.echo(f"  line {lx}: charge {m['charge']}  paid {m['paid']}  adjustments {adj}  balance {m['balance']}")


def _adjust_command(group: click.Group) -> None:
    @group.command()
    @CONFIG
    @STORE
    @click.argument("key", metavar="CLM01")
    @click.option("--amount", required=True, help="Amount to adjust off the balance (negative adds to it).")
    @click.option("--reason", required=True, help="Why (kept in the ledger, the events and the audit trail).")
    @click.option("--group", "group_code", type=click.Choice(["CO", "OA", "PR"]), default="OA", show_default=True,
                  help="CO contractual write-off, OA other, PR moved to the patient.")  # fmt: skip
    @click.option("--clinic", help="Needed when several clinics use the CLM01.")
    @click.option("--json", "as_json", is_flag=True)
    def adjust(config: Path, store_url: str | None, key: str, amount: str, reason: str, group_code: str,
               clinic: str | None, as_json: bool) -> None:  # fmt: skip
        """An audited manual adjustment or write-off on a claim's ledger, so a
        denied or small-balance claim can reach zero (it closes at zero)."""
        try:
            value = Decimal(amount)
        except InvalidOperation:
            value = Decimal("NaN")
        if not value.is_finite() or value != value.quantize(Decimal("0.01")) or abs(value) > Decimal("99999999.99"):
            click.echo(f"--amount {amount!r} is not an amount with at most two decimals", err=True)
            sys.exit(2)
        if not reason.strip():
            click.echo("--reason must say why", err=True)
            sys.exit(2)
        with _open(config, store_url) as store:
            clinic_id, _ = _story(store, "claims", config, key, clinic)
            try:
                money = store.adjust(clinic_id, key, value, reason.strip(), _actor(), group=group_code)
            except PostingError as exc:
                click.echo(f"claim {key}: {exc}", err=True)
                sys.exit(1)
            status = store.submissions("claims", clinic_id, key)[-1].status
        view = {"id": key, "clinic": clinic_id, "status": status, **_money_json(money)}
        if as_json:
            click.echo(json.dumps(view, indent=2))
            return
        click.echo(f"claim {key} ({clinic_id}): adjusted {group_code} {value:.2f}; balance {view['balance']}"
                   + ("; closed" if status == "closed" else ""))  # fmt: skip


def story_json(store: Store, kind: Kind, clinic_id: str, key: str, subs: list[Submission]) -> dict[str, Any]:
    """``claims show --json`` (``statements show --json``): the same shape for
    ``GET /api/v1/claims/{id}``."""
    out = _summary(kind, key, clinic_id, subs)
    if kind == "claims":
        out.update(_money_view(out, store.ledger(clinic_id, key)))
        whole = store.claim_view(clinic_id, key)
        out["whole_claim"] = item_json(whole) if whole is not None else None
    out["events"] = [
        {"at": _iso(e.at), "version": e.version, "payer_seq": e.payer_seq, "kind": e.kind, "status": e.status,
         "source": e.source, "actor": e.actor, "detail": e.detail}
        for e in store.events(kind, clinic_id, key)
    ]  # fmt: skip
    return out


def _group(cli: click.Group, kind: Kind) -> None:
    noun = _NOUN[kind]
    actions = ACTIONS[kind]

    @cli.group(
        name=kind,
        help=f"{noun.capitalize()}s in the store: list, show one's story, resolve held content"
        + (", adjust a balance." if kind == "claims" else "; run the statement cycle."),
    )
    def group() -> None:
        pass

    @group.command("list")
    @CONFIG
    @STORE
    @click.option("--clinic")
    @click.option("--status", type=click.Choice([s.value for s in ClaimStatus]), help="e.g. held: waiting for you.")
    @click.option("--payer", help="Payer id (claims).")
    @click.option("--since", help="Created at or after (ISO date or time, UTC).")
    @click.option("--limit", type=int, default=50, show_default=True)
    @click.option("--json", "as_json", is_flag=True)
    def list_(config: Path, store_url: str | None, clinic: str | None, status: str | None, payer: str | None,
              since: str | None, limit: int, as_json: bool) -> None:  # fmt: skip
        """List submissions, newest first (one row per version)."""
        with _open(config, store_url) as store:
            rows = store.list_submissions(kind, SubmissionFilter(clinic, status, payer, _date(since), limit))
        if as_json:
            click.echo(json.dumps([{"id": s.key, "clinic": s.clinic_id, **_submission(s)} for s in rows], indent=2))
            return
        head = f"{'id':<20} {'clinic':<12} {'ver':>3} {'seq':>3} {'freq':>4} {'status':<14} {'charge':>10}"
        click.echo(f"{head}  created")
        for s in rows:
            click.echo(
                f"{s.key:<20} {s.clinic_id:<12} {s.version:>3} {s.payer_seq:>3} {s.frequency_code or '-':>4} "
                f"{s.status:<14} {_money(s.total_charge) or '-':>10}  {_ts(s.created_at)}"
            )

    @group.command()
    @CONFIG
    @STORE
    @click.argument("key", metavar="CLM01" if kind == "claims" else "STATEMENT_ID")
    @click.option("--clinic", help="Needed when several clinics use the id.")
    @click.option("--json", "as_json", is_flag=True)
    def show(config: Path, store_url: str | None, key: str, clinic: str | None, as_json: bool) -> None:
        """One claim's (statement's) whole story: every submission and event;
        for a claim also its money (charge, paid, adjustments, patient
        responsibility, balance) from the ledger, per line (LX), and the
        whole claim across payer places with the patient's side (insurance
        paid by every payer, patient responsibility of the last payer,
        patient paid, patient balance)."""
        with _open(config, store_url) as store:
            clinic_id, subs = _story(store, kind, config, key, clinic)
            out = story_json(store, kind, clinic_id, key, subs)
        if as_json:
            click.echo(json.dumps(out, indent=2))
            return
        click.echo(f"{noun} {key}  clinic {clinic_id}  status {out['status']}  charge {out['charge'] or '-'}")
        if kind == "claims":
            _echo_money(out)
            if out["whole_claim"]:
                click.echo(whole_claim_text(out["whole_claim"]))
        for s in out["submissions"]:
            ref = f"  REF*F8 {s['original_reference']}" if s["original_reference"] else ""
            click.echo(f"  version {s['version']} (payer {s['payer_seq']}, frequency {s['frequency_code'] or '-'}): "
                       f"{s['status']}, {s['charge'] or '-'}{ref}")  # fmt: skip
        click.echo(
            "events:"
            + (" (p: payer place, v: version)" if (several := len({e["payer_seq"] for e in out["events"]}) > 1) else "")
        )
        for e in out["events"]:
            detail = json.dumps(e["detail"]) if e["detail"] else ""
            where = f"{e['source'] or '-':<18} {e['actor']:<20}"
            place = f"p{e['payer_seq']} " if several else ""
            click.echo(f"  {e['at']}  {place}v{e['version']}  {e['kind']:<12} {where} {detail}")

    @group.command()
    @CONFIG
    @STORE
    @click.argument("key", metavar="CLM01" if kind == "claims" else "STATEMENT_ID")
    @click.option("--clinic", required=True)
    @click.option("--replace", "action", flag_value="replace", help="Send the held content.")
    @click.option("--discard", "action", flag_value="discard", help="Drop the held content.")
    @click.option("--reason", default="", help="Why (kept in the audit trail and the events).")
    def resolve(config: Path, store_url: str | None, key: str, clinic: str, action: str | None, reason: str,
                **extra: Any) -> None:  # fmt: skip
        action = extra.pop("void_action", None) or action
        if action is None:
            click.echo(f"say what to do: {' | '.join('--' + a for a in actions)}", err=True)
            sys.exit(2)
        with _open(config, store_url) as store:
            try:
                done = store.resolve(kind, clinic, key, action, _actor(), reason=reason, icn=extra.get("icn"),
                                     payer_seq=extra.get("payer_seq"))  # fmt: skip
            except ResolveError as exc:
                click.echo(f"{noun} {key}: {exc}", err=True)
                sys.exit(1)
        h = done.held
        if action == "discard":
            click.echo(f"{noun} {key} ({clinic}): held version {h.version} discarded")
        elif action == "void" and done.created is not None:
            click.echo(f"{noun} {key} ({clinic}): version {done.created.version} voids version "
                       f"{done.earlier.version} (frequency 8, REF*F8 {done.created.original_reference}); "  # type: ignore[union-attr]
                       f"held version {h.version} discarded")  # fmt: skip
        elif action == "void":
            click.echo(f"{noun} {key} ({clinic}): version {done.earlier.version} was never sent and is voided; "  # type: ignore[union-attr]
                       f"held version {h.version} discarded")  # fmt: skip
        elif h.frequency_code == "7":
            click.echo(f"{noun} {key} ({clinic}): version {h.version} goes out as a replacement (frequency 7, "
                       f"REF*F8 {h.original_reference}) with the next batch")  # fmt: skip
        else:
            click.echo(
                f"{noun} {key} ({clinic}): version {h.version} goes out with the next batch"
                + (f"; version {done.earlier.version} is {done.earlier.status}" if done.earlier else "")
            )

    if kind == "claims":
        _adjust_command(group)
        resolve = click.option("--payer-seq", type=click.IntRange(1, 3), help="Payer place (1 P, 2 S, 3 T).")(resolve)
        resolve = click.option("--icn", help="The payer's claim control number of the earlier claim (277CA, 835).")(
            resolve
        )
        resolve = click.option(
            "--void", "void_action", flag_value="void", help="Void the earlier claim (frequency 8); drop the held one."
        )(resolve)
    later = (
        "as a replacement, frequency 7 quoting the payer's claim control number (--icn or the one on record). "
        "--void: a frequency-8 void of the earlier claim"
        if kind == "claims"
        else "as a corrected statement under a new file name"
    )
    resolve.help = (
        f"Decide on held content for a {noun} (audited). --replace: the held content goes out — as the original "
        f"when the earlier one was never batched or was rejected by the payer (999/277CA), else {later}. "
        "--discard: drop the held content."
    )


def register(cli: click.Group) -> None:
    """Add ``claims`` and ``statements`` to the ``gateway`` group."""
    for kind in KINDS:
        _group(cli, kind)
