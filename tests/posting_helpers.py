"""Shared by the posting tests: claims out with `gateway process`, the payer
simulator's answers back in, and the store's view of every claim."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner
from gateway_plugins.inbound.x12_responses.simulate import Simulation, simulate_payer
from gateway_plugins.inbound.x12_responses.write import Party, interchange, remit_segments

from gateway.cli import cli
from gateway.examples import write_example_deployment
from gateway.model import Remit835
from gateway.store import FILE_NAME, Store, open_store
from gateway.store.remits import Money, claim_money
from tests.conftest import TODAY
from tests.delivery_helpers import hl7_visit


def process(config: Path, out: Path, *inputs: Path, code: int | None = 0) -> str:
    """`gateway process` (one-shot, on the deployment's store)."""
    args = ["process", "--config", str(config), "--out", str(out), "--today", TODAY.isoformat(), *map(str, inputs)]
    result = CliRunner().invoke(cli, args)
    if code is not None:
        assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.output


@dataclass
class Loop:
    """A deployment whose claims went out, and the simulator's answers."""

    config: Path
    root: Path
    claims: list[Path]
    sim: Simulation
    responses: Path

    def store(self) -> Store:
        return open_store(self.config.parent / "state" / FILE_NAME)

    def files(self, kind: str) -> list[Path]:
        """The answers of one kind (999, 277CA, 835), in the order a payer sends them."""
        return sorted(p for p in self.responses.iterdir() if f".{kind}." in p.name)


def claims_out(root: Path, visits: int, config: Path | None = None) -> Loop:
    """``visits`` insured visits billed with `gateway process`, answered by the simulator."""
    config = config or write_example_deployment(root / "deploy")
    inputs = root / "visits"
    inputs.mkdir(parents=True)
    for i in range(visits):
        (inputs / f"visit-{i}.hl7").write_bytes(hl7_visit(i))
    process(config, root / "out", inputs)
    x12 = sorted((root / "out" / "claims-out").glob("*.x12"))
    assert x12, "no 837 written"
    sim = simulate_payer(x12, root / "responses")
    return Loop(config, root, x12, sim, root / "responses")


def money(store: Store, clinic: str, clm01: str) -> tuple[Money, dict[int, Money]]:
    return claim_money(store.ledger(clinic, clm01))


def assert_balanced(m: Money) -> None:
    """charge = paid + Σ adjustments + balance, to the cent."""
    total = m.paid + sum((a for _, _, a in m.adjustments), Decimal("0")) + m.balance
    assert total == m.charge, (m.charge, m.paid, m.adjustments, m.balance)
    for v in (m.charge, m.paid, m.balance):
        assert v == v.quantize(Decimal("0.01"))


def settled_status(store: Store, clinic: str, clm01: str) -> str:
    """The status of a claim the payers are done with: ``patient_due`` while
    its patient balance (the guarantor account's rows for it) is above zero,
    else ``closed``."""
    view = store.account(clinic, store.account_of(clinic, clm01) or "")
    owed = [i.patient_balance for i in view.items if i.key == clm01] if view else []
    return "patient_due" if owed and owed[0] > 0 else "closed"


def write_remit(path: Path, remits: list[Remit835], control: int, payer: str = "EXPAYER1") -> Path:
    """An 835 file of ``remits`` (one transaction set each)."""
    text = interchange(
        "835", [remit_segments(r) for r in remits], sender=Party(payer), receiver=Party("EXBILL01"),
        control=control, created=datetime(2026, 12, 20, 6, 0),
    )  # fmt: skip
    path.write_text(text)
    return path
