"""Claims and statements in the store: ``gateway claims`` (with the
remittance side's ``follow-up``) and ``gateway statements``."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    """Add ``claims`` and ``statements`` (gateway/claims_cli.py) and ``claims
    follow-up`` (gateway/remits_cli.py) to ``group``."""
    from gateway.claims_cli import register as claims_and_statements
    from gateway.remits_cli import follow_up

    claims_and_statements(group)
    claims = group.commands["claims"]
    assert isinstance(claims, click.Group)
    claims.add_command(follow_up)
