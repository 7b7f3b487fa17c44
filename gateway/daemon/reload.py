"""Reloading the configuration without a restart: SIGHUP, ``gateway reload``
and the console's button all end here.

A reload reads gateway.yaml and every mapping file again and validates them
by building a complete :class:`~gateway.app.Gateway`; a config with errors
is refused with them and the running one stays. A good one is announced by
raising the **config generation** in the store (``settings`` table, audited
with who asked and from where). Every worker compares the generation before
each claim and rebuilds its pipeline when it moved, so every message claimed
after the announcement runs on the new config, in every process and on every
node sharing the store. Daemons see it within a second (journal routing).

What a reload does not change: the listeners (``sources:``), the delivery
threads' destinations and ``console:`` settings — those need a restart, and a
reload that changes them says so.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gateway import logging as glog
from gateway.app import Gateway
from gateway.config import ConfigError
from gateway.plugins import PluginError
from gateway.store.sqlstore import SQLStore
from gateway.store.users import Accounts

log = glog.get("reload")
GENERATION = "config_generation"


@dataclass
class Loaded:
    """The outcome of reading the config again."""

    gateway: Gateway | None
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def load(config: Path) -> Loaded:
    """Build a gateway from ``config``; the problems instead when it is bad."""
    try:
        return Loaded(Gateway.from_config(config))
    except ConfigError as exc:
        return Loaded(None, list(exc.problems))
    except PluginError as exc:
        return Loaded(None, [f"plugin error: {exc}"])


def load_until_valid(config: Path, stop: threading.Event, retry: float = 2.0) -> Gateway | None:
    """The gateway of ``config``, waiting while the file on disk is invalid
    (an operator mid-edit when a worker process starts or restarts): it logs
    that once per problem set, never the problems' text, and tries again
    every ``retry`` s. None when ``stop`` is set first."""
    seen: list[str] | None = None
    while not stop.is_set():
        loaded = load(config)
        if loaded.gateway is not None:
            if seen is not None:
                glog.event(log, "config.valid_again")
            return loaded.gateway
        if loaded.problems != seen:
            glog.event(log, "config.invalid_waiting", 40, problems=len(loaded.problems))
            seen = loaded.problems
        stop.wait(retry)
    return None


def restart_needed(old: Gateway, new: Gateway) -> list[str]:
    """What changed that a reload does not apply."""
    out = []
    before = {c.id: [s.model_dump() for s in c.sources] for c in old.config.clinics}
    after = {c.id: [s.model_dump() for s in c.sources] for c in new.config.clinics}
    if before != after:
        out.append("sources changed: listeners are not restarted by a reload (restart the daemon)")
    if old.config.destinations != new.config.destinations or old.config.delivery != new.config.delivery:
        out.append("destinations or delivery changed: the delivery threads keep the old ones until a restart")
    if old.config.console != new.config.console:
        out.append("console settings changed: they apply after a restart")
    return out


def fingerprint(gw: Gateway) -> str:
    """SHA-256 (first 16 hex digits) of gateway.yaml, for the audit trail."""
    return hashlib.sha256(gw.loaded.path.read_bytes()).hexdigest()[:16]


def generation(store: SQLStore) -> int:
    value = Accounts(store).setting(GENERATION)
    return int(value) if value else 0


def announce(store: SQLStore, gw: Gateway, actor: str, ip: str | None = None) -> int:
    """Raise the config generation (audited as ``config_generation``); the new value."""
    detail = {"config": str(gw.loaded.path), "sha256": fingerprint(gw), "clinics": sorted(gw.clinics)}
    gen = Accounts(store).bump(GENERATION, actor, detail, ip)
    glog.event(log, "config.announced", generation=gen, actor=actor)
    return gen


def refused(store: SQLStore, actor: str, problems: list[str], ip: str | None = None) -> None:
    """Audit a refused reload (the problems name keys and lines, never patient data)."""
    Accounts(store).audit(actor, "config-reload-refused", {"problems": problems[:20]}, ip=ip)
    glog.event(log, "config.refused", 30, actor=actor, problems=len(problems))


class Watch:
    """Follows the config generation for one process: :meth:`check` returns
    a freshly built gateway when the generation moved, else None."""

    def __init__(self, store: SQLStore, config: Path, build: Callable[[Path], Loaded] = load) -> None:
        self.store, self.config, self.build = store, config, build
        self.generation = generation(store)

    def check(self) -> Gateway | None:
        current = generation(self.store)
        if current == self.generation:
            return None
        self.generation = current
        loaded = self.build(self.config)
        if loaded.gateway is None:  # changed again since it was validated: keep running on the old one
            glog.event(log, "config.reload_failed", 40, generation=current, problems=len(loaded.problems))
            return None
        glog.event(log, "config.reloaded", generation=current)
        return loaded.gateway
