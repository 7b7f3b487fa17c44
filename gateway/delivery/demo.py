"""``gateway demo``: the example deployment end to end, on the same driver as
``gateway process`` (:class:`gateway.oneshot.OneShot`: journal → worker →
batcher → outbox → dispatcher, in-process).

The example deployment is written to ``OUT/deployment``; every fixture goes
through it and the documents land in ``OUT/<destination>`` (a local folder
stands in for the clearinghouse and the print vendor). The demo's store starts
empty each run, so every run shows everything again; its control numbers
carry on, so ISA13 never repeats across runs.

Then the loop closes: the payer simulator (``gateway dev simulate-payer``)
answers the claim files with 999, 277CA and 835 files in ``OUT/responses``,
and those go through the same driver and store, where they are posted; the
demo ends with each claim's status and the follow-up list.

Secondary claims (issue 14): a visit with two coverages gets a PR
coinsurance from its primary; posting that 835 creates the secondary claim,
which the same run's batcher sends (OUT/claims-out). The simulator answers
those files too (OUT/responses-secondary) and the answers are posted:
:func:`secondary_round`.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

from gateway.adjustment_codes import codes_for
from gateway.app import Gateway
from gateway.claim_reports import follow_up_list, today
from gateway.examples import FIXTURES
from gateway.oneshot import Input, OneShot, RunSummary
from gateway.store import FILE_NAME, SQLiteStore
from gateway.store.submissions import NOT_SENT, SubmissionFilter


def _fresh_store(state_dir: Path) -> SQLiteStore:
    """An empty store for the demo's deployment, its control numbers carried on."""
    numbers: dict[tuple[str, str], int] = {}
    if (state_dir / FILE_NAME).exists():
        with SQLiteStore(state_dir / FILE_NAME) as old:
            numbers = old.number_values()
    for suffix in ("", "-wal", "-shm"):
        (state_dir / (FILE_NAME + suffix)).unlink(missing_ok=True)
    store = SQLiteStore(state_dir / FILE_NAME)
    store.adopt_numbers(numbers)
    return store


def _name(path: Path) -> str:
    try:
        return path.resolve().relative_to(FIXTURES.resolve()).as_posix()
    except ValueError:
        return path.name


def close_the_loop(gw: Gateway, store: Any, out_dir: Path, claim_files: list[Path]) -> dict[str, Any]:
    """Answer ``claim_files`` with the payer simulator into ``OUT/responses``,
    post the answers through the same driver and store, and report: the
    claims' statuses, the follow-up list and the response files."""
    from gateway_plugins.inbound.x12_responses.simulate import simulate_payer

    sim = simulate_payer(claim_files, out_dir / "responses", seed=0)
    answers = sorted((out_dir / "responses").iterdir())
    posted = OneShot(gw, store, out_dir).run([Input(p, f"responses/{p.name}") for p in answers])
    secondary = secondary_round(gw, store, out_dir, posted)
    patients = patient_round(gw, store, out_dir, secondary["claims"])
    statuses: Counter[str] = Counter()
    for clinic in gw.clinics:
        for key in {s.key for s in store.list_submissions("claims", _all_claims(clinic))}:
            sent = [s for s in store.submissions("claims", clinic, key) if s.status not in NOT_SENT]
            if sent:
                statuses[sent[-1].status] += 1
    report = follow_up_list(store, gw.clinics, codes_for(gw.loaded), today())
    return {
        "responses": len(answers),
        "remits": len(sim.remits),
        "response_messages_quarantined": posted.messages_quarantined,
        "claim_statuses": dict(sorted(statuses.items())),
        "follow_up": [
            {"claim": i.claim_id, "clinic": i.clinic, "awaiting": i.awaiting, "status": i.status}
            for i in report.overdue
        ],
        "denied": [
            {"reason": g.reason, "description": g.description, "claims": [c.claim_id for c in g.claims]}
            for g in report.denied
        ],
        "secondary": secondary,
        "patients": patients,
    }


