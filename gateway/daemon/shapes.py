"""The JSON shapes of messages, status and outbox documents: one function
each, used by the CLI's ``--json`` output and the HTTP API alike, so the two
never drift apart."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from gateway.store import IN_PROGRESS, MessageRow, Store
from gateway.store.outbox import OutboxRow


def ts(t: float | None) -> str:
    """``YYYY-MM-DD HH:MM:SS`` (UTC), or ``-``."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S") if t else "-"


def message_json(r: MessageRow, rules: list[str]) -> dict[str, Any]:
    """A message as ``messages list --json`` prints it; ``rules``: the rule ids
    of its error findings, message and encounter level."""
    d = dict(r.__dict__)
    for k in ("received_at", "updated_at", "processed_at"):
        d[k] = ts(d[k]) if d[k] else None
    d["rules"] = rules
    return d


def message_detail(
    store: Store, row: MessageRow, rules: list[str], actor: str, raw: bool = False, encounter: int | None = None,
    audit: dict[str, Any] | None = None, identifiers: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """A message as ``messages show --json`` prints it. Raw bytes, the stored
    encounter and identifiers (visit numbers, claim ids built from them, the
    file name) are patient data: included only when asked, and the viewing is
    written to the audit trail first (``audit``: extra columns, e.g. the
    client address). Raw bytes and the encounter imply identifiers."""
    out = message_json(row, rules)
    out["encounters"] = store.encounters(row.id)
    if identifiers and not raw and encounter is None:
        _viewed(store, row, actor, "viewed-identifiers", {}, audit)
    if raw:
        _viewed(store, row, actor, "viewed-raw", {}, audit)
    if encounter is not None:
        _viewed(store, row, actor, "viewed-encounter", {"idx": encounter}, audit)
    out["audit"] = [
        {"at": ts(a.at), "actor": a.actor, "action": a.action, "detail": a.detail} for a in store.audit_trail(row.id)
    ]
    if raw:
        out["raw"] = (store.raw(row.id) or b"").decode("utf-8", "replace")
    if encounter is not None:
        out["encounter"] = store.encounter_json(row.id, encounter)  # type: ignore[attr-defined]
    if not (identifiers or raw or encounter is not None):
        hide_identifiers(out)
    return out


def hide_identifiers(out: dict[str, Any]) -> None:
    """Leave out what identifies a patient's visit (shown when asked for)."""
    name = out.get("name")
    if name:
        out["name"] = "(hidden)"
        out["source"] = str(out["source"]).replace(name, "(hidden)")  # a one-shot source is file:<name>
    for e in out["encounters"]:
        e.pop("visit", None)
        for c in e["claims"]:
            c.pop("clm01", None)
    out["identifiers_hidden"] = True


def _viewed(
    store: Store, row: MessageRow, actor: str, action: str, detail: dict[str, Any], extra: dict[str, Any] | None
) -> None:
    if extra is None:
        store.add_audit(row.id, actor, action, detail)
        return
    from gateway.store.users import Accounts

    Accounts(store).audit(actor, action, detail, row.id, row.clinic_id, extra.get("ip"))  # type: ignore[arg-type]


def status_json(
    counts: list[tuple[str | None, str, int]],
    oldest: float | None,
    unfinished: float | None = None,
    items: Iterable[tuple[str, str | None, str, int]] = (),
) -> dict[str, Any]:
    """``gateway status --json``: messages per clinic and status, the oldest
    in the queue, every message not yet final (``in_progress``: in the queue,
    or with claims or statements not yet delivered; ``unfinished`` is the
    oldest one's arrival) and the claims and statements held for an operator
    (``items``: kind, clinic, status, count)."""
    busy = {s: sum(n for _, st, n in counts if st == s) for s in sorted(IN_PROGRESS)}
    held = {k: sum(n for kind, _, st, n in items if kind == k and st == "held") for k in ("claims", "statements")}
    return {
        "counts": [{"clinic": c, "status": s, "messages": n} for c, s, n in counts],
        "oldest_pending": ts(oldest) if oldest else None,
        "oldest_pending_age_seconds": round(time.time() - oldest, 1) if oldest else None,
        "in_progress": {
            "messages": sum(busy.values()),
            "by_status": busy,
            "oldest": ts(unfinished) if unfinished else None,
            "oldest_age_seconds": round(time.time() - unfinished, 1) if unfinished else None,
        },
        "held": held,
    }


def outbox_json(r: OutboxRow) -> dict[str, Any]:
    """One outbox document as ``gateway outbox list --json`` prints it."""
    d = dict(r.__dict__)
    for k in ("next_attempt", "created_at", "delivered_at"):
        d[k] = ts(d[k]) if d[k] else None
    return d
