"""Loading plugins and calling hooks so that a failing plugin is named.

Plugins (built-in and third-party alike) are modules listed in the
``gateway.plugins`` entry-point group. Each entry point is loaded on its own:
one that fails to import, or whose ``GATEWAY_API`` range excludes this
gateway's plugin API, is reported and left out; the rest load. Switch a
plugin off with ``plugins.disable`` in gateway.yaml or the environment
variable ``GATEWAY_DISABLE_PLUGINS=name,name``. Each plugin's rule catalogue
(module attribute ``RULES``) is collected in :attr:`PluginHost.catalogues`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import pluggy

from gateway import hookspecs
from gateway.api import API_ATTRIBUTE, API_VERSION, api_problem
from gateway.model import Finding, Severity
from gateway.rules import RESERVED_PREFIXES, Catalogue, prefix_of

ENTRY_POINT_GROUP = "gateway.plugins"
DISABLE_ENV = "GATEWAY_DISABLE_PLUGINS"
#: the distribution whose plugins may use the reserved rule-id prefixes
BUILT_IN_DISTRIBUTION = "billing-gateway"


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
    #: the plugin API range it declares (``GATEWAY_API``), None when undeclared
    api: str | None = None
    rules: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "module": self.module,
            "distribution": self.distribution,
            "version": self.version,
            "api": self.api,
            "hooks": self.hooks,
            "rules": self.rules,
            "error": self.error,
        }


def disabled_from_env() -> set[str]:
    return {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}


class PluginHost:
    """A plugin manager for one gateway instance (never a module global).

    ``extra`` registers plugin objects directly (tests, embedding); they are
    treated like entry-point plugins in every other respect, except that a
    problem with one is a :class:`PluginError`. An ``extra`` object already
    loaded through its entry point (the plugin is pip-installed) is not
    registered twice.
    """

    def __init__(self, disable: Iterable[str] = (), extra: Iterable[tuple[str, object]] = ()) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.infos: list[PluginInfo] = []
        #: plugin name → its rule catalogue (module attribute ``RULES``)
        self.catalogues: dict[str, Catalogue] = {}
        self.disabled = set(disable) | disabled_from_env()
        self._impls: dict[str, list[pluggy.HookImpl]] = {}
        self._load_entry_points()
        for name, plugin in extra:
            if self.pm.is_registered(plugin):
                continue  # installed too: loaded through its entry point already
            problem = self._register(name, plugin, None, None)
            if problem:
                raise PluginError(problem)
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
            problem = self._register(ep.name, module, dist, version)
            if problem:  # refused (incompatible API, bad rule catalogue): isolated like a broken plugin
                api = getattr(module, API_ATTRIBUTE, None)
                api = api if isinstance(api, str) else None
                self.infos.append(PluginInfo(ep.name, ep.value, dist, version, error=problem, api=api))

    def _register(self, name: str, plugin: object, dist: str | None, version: str | None) -> str | None:
        """Register one plugin; return why it is refused instead, if it is."""
        if name in self.disabled:
            return None
        if self.pm.has_plugin(name):
            raise PluginError(f"two plugins are named '{name}'")
        module = getattr(plugin, "__name__", type(plugin).__name__)
        label = f"plugin {name}" + (f" (distribution {dist} {version})" if dist else f" ({module})")
        api = getattr(plugin, API_ATTRIBUTE, None)
        if api is not None and (problem := api_problem(api)):
            return f"{label} refused: {problem}; install a release of it made for plugin API {API_VERSION}"
        catalogue = getattr(plugin, "RULES", None)
        if catalogue is not None:
            if not isinstance(catalogue, Catalogue):
                return f"{label} refused: RULES must be a gateway.rules.Catalogue, not {type(catalogue).__name__}"
            if problem := self._rules_problem(name, catalogue, dist, module):
                return f"{label} refused: {problem}"
        self.pm.register(plugin, name=name)
        hooks = sorted(h.name for h in self.pm.get_hookcallers(plugin) or [])
        rules = len(catalogue) if catalogue is not None else 0
        self.infos.append(PluginInfo(name, module, dist, version, hooks, api=api, rules=rules))
        if catalogue is not None:
            self.catalogues[name] = catalogue
        return None

    def _rules_problem(self, name: str, catalogue: Catalogue, dist: str | None, module: str) -> str | None:
        built_in = dist == BUILT_IN_DISTRIBUTION or module.startswith("gateway_plugins.")
        for rule in catalogue:
            if not built_in and prefix_of(rule.id) in RESERVED_PREFIXES:
                return (
                    f"rule {rule.id} uses the reserved prefix {prefix_of(rule.id)}- "
                    f"(reserved: {', '.join(sorted(RESERVED_PREFIXES))}); use your own prefix"
                )
            for other, cat in self.catalogues.items():
                if rule.id in cat:
                    return f"rule {rule.id} is also declared by plugin {other}"
        return None

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
