"""Billing the next payer after an 835: secondary and tertiary submissions
(and crossovers, which wait for the next payer's own 835).

:meth:`SQLSecondary._bill_next_payer` is called by
:meth:`gateway.store.sql_remits.SQLRemits._after_adjudication` inside the
posting transaction; the claim itself is built by the pure
:mod:`gateway.secondary`. What it does for a claim whose payer of place k
answered and left something to the patient while the claim has a coverage
of place k + 1:

* a **secondary** (tertiary): the claim to payer k + 1 (same CLM01,
  ``payer_seq`` k + 1, version 1, frequency 1) is stored ``waiting``; its
  ledger gets the ``charge`` entries and one ``prior_payer`` entry (OA-23)
  of charge − what payer k left, so its balance is what it is asked to
  cover. The batcher releases it to ``created`` once its payer's
  ``delay_days`` are over (:meth:`release_next_payer`) and sends it like any
  claim, routed by its payer id. An earlier payer's answer that does not
  balance (5010) bills nothing: the event ``secondary_not_billed`` says why;
* a **crossover** (CLP02 19/20/21 or NM1*TT): the same submission and
  ledger, stored ``crossover``: never sent, the next payer's 835 posts on it;
* a second answer of payer k (a correction) once the next submission
  exists: an event only (nothing is billed twice; a changed claim goes
  through ``gateway claims resolve``).

Events ``secondary_billed`` (or ``crossover``) go on both submissions; their
details hold places, rows, amounts and codes only (no patient data).
"""

from __future__ import annotations

import time
from datetime import date
from decimal import Decimal
from typing import Any

from gateway.model import Claim
from gateway.responsibility import Adjudication, Step
from gateway.secondary import next_payer_claim, without_claim_numbers
from gateway.store.codec import ref
from gateway.store.outbox import WaitingItem
from gateway.store.sql_remits import _INSERT_LEDGER, _UPSERT_BALANCE, _Sent
from gateway.store.sql_submissions import INSERT_COLUMNS, ROW_KEY
from gateway.store.sqlbase import Event, SQLBase, lane_clause
from gateway.store.sqlbase import money_text as _money
from gateway.store.submissions import content_digest


