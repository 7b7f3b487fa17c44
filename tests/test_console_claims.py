"""The console's claim page after the loop closed (the real payer
simulator's 999/277CA/835 posted to a real SQLite store): the lifecycle
timeline and the ledger by line, its amounts against the 835 itself;
scoped per clinic (404 across clinics); patient data views audited."""

from __future__ import annotations

import html as html_lib
import re
from decimal import Decimal
from pathlib import Path

import pytest

from tests.console_helpers import Client, Console
from tests.remits_helpers import Loop, closed_loop


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory):
    loop = closed_loop(tmp_path_factory.mktemp("console-loop"))
    console = Console(loop.config, loop.store_url)
    console.user("ria", "operator", ["riverside"])
    console.user("leo", "operator", ["lakeside"])
    console.user("vic", "viewer", ["riverside"])
    clients = {}
    for user in ("ria", "leo", "vic"):  # one login each: logins are rate-limited per address
        clients[user] = console.client()
        assert clients[user].login(user).status_code in (200, 303)
    console.as_user = clients  # type: ignore[attr-defined]
    yield loop, console
    console.close()


def as_user(console: Console, user: str) -> Client:
    return console.as_user[user]  # type: ignore[attr-defined]


def claim_rows(console: Console, user: str, clinic: str) -> dict[str, int]:
    rows = as_user(console, user).get(f"/api/v1/claims?clinic={clinic}&limit=500").json()
    return {r["clm01"]: r["id"] for r in rows}


def text_of(html: str) -> str:
    return html_lib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def test_a_partly_paid_claim_shows_its_timeline_and_ledger_by_line(site: tuple[Loop, Console]) -> None:
    loop, console = site
    rows = claim_rows(console, "ria", "riverside")
    paid = [c for r in loop.remits() for c in r.claims if c.claim_id in rows and c.status == "1"
            and any(a.group == "PR" and a.reason == "1" for a in c.all_adjustments())]  # fmt: skip
    clp = paid[0]
    c = as_user(console, "ria")
    page = c.get(f"/ui/claims/{rows[clp.claim_id]}")
    assert page.status_code == 200
    body = text_of(page.text)
    timeline = body.split("Lifecycle")[1].split("Ledger")[0]
    for status in ("batched", "delivered", "accepted_999", "acknowledged_277", "closed"):
        assert status in timeline, status
    ledger = body.split("Ledger")[1]
    assert "payer payment" in ledger and "the patient's deductible" in ledger and "PR-1" in ledger
    total = re.search(r"claim total: charge ([\d.]+) · paid ([\d.]+) · patient ([\d.]+) · adjusted ([\d.]+) · "
                      r"balance ([-\d.]+)", ledger)  # fmt: skip
    assert total, ledger
    charge, paid_amount, patient, adjusted, balance = (Decimal(g) for g in total.groups())
    assert (charge, paid_amount, balance) == (clp.charge, clp.paid, Decimal("0.00"))
    pr = sum((a.amount for a in clp.all_adjustments() if a.group == "PR"), Decimal(0))
    assert patient == pr and charge - paid_amount - patient - adjusted == balance
    lines = re.findall(r"line (\d+): charge ([\d.]+) · paid ([\d.]+)", ledger)
    assert [(Decimal(ch), Decimal(p)) for _, ch, p in lines] == [(ln.charge, ln.paid) for ln in clp.lines]


def test_a_denied_claim_keeps_its_balance_open_with_the_reason_in_words(site: tuple[Loop, Console]) -> None:
    loop, console = site
    (denied,) = [c for r in loop.remits() for c in r.claims if c.status == "4"]
    clinic = "riverside" if denied.claim_id in claim_rows(console, "ria", "riverside") else "lakeside"
    user = "ria" if clinic == "riverside" else "leo"
    row = claim_rows(console, user, clinic)[denied.claim_id]
    c = as_user(console, user)
    body = text_of(c.get(f"/ui/claims/{row}").text)
    assert "denied" in body.split("Lifecycle")[1].split("Ledger")[0]
    assert "a charge the plan does not cover" in body and f"balance {denied.charge:.2f}" in body


def test_claim_pages_are_scoped_per_clinic_and_audited(site: tuple[Loop, Console]) -> None:
    _, console = site
    river = claim_rows(console, "ria", "riverside")
    leo = as_user(console, "leo")
    some = next(iter(river.values()))
    assert leo.get(f"/ui/claims/{some}").status_code == 404
    assert leo.get(f"/api/v1/claims/{next(iter(river))}").status_code == 404
    before = console.accounts.audit_rows(limit=1)[0].id
    ria = as_user(console, "ria")
    assert ria.get(f"/ui/claims/{some}").status_code == 200
    rows = [r for r in console.accounts.audit_rows(limit=20) if r.id > before and r.actor == "ria"]
    assert [(r.action, r.clinic_id) for r in rows if r.action == "viewed-claim"] == [("viewed-claim", "riverside")]
    vic = as_user(console, "vic")
    page = vic.get(f"/ui/claims/{some}")
    assert page.status_code == 200 and "Ledger" in page.text and "Testperson" not in page.text


def test_the_claim_page_names_no_patient_in_the_timeline_or_ledger(site: tuple[Loop, Console], tmp_path: Path) -> None:
    _, console = site
    ria = as_user(console, "ria")
    for row in list(claim_rows(console, "ria", "riverside").values())[:5]:
        html = ria.get(f"/ui/claims/{row}").text
        own = html.split('id="timeline"')[1].split("<details")[0]
        assert "Testperson" not in own and "Dummyfield" not in own


def test_the_api_gives_the_shape_of_claims_show_json(site: tuple[Loop, Console]) -> None:
    loop, console = site
    ria = as_user(console, "ria")
    for clm01 in list(claim_rows(console, "ria", "riverside"))[:6]:
        api = ria.get(f"/api/v1/claims/{clm01}").json()
        assert api == loop.json("claims", "show", clm01, "--clinic", "riverside", "--json")
        for key in ("id", "clinic", "status", "charge", "paid", "adjustments", "patient_responsibility", "balance",
                    "events", "lines"):  # fmt: skip
            assert key in api, key
    assert ria.get("/api/v1/claims/NO-SUCH-CLAIM").status_code == 404
