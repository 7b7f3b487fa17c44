"""The alerting rules and dashboard of docs/alerts/: promtool accepts the
rules and their unit tests, and every metric they name is served by /metrics."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.console_helpers import Console, seed

ALERTS = Path(__file__).resolve().parent.parent / "docs" / "alerts"
METRIC = re.compile(r"\bgateway_[a-z_]+")


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is missing: Debian's `prometheus` package provides it (scripts/setup.sh installs it)")
    return path


def test_promtool_checks_the_rules_and_their_unit_tests() -> None:
    check = subprocess.run(
        [promtool(), "check", "rules", str(ALERTS / "gateway.rules.yml")], capture_output=True, text=True
    )
    assert check.returncode == 0 and "SUCCESS: 10 rules found" in check.stdout, check.stdout + check.stderr
    unit = subprocess.run([promtool(), "test", "rules", "gateway.rules.test.yml"], cwd=ALERTS, capture_output=True,
                          text=True)  # fmt: skip
    assert unit.returncode == 0 and "SUCCESS" in unit.stdout, unit.stdout + unit.stderr


def named_metrics() -> set[str]:
    rules = (ALERTS / "gateway.rules.yml").read_text()
    dash = json.loads((ALERTS / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]] + [
        dash["templating"]["list"][1]["query"]["query"]
    ]
    names = set(METRIC.findall(rules)) | {m for e in exprs for m in METRIC.findall(e)}
    return {re.sub(r"_(bucket|sum|count)$", "", n) for n in names}


def test_every_metric_the_rules_and_dashboard_name_is_served(tmp_path: Path) -> None:
    from gateway.examples import write_example_deployment

    config = write_example_deployment(tmp_path / "d")
    seed(config)
    c = Console(config)
    try:
        text = c.client().get("/metrics").text
    finally:
        c.close()
    served = set(re.findall(r"^# TYPE (gateway_[a-z_]+) ", text, flags=re.M))
    named = named_metrics()
    assert len(named) >= 10
    assert named <= served, f"named but not served: {sorted(named - served)}"
    # and the per-clinic series carry values for the seeded clinics
    assert 'gateway_quarantined_messages{clinic="riverside",rule="SCRUB-NPI"} 1' in text
    assert re.search(r'gateway_last_received_timestamp_seconds\{clinic="lakeside",source="test"\} \d', text)
    assert re.search(r'gateway_clinic_outbox_oldest_pending_seconds\{clinic="riverside"\} \d', text)