class SQLSecondary(SQLBase):
    """The next payer's submission (see the module doc)."""

    #: provided by :class:`gateway.store.sql_submissions.SQLSubmissions` (PostgreSQL: FOR UPDATE)
    _lock_clause: str
    _insert_items: Any
    #: provided by :class:`gateway.store.sql_remits.SQLRemits`
    _charges: Any

    def _bill_next_payer(self, cur: Any, adj: Adjudication, step: Step, source: str, actor: str, now: float) -> None:
        """Create the submission of payer place ``step.next_seq`` for ``adj``'s
        claim (``secondary``), or record that the payer forwarded it (``crossover``)."""
        nxt = step.next_seq
        assert nxt is not None
        cur.execute(
            "SELECT id, status FROM claims WHERE clinic_id = ? AND clm01 = ? AND payer_seq = ? ORDER BY version",
            (adj.clinic_id, adj.clm01, nxt),
        )
        existing = cur.fetchall()
        base = {"payer_seq": nxt, "remit": adj.remit_id, "clp02": adj.clp.status}
        if existing:  # a later answer of this payer (a correction): the next payer was billed already
            detail = {**base, "row": int(existing[-1][0]), "status": existing[-1][1]}
            self._events(cur, "claims", [(adj.claim_row, "next_payer_exists", None, source, actor, detail)], now)
            return
        cur.execute(
            "SELECT c.claim, c.encounter_row, c.message_id, c.account, m.lane, r.payment_date, c.clinic_id, c.clm01, "
            "c.payer_seq, c.version FROM claims c, remits r, messages m WHERE c.id = ? AND r.id = ? "
            "AND m.id = r.message_id",
            (adj.claim_row, adj.remit_id),
        )
        body, encounter_row, message_id, account, lane, paid_on, *key = cur.fetchone()
        earlier = Claim.model_validate_json(self.open("claims.claim", body, ref(*key)))
        adjudicated = date.fromisoformat(paid_on) if paid_on else date.fromtimestamp(now)
        claim, problems = next_payer_claim(earlier, adj.clp.model(), adjudicated)
        crossover = step.kind == "crossover"
        if claim is None or (problems and not crossover):
            detail = {**base, "problems": problems}
            self._events(cur, "claims", [(adj.claim_row, "secondary_not_billed", None, source, actor, detail)], now)
            return
        status = "crossover" if crossover else "waiting"
        text = claim.model_dump_json(exclude_none=True)
        values = dict(
            clinic_id=adj.clinic_id, clm01=adj.clm01, payer_seq=nxt, version=1, frequency_code="1",
            original_reference=None, digest=content_digest("claims", text), encounter_row=encounter_row,
            message_id=message_id, payer_id=claim.payer.id, total_charge=str(claim.total_charge), status=status,
            claim=self.seal("claims.claim", text, ref(adj.clinic_id, adj.clm01, nxt, 1)), lane=lane,
            created_at=now, updated_at=now, account=account, rendered=None,
        )  # fmt: skip
        (row,) = self._insert_items(cur, "claims", [tuple(values[c] for c in INSERT_COLUMNS["claims"])])
        prior = claim.total_charge - step.amount
        sent = _Sent(row, adj.clm01, nxt, status, str(claim.total_charge), message_id)
        entries = self._charges(sent, [ln.charge or Decimal(0) for ln in claim.service_lines])
        entries.append((None, "prior_payer", "OA", "23", prior))
        note = f"earlier payers' part (payer place {adj.payer_seq})"
        cur.executemany(
            _INSERT_LEDGER,
            [(adj.clinic_id, adj.clm01, nxt, row, ln, kind, g, r, _money(amt), None, source, actor,
              note if kind == "prior_payer" else None, now)
             for ln, kind, g, r, amt in entries],
        )  # fmt: skip
        cur.execute(_UPSERT_BALANCE, (adj.clinic_id, adj.clm01, nxt, row, _money(claim.total_charge), "0.00",
                                      _money(step.amount), None, now))  # fmt: skip
        kind = "crossover" if crossover else "secondary_billed"
        amounts: dict[str, Any] = {"charge": _money(claim.total_charge), "prior_payer": _money(prior),
                                   "balance": _money(step.amount)}  # fmt: skip
        if crossover and adj.clp.crossover_payer:
            amounts["crossover_payer"] = adj.clp.crossover_payer
        if problems:  # a crossover's, kept for the record: the crossover payer answers, nothing is sent
            amounts["problems"] = problems
        after = {"after_payer_seq": adj.payer_seq, "after_row": adj.claim_row, "remit": adj.remit_id}
        events: list[Event] = [
            (row, kind, status, source, actor, {**after, **amounts}),
            (adj.claim_row, kind, None, source, actor, {**base, "row": row, **amounts}),
        ]
        self._events(cur, "claims", events, now)

    # -- the batcher's side ------------------------------------------------------
    def next_payer_waiting(self, lane: str | None = None) -> list[WaitingItem]:
        where, args = lane_clause(lane)
        with self.read() as cur:
            cur.execute(
                f"SELECT id, clinic_id, payer_id, created_at FROM claims WHERE status = 'waiting' AND {where} "
                "ORDER BY id",
                args,
            )
            return [WaitingItem(int(r), c, p, float(t)) for r, c, p, t in cur.fetchall()]

    def release_next_payer(
        self, row: int, *, claim_numbers: bool, detail: dict[str, Any] | None = None, actor: str = "batcher"
    ) -> bool:
        now = time.time()
        with self.write() as cur:
            cur.execute(f"SELECT status, message_id, claim, {ROW_KEY['claims']} FROM claims WHERE id = ?"
                        f"{self._lock_clause}", (row,))  # fmt: skip
            found = cur.fetchone()
            if found is None or found[0] != "waiting":
                return False
            _, message_id, body, *key = found
            if not claim_numbers:
                text = without_claim_numbers(self.open("claims.claim", body, ref(*key)))
                sealed = self.seal("claims.claim", text, ref(*key))
                cur.execute("UPDATE claims SET claim = ?, digest = ?, rendered = NULL WHERE id = ?",
                            (sealed, content_digest("claims", text), row))  # fmt: skip
            cur.execute("UPDATE claims SET status = 'created', updated_at = ? WHERE id = ? AND status = 'waiting'",
                        (now, row))  # fmt: skip
            self._events(cur, "claims", [(row, "released", "created", None, actor,
                                          {**(detail or {}), "claim_numbers": claim_numbers})], now)  # fmt: skip
            self._settle_messages(cur, [int(message_id)], actor, now)
        return True
