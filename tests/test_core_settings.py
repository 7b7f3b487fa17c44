"""The core reads no plugin's settings: payment terms and per-payer claim
routing come through hooks (gateway_statement_terms, gateway_claim_destination)."""

from __future__ import annotations

import types
from datetime import date, timedelta
from pathlib import Path

import pytest

from gateway import hookimpl
from gateway.app import Gateway
from gateway.delivery.batcher import Batcher
from gateway.examples import FIXTURES
from gateway.messages import MemoryRecords, MessageMeta
from gateway.plugins import PluginError
from gateway.store import SQLiteStore

TODAY = date(2026, 11, 27)


def _statement_due(gw: Gateway) -> date:
    raw = (FIXTURES / "encounters" / "lakeside-selfpay.json").read_bytes()
    (enc,) = gw.pipeline.process(raw, MessageMeta(source="t", today=TODAY), MemoryRecords()).encounters
    (st,) = enc.statements
    return st.due_date


def test_terms_days_come_from_the_statements_plugin_settings(example_config: Path) -> None:
    assert _statement_due(Gateway.from_config(example_config)) == TODAY + timedelta(days=30)
    text = example_config.read_text()
    # lakeside has no terms of its own (the plugin's default, 30): give it 45 days
    text = text.replace(
        "        logo: statements/lakeside-logo.png\n",
        "        logo: statements/lakeside-logo.png\n        terms_days: 45\n",
    )
    example_config.write_text(text)
    gw = Gateway.from_config(example_config)
    assert gw.pipeline.terms_days["lakeside"] == 45
    assert _statement_due(gw) == TODAY + timedelta(days=45)


def test_a_terms_hook_answer_sets_the_due_date(example_config: Path) -> None:
    terms = types.SimpleNamespace(
        gateway_statement_terms=hookimpl(lambda clinic: 10 if clinic.id == "lakeside" else None)
    )
    gw = Gateway.from_config(example_config, extra_plugins=[("terms", terms)])
    assert gw.pipeline.terms_days == {"riverside": 30, "lakeside": 10}  # riverside: the statements plugin's 30
    assert _statement_due(gw) == TODAY + timedelta(days=10)


def test_bad_terms_answer_is_a_start_up_error(example_config: Path) -> None:
    bad = types.SimpleNamespace(gateway_statement_terms=hookimpl(lambda clinic: "soon"))
    with pytest.raises(PluginError, match="gateway_statement_terms returned 'soon'"):
        Gateway.from_config(example_config, extra_plugins=[("bad_terms", bad)])


def test_claim_destination_by_payer_from_the_payer_directory_and_from_a_hook(example_config: Path) -> None:
    deploy = example_config.parent
    text = example_config.read_text().replace(
        "destinations:\n",
        "destinations:\n  medicare-out:\n    transport: folder\n    format: x12-837p\n    path: outbox/mcr\n",
    )
    example_config.write_text(text)
    payers = (deploy / "payers.yaml").read_text()
    payers = payers.replace("    name: Example Medicare Part B Contractor\n",
                            "    name: Example Medicare Part B Contractor\n    destination: medicare-out\n")  # fmt: skip
    (deploy / "payers.yaml").write_text(payers)
    gw = Gateway.from_config(example_config)
    batcher = Batcher(gw, SQLiteStore(deploy / "s.sqlite"))
    assert batcher.destination("claims", "riverside", "EXMEDB01") == "medicare-out"  # payers plugin
    assert batcher.destination("claims", "riverside", "EXPAYER1") == "claims-out"  # not in the directory's routes
    assert batcher.destination("statements", "riverside", None) == "statements-out"

    route = types.SimpleNamespace(
        gateway_claim_destination=hookimpl(
            lambda payer_id, clinic: {"EXPAYER1": "medicare-out", "EXBCBS01": "nowhere"}.get(payer_id)
        )
    )
    gw = Gateway.from_config(example_config, extra_plugins=[("route", route)])
    batcher = Batcher(gw, SQLiteStore(deploy / "s2.sqlite"))
    assert batcher.destination("claims", "lakeside", "EXPAYER1") == "medicare-out"
    assert batcher.destination("claims", "lakeside", "EXBCBS01") == "claims-out"  # not a configured destination