def secondary_round(gw: Gateway, store: Any, out_dir: Path, posted: RunSummary) -> dict[str, Any]:
    """The secondary claims the primaries' 835s created (the 837 files the
    posting run sent), answered by the payer simulator into
    OUT/responses-secondary and posted: what went out and what came back."""
    from gateway_plugins.inbound.x12_responses.simulate import simulate_payer

    files = [out_dir / folder / name for folder, name in posted.outputs if name.endswith(".x12")]
    if not files:
        return {"files": [], "claims": [], "paid": "0.00", "response_messages_quarantined": 0}
    sim = simulate_payer(files, out_dir / "responses-secondary", seed=1)
    answers = sorted((out_dir / "responses-secondary").iterdir())
    again = OneShot(gw, store, out_dir).run([Input(p, f"responses-secondary/{p.name}") for p in answers])
    paid = sum((c.paid for r in sim.remits for c in r.claims), Decimal("0.00"))
    return {
        "files": [f"{f.parent.name}/{f.name}" for f in files],
        "claims": sorted(sim.outcomes),
        "paid": str(paid),
        "response_messages_quarantined": again.messages_quarantined,
    }


def patient_round(gw: Gateway, store: Any, out_dir: Path, secondary_claims: list[str]) -> dict[str, Any]:
    """What the patients owe once the payers are done: today's statement run
    from the account ledger (statements delivered like any document), then a
    lockbox file (OUT/payments/lockbox.csv) paying the account of the first
    claim the secondary payer answered, which brings it to 0 and closes the claim."""
    from gateway.payments import read_payments
    from gateway.statement_runs import run_all

    runs = run_all(gw, store, today(), "demo")
    statements = [a for r in runs for a in r.accounts if a.document]
    delivered, failed = _deliver_into(gw, store, out_dir)
    out: dict[str, Any] = {
        "statements": len(statements),
        "delivered": delivered,
        "delivery_failed": failed,
        "payment": None,
    }
    for clinic in sorted(gw.clinics):
        for claim in secondary_claims:
            item = store.claim_view(clinic, claim)
            account = store.account_of(clinic, claim)
            if item is None or account is None or item.patient_balance <= 0:
                continue
            folder = out_dir / "payments"
            folder.mkdir(parents=True, exist_ok=True)
            csv = folder / "lockbox.csv"
            csv.write_text(
                "clinic,account,date,amount,method,reference,claim\n"
                f"{clinic},{account},{today().isoformat()},{item.patient_balance},check,DEMO-LOCKBOX-1,{claim}\n"
            )
            result = store.post_payments(read_payments(csv.read_text(), csv.name, list(gw.clinics)), "demo")
            after = store.claim_view(clinic, claim)
            out["payment"] = {
                "file": f"payments/{csv.name}", "clinic": clinic, "account": account, "claim": claim,
                "insurance_paid": str(item.insurance_paid), "amount": str(item.patient_balance),
                "closed": [c["claim"] for c in _closed(result)],
                "status_after": after.status if after else None,
                "patient_balance_after": str(after.patient_balance) if after else None,
            }  # fmt: skip
            return out
    return out


def _deliver_into(gw: Gateway, store: Any, out_dir: Path) -> tuple[int, int]:
    """Deliver the outbox's due documents, each configured destination a
    folder OUT/<destination> as in the demo's one-shot run: (delivered, failed)."""
    from gateway.delivery.dispatcher import deliver_due

    def folder(destination: str) -> Any:
        return gw.folder_transport(out_dir.resolve() / Path(destination.removeprefix("folder:")).name)

    result = deliver_due(gw, store, folder, name="demo:statements")
    return result.delivered, result.retried + result.dead


def _closed(result: Any) -> list[dict[str, str]]:
    from gateway.accounts_cli import import_json

    return list(import_json(result)["closed"])


def _all_claims(clinic: str) -> SubmissionFilter:
    return SubmissionFilter(clinic, None, None, None, 100_000)


def run_demo(config: Path, inputs: list[Path], out_dir: Path) -> tuple[RunSummary, dict]:
    """Run ``inputs`` through the example deployment at ``config`` into
    ``out_dir``, then answer the claim files as a payer would and post the answers."""
    gw = Gateway.from_config(config)
    with _fresh_store(gw.loaded.state_dir) as store:
        summary = OneShot(gw, store, out_dir).run([Input(p, _name(p)) for p in inputs])
        claim_files = [out_dir / folder / name for folder, name in summary.outputs if name.endswith(".x12")]
        loop = close_the_loop(gw, store, out_dir, claim_files) if claim_files else None
    extra = {
        "seconds": summary.seconds,
        "documents": len(summary.outputs) + len(summary.not_written),
        "dead_letters": sum(1 for *_, status, _ in summary.not_written if status == "dead"),
        "pending": sum(1 for *_, status, _ in summary.not_written if status == "pending"),
        "loop": loop,
    }
    return summary, extra
