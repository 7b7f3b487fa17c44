"""Loading plugins and calling hooks so that a failing plugin is named.

Plugins (built-in and third-party alike) are modules listed in the
``gateway.plugins`` entry-point group. Each entry point is loaded on its own:
one that fails to import is reported and left out, the rest load. Switch a
plugin off with ``plugins.disable`` in gateway.yaml or the environment
variable ``GATEWAY_DISABLE_PLUGINS=name,name``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import pluggy

from gateway import hookspecs
from gateway.model import Finding, Severity

ENTRY_POINT_GROUP = "gateway.plugins"
DISABLE_ENV = "GATEWAY_DISABLE_PLUGINS"


class PluginError(Exception):
    """A plugin problem found at start-up (duplicate names, misspelt hooks)."""


@dataclass
class PluginInfo:
    """What ``gateway plugins`` shows for one plugin."""

    name: str
    module: str
    distribution: str | None
    version: str | None
    hooks: list[str] = field(default_factory=list)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "module": self.module,
            "distribution": self.distribution,
            "version": self.version,
            "hooks": self.hooks,
            "error": self.error,
        }


def disabled_from_env() -> set[str]:
    return {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}


class PluginHost:
    """A plugin manager for one gateway instance (never a module global).

    ``extra`` registers plugin objects directly (tests, embedding); they are
    treated like entry-point plugins in every other respect.
    """

    def __init__(self, disable: Iterable[str] = (), extra: Iterable[tuple[str, object]] = ()) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.infos: list[PluginInfo] = []
        self.disabled = set(disable) | disabled_from_env()
        self._impls: dict[str, list[pluggy.HookImpl]] = {}
        self._load_entry_points()
        for name, plugin in extra:
            self._register(name, plugin, None, None)
        self._check()

    # -- loading ---------------------------------------------------------
    def _load_entry_points(self) -> None:
        seen: dict[str, str] = {}
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: (e.name, e.value)):
            dist = ep.dist.name if ep.dist else None
            version = ep.dist.version if ep.dist else None
            where = f"{ep.value} (distribution {dist})"
            if ep.name in seen and not seen[ep.name].startswith(f"{ep.value} "):
                raise PluginError(
                    f"two plugins are named '{ep.name}': {seen[ep.name]} and {where}; "
                    f"uninstall one or disable the name with {DISABLE_ENV}"
                )
            if ep.name in seen:
                continue  # the same distribution seen twice on sys.path
            seen[ep.name] = where
            if ep.name in self.disabled:
                continue
            try:
                module = ep.load()
            except Exception as exc:  # a broken plugin is isolated, not fatal
                self.infos.append(
                    PluginInfo(ep.name, ep.value, dist, version, error=f"failed to load: {type(exc).__name__}: {exc}")
                )
                continue
            self._register(ep.name, module, dist, version)

    def _register(self, name: str, plugin: object, dist: str | None, version: str | None) -> None:
        if name in self.disabled:
            return
        if self.pm.has_plugin(name):
            raise PluginError(f"two plugins are named '{name}'")
        self.pm.register(plugin, name=name)
        module = getattr(plugin, "__name__", type(plugin).__name__)
        hooks = sorted(h.name for h in self.pm.get_hookcallers(plugin) or [])
        self.infos.append(PluginInfo(name, module, dist, version, hooks))

    def _check(self) -> None:
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginError(
                f"plugin '{exc.plugin_name if hasattr(exc, 'plugin_name') else exc.plugin}': {exc}"
            ) from None
        for name in hookspecs.MESSAGE_HOOKS + hookspecs.STARTUP_HOOKS:
            for impl in getattr(self.pm.hook, name).get_hookimpls():
                if impl.hookwrapper or impl.wrapper:
                    raise PluginError(f"plugin '{impl.plugin_name}': wrappers are not supported on {name}")

    @property
    def broken(self) -> list[PluginInfo]:
        return [i for i in self.infos if i.error]

    # -- calling ---------------------------------------------------------
    def impls(self, hook: str) -> list[pluggy.HookImpl]:
        """Implementations in pluggy's call order (tryfirst first, trylast last).

        Cached: plugins are registered once, before the first call.
        """
        cached = self._impls.get(hook)
        if cached is None:
            cached = self._impls[hook] = list(reversed(getattr(self.pm.hook, hook).get_hookimpls()))
        return cached

    def call_each(self, hook: str, **kwargs: Any) -> Iterator[tuple[str, Any, BaseException | None]]:
        """Call every implementation of ``hook``; yield (plugin, result, error).

        Unlike a plain pluggy call, an exception in one implementation does
        not stop the others and is attributed to its plugin.
        """
        for impl in self.impls(hook):
            try:
                result = impl.function(*[kwargs[a] for a in impl.argnames])
            except Exception as exc:
                yield impl.plugin_name, None, exc
            else:
                yield impl.plugin_name, result, None

    def first_result(self, hook: str, **kwargs: Any) -> tuple[Any, list[Finding]]:
        """Firstresult semantics with attribution: the first non-None result,
        plus error findings for any implementation that raised before it."""
        findings: list[Finding] = []
        for plugin, result, error in self.call_each(hook, **kwargs):
            if error is not None:
                findings.append(plugin_failure(plugin, hook, error))
            elif result is not None:
                return result, findings
        return None, findings

    def findings(self, hook: str, **kwargs: Any) -> list[Finding]:
        """Call a findings-returning hook on every plugin and gather findings,
        tagging each with the plugin that produced it."""
        out: list[Finding] = []
        for plugin, result, error in self.call_each(hook, **kwargs):
            if error is not None:
                out.append(plugin_failure(plugin, hook, error))
                continue
            if result is None:
                continue
            items: list[Any] = []
            if isinstance(result, (Finding, str, bytes)) or not isinstance(result, Iterable):
                items.append(result)
            else:
                try:  # a generator runs, and may raise, only while it is consumed
                    items.extend(result)
                except Exception as exc:
                    items.append(plugin_failure(plugin, hook, exc))
            for f in items:
                if not isinstance(f, Finding):
                    out.append(
                        Finding(
                            severity=Severity.ERROR,
                            rule="GW-PLUGIN-RESULT",
                            message=f"plugin {plugin} returned {type(f).__name__} from {hook}, expected Finding",
                            plugin=plugin,
                        )
                    )
                else:
                    out.append(f if f.plugin else f.model_copy(update={"plugin": plugin}))
        return out


def plugin_failure(plugin: str, hook: str, exc: BaseException) -> Finding:
    """The finding for a plugin that raised. Only the exception type is kept:
    exception text may quote patient data."""
    return Finding(
        severity=Severity.ERROR,
        rule="GW-PLUGIN-ERROR",
        message=f"plugin {plugin} failed in {hook} ({type(exc).__name__})",
        plugin=plugin,
    )
