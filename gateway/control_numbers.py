"""Persisted control numbers (ISA13, GS06, ST02…) from the store.

Every way of running — ``gateway run`` on any node, ``gateway process``,
``gateway demo`` — allocates from the store's ``control_numbers`` table
(migration 3): each ``(scope, counter)`` pair is a row whose value only ever
goes up, incremented by one atomic ``INSERT … ON CONFLICT DO UPDATE …
RETURNING`` committed before the number is handed out. So ISA13 never repeats
between nodes, processes, runs or modes, even after a crash. (Until this
release SQLite deployments kept them in ``<state_dir>/control-numbers.sqlite``;
:mod:`gateway.store.legacy` carries those counters over once.)
"""

from __future__ import annotations

from typing import Any


class StoreControlNumbers:
    """:class:`gateway.documents.ControlNumbers` over a store's
    ``next_number``/``current_number`` (``owned``: close the store with it)."""

    def __init__(self, store: Any, owned: bool = False) -> None:
        self.store = store
        self._owned = owned

    def next(self, scope: str, counter: str) -> int:
        """Allocate the next number of ``counter`` in ``scope`` (first is 1)."""
        return int(self.store.next_number(scope, counter))

    def current(self, scope: str, counter: str) -> int:
        """The last number allocated (0 when none was)."""
        return int(self.store.current_number(scope, counter))

    def close(self) -> None:
        if self._owned:
            self.store.close()

    def __enter__(self) -> StoreControlNumbers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
