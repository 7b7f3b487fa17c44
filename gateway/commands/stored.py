"""Claims and statements in the store: ``claims``, ``statements``
(gateway/claims_cli.py), the remittance commands ``remits``, ``ar`` and
``claims follow-up`` (gateway/remits_cli.py) and ``statements run``
(gateway/statements_cli.py), registered together because the latter add to
the ``claims`` and ``statements`` groups."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    """Add ``claims``, ``statements``, ``remits`` and ``ar`` to ``group``."""
    from gateway.claims_cli import register as register_claims
    from gateway.remits_cli import register as register_remits
    from gateway.statements_cli import register as register_statement_runs

    register_claims(group)
    register_remits(group)
    register_statement_runs(group)
