"""A deployment whose claims went out and whose payer answers (the real
payer simulator's 999, 277CA and 835 files) came back through the same
driver and store, for the remittance operator tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from gateway_plugins.inbound.x12_responses import read_responses
from gateway_plugins.inbound.x12_responses.simulate import simulate_payer

from gateway.app import Gateway
from gateway.cli import cli
from gateway.examples import demo_inputs, write_example_deployment
from gateway.model import Remit835
from gateway.oneshot import Input, OneShot
from gateway.store import FILE_NAME, open_store


@dataclass
class Loop:
    config: Path
    store_url: str
    out: Path
    responses: Path
    gateway: Gateway

    def cli(self, *args: str) -> str:
        result = CliRunner().invoke(cli, [*args, "--config", str(self.config), "--store", self.store_url])
        assert result.exit_code == 0, result.output
        assert "Traceback" not in result.output
        return result.output

    def json(self, *args: str) -> Any:
        return json.loads(self.cli(*args))

    def remits(self) -> list[Remit835]:
        """Every 835 transaction set the simulator wrote, read by our reader."""
        return [d for p in sorted(self.responses.glob("*.835.x12")) for d in read_responses(p.read_bytes()).documents
                if isinstance(d, Remit835)]  # fmt: skip

    def open(self) -> Any:
        return open_store(self.store_url, self.config.parent, self.gateway.loaded.state_dir)


def closed_loop(root: Path, store_url: str | None = None, answer: tuple[str, ...] = ("999", "277CA", "835")) -> Loop:
    """The example deployment's fixtures billed, answered by the payer
    simulator, and the answers of the kinds in ``answer`` posted."""
    config = write_example_deployment(root / "deployment")
    gw = Gateway.from_config(config)
    url = store_url or str(gw.loaded.state_dir / FILE_NAME)
    out = root / "out"
    with open_store(url, config.parent, gw.loaded.state_dir) as store:
        summary = OneShot(gw, store, out).run([Input(p, p.name) for p in demo_inputs()])
        claim_files = [out / folder / name for folder, name in summary.outputs if name.endswith(".x12")]
        assert claim_files
        responses = root / "responses"
        simulate_payer(claim_files, responses, seed=0)
        chosen = [p for p in sorted(responses.iterdir()) if p.name.split(".")[-2] in answer]
        posted = OneShot(gw, store, out).run([Input(p, p.name) for p in chosen])
        assert posted.messages_quarantined == 0
    return Loop(config, url, out, responses, gw)
