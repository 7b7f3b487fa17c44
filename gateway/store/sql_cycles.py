"""SQL of :class:`gateway.store.cycles.CycleStore`, shared by both backends.

Tables (migration 15): ``statement_cycles`` (one row per account and run
date: what was sent, the dunning level, the total due, the content digest,
the outbox document) and ``statement_runs`` (one row per clinic and run date:
a run recorded done is not run again after a restart). When the patient was
first billed for a balance is the account ledger's (``billed_on``,
:meth:`gateway.store.accounts.AccountStore.mark_billed`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from gateway.cycles import LastCycle
from gateway.documents import Document
from gateway.store.codec import ref
from gateway.store.cycles import CycleEntry, CycleRow, CycleStore, StatementRun
from gateway.store.sql_delivery import SQLDelivery
from gateway.store.sql_submissions import ROW_KEY, row_ref
from gateway.store.sqlbase import chunks, marks, to_json

_ROW = (
    "c.id, c.clinic_id, c.account, c.statement_id, c.run_date, c.notice, c.dunning_level, c.total_due, c.reason, "
    "c.outbox_id, o.name, c.created_at"
)


class SQLCycles(SQLDelivery, CycleStore):
    """The SQL half of :class:`CycleStore` (see the module doc)."""

    def last_cycle(self, clinic_id: str, account: str) -> LastCycle | None:
        with self.read() as cur:
            cur.execute(
                "SELECT run_date, content_hash, dunning_level FROM statement_cycles "
                "WHERE clinic_id = ? AND account = ? AND notice IN ('statement', 'final') "
                "ORDER BY run_date DESC LIMIT 1",
                (clinic_id, account),
            )
            last = cur.fetchone()
            if last is None:
                return None
            cur.execute(
                "SELECT notice, MAX(run_date) FROM statement_cycles WHERE clinic_id = ? AND account = ? "
                "AND notice IN ('final', 'collections') GROUP BY notice",
                (clinic_id, account),
            )
            noticed = {n: date.fromisoformat(d) for n, d in cur.fetchall()}
        return LastCycle(
            date.fromisoformat(last[0]), last[1], int(last[2]), noticed.get("final"), noticed.get("collections")
        )

    def record_cycle(
        self,
        clinic_id: str,
        run_date: date,
        entries: Sequence[CycleEntry],
        documents: Sequence[Document] = (),
        destination: str | None = None,
        actor: str = "statements",
    ) -> list[tuple[int, str]]:
        now = time.time()
        day = run_date.isoformat()
        with self.write() as cur:
            done: set[str] = set()
            for part in chunks([e.account for e in entries]):
                cur.execute(
                    f"SELECT account FROM statement_cycles WHERE clinic_id = ? AND run_date = ? "
                    f"AND account IN ({marks(len(part))}){self.lock_rows}",
                    (clinic_id, day, *part),
                )
                done |= {r[0] for r in cur.fetchall()}
            todo = [e for e in entries if e.account not in done]
            wanted = sorted({e.document for e in todo if e.document is not None})
            if wanted and destination is None:
                raise ValueError("documents need a destination")
            stored: dict[int, tuple[int, str]] = {}
            for i in wanted:
                stored[i] = self._outbox_add(cur, destination or "", documents[i], now, None)
            cur.executemany(
                "INSERT INTO statement_cycles (clinic_id, account, statement_id, run_date, notice, dunning_level, "
                "total_due, content_hash, reason, outbox_id, actor, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (clinic_id, e.account, e.statement_id, day, e.notice, e.dunning_level, f"{e.total_due:.2f}",
                     e.content_hash, e.reason, stored[e.document][0] if e.document is not None else None, actor, now)
                    for e in todo
                ],
            )  # fmt: skip
            if todo:
                counts: dict[str, int] = {}
                for e in todo:
                    counts[e.notice] = counts.get(e.notice, 0) + 1
                self._audit(cur, None, actor, "statement_cycle", {"clinic": clinic_id, "run_date": day, **counts})
        return [stored[i] for i in wanted]

    def cycle_history(self, clinic_id: str, account: str | None = None, limit: int = 200) -> list[CycleRow]:
        where, args = "c.clinic_id = ?", [clinic_id]
        if account is not None:
            where += " AND c.account = ?"
            args.append(account)
        with self.read() as cur:
            cur.execute(
                f"SELECT {_ROW} FROM statement_cycles c LEFT JOIN outbox o ON o.id = c.outbox_id "
                f"WHERE {where} ORDER BY c.run_date DESC, c.id DESC LIMIT ?",
                (*args, limit),
            )
            return [
                CycleRow(int(i), c, a, s, date.fromisoformat(d), n, int(lv), Decimal(t), r,
                         None if o is None else int(o), name, float(at))
                for i, c, a, s, d, n, lv, t, r, o, name, at in cur.fetchall()
            ]  # fmt: skip

    def begin_statement_run(self, clinic_id: str, run_date: date, owner: str, stale_after: float) -> bool:
        now = time.time()
        with self.write() as cur:
            cur.execute(
                "INSERT INTO statement_runs (clinic_id, run_date, status, owner, started_at) "
                "VALUES (?, ?, 'running', ?, ?) ON CONFLICT (clinic_id, run_date) DO UPDATE "
                "SET owner = excluded.owner, started_at = excluded.started_at "
                "WHERE statement_runs.status = 'running' "
                "AND (statement_runs.owner = excluded.owner OR statement_runs.started_at < ?) RETURNING owner",
                (clinic_id, run_date.isoformat(), owner, now, now - stale_after),
            )
            return cur.fetchone() is not None

    def finish_statement_run(self, clinic_id: str, run_date: date, owner: str, summary: dict[str, Any]) -> None:
        with self.write() as cur:
            cur.execute(
                "UPDATE statement_runs SET status = 'done', finished_at = ?, summary = ? "
                "WHERE clinic_id = ? AND run_date = ? AND owner = ?",
                (time.time(), to_json(summary), clinic_id, run_date.isoformat(), owner),
            )

    def statement_runs(self, clinic_id: str | None = None, limit: int = 50) -> list[StatementRun]:
        where, args = ("WHERE clinic_id = ?", (clinic_id,)) if clinic_id else ("", ())
        with self.read() as cur:
            cur.execute(
                "SELECT clinic_id, run_date, status, owner, started_at, finished_at, summary FROM statement_runs "
                f"{where} ORDER BY run_date DESC, clinic_id LIMIT ?",
                (*args, limit),
            )
            return [
                StatementRun(c, date.fromisoformat(d), s, o, float(st), None if f is None else float(f), json.loads(sm))
                for c, d, s, o, st, f, sm in cur.fetchall()
            ]

    def payers_paid(self, clinic_id: str, claims: Sequence[str]) -> dict[str, list[tuple[int, str, Decimal]]]:
        paid: dict[str, dict[int, Decimal]] = {}
        names: dict[tuple[str, int], str] = {}
        with self.read() as cur:
            for part in chunks(sorted(set(claims))):
                m = marks(len(part))
                cur.execute(
                    "SELECT l.clm01, l.payer_seq, l.amount, r.payer_name, r.payer_id FROM ledger l "
                    "LEFT JOIN remits r ON r.id = l.remit_id "
                    f"WHERE l.clinic_id = ? AND l.kind = 'payment' AND l.clm01 IN ({m}) ORDER BY l.id",
                    (clinic_id, *part),
                )
                for clm01, seq, amount, name, payer in cur.fetchall():
                    places = paid.setdefault(clm01, {})
                    places[int(seq)] = places.get(int(seq), Decimal("0.00")) + Decimal(amount)
                    if name or payer:
                        names[(clm01, int(seq))] = name or payer
                cur.execute(
                    f"SELECT clm01, payer_seq, payer_id FROM claims WHERE clinic_id = ? AND clm01 IN ({m})",
                    (clinic_id, *part),
                )
                for clm01, seq, payer in cur.fetchall():
                    names.setdefault((clm01, int(seq)), payer or f"payer {seq}")
        return {
            clm01: [(seq, names.get((clm01, seq), f"payer {seq}"), amount) for seq, amount in sorted(places.items())
                    if amount != 0]
            for clm01, places in paid.items()
        }  # fmt: skip

    def account_parties(self, clinic_id: str, claims: Sequence[str], statements: Sequence[str]) -> dict[str, Any]:
        with self.read() as cur:
            if claims:
                cur.execute(
                    "SELECT e.encounter, e.message_id, e.idx FROM claims c JOIN encounters e ON e.id = c.encounter_row "
                    f"WHERE c.clinic_id = ? AND c.clm01 IN ({marks(len(claims))}) ORDER BY c.id DESC LIMIT 1",
                    (clinic_id, *claims),
                )
                row = cur.fetchone()
                enc = json.loads(self.open("encounters.encounter", row[0], ref(row[1], row[2]))) if row else {}
                patient = enc.get("patient")
                if patient:
                    guarantor = enc.get("guarantor") or {
                        "name": patient["name"], "address": patient.get("address"), "relationship": "self",
                        "email": patient.get("email"),
                    }  # fmt: skip
                    return {"patient": patient, "guarantor": guarantor}
            if statements:
                cur.execute(
                    f"SELECT statement, {ROW_KEY['statements']} FROM statements "
                    f"WHERE clinic_id = ? AND statement_id IN ({marks(len(statements))}) ORDER BY id DESC LIMIT 1",
                    (clinic_id, *statements),
                )
                row = cur.fetchone()
                if row is not None:
                    body, *key = row
                    st = json.loads(self.open("statements.statement", body, row_ref(*key)))
                    if st.get("patient") and st.get("guarantor"):
                        return {"patient": st["patient"], "guarantor": st["guarantor"]}
        return {}
