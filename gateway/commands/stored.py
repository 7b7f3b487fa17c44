"""Claims and statements in the store: ``claims``, ``statements``
(gateway/claims_cli.py) and the remittance commands ``remits``, ``ar`` and
``claims follow-up`` (gateway/remits_cli.py), registered together because
the latter add to the ``claims`` group."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    """Add ``claims``, ``statements``, ``remits`` and ``ar`` to ``group``."""
    from gateway.claims_cli import register as register_claims
    from gateway.remits_cli import register as register_remits

    register_claims(group)
    register_remits(group)
