"""Loading plugins and calling hooks so that a failing plugin is named.

Plugins (built-in and third-party alike) are modules listed in the
``gateway.plugins`` entry-point group. They load lazily: at start the host
reads the entry points and each plugin module's source (its ``@hookimpl``
functions, their arguments and options, ``GATEWAY_API``, whether it declares
``RULES``) without importing it, registers a stand-in, and runs the start-up
checks (two plugins of one name, misspelt hooks, wrappers, an excluded
``GATEWAY_API`` range). What it read is kept beside the module's ``.pyc`` for
later starts while the file is unchanged. The module is imported the first time one of its hooks
is called (its stand-ins are then replaced by the real functions), or when its
rule catalogue is asked for. A plugin whose source cannot be read that way (an
entry point naming an object, hooks made at run time) is imported at start.

One that fails to import, or whose ``GATEWAY_API`` range excludes this
gateway's plugin API or whose rule catalogue is refused, is reported and left
out; the rest run. Switch a plugin off with ``plugins.disable`` in gateway.yaml
or the environment variable ``GATEWAY_DISABLE_PLUGINS=name,name``. Each
plugin's rule catalogue (module attribute ``RULES``) is collected in
:attr:`PluginHost.catalogues`.
"""

from __future__ import annotations

import ast
import marshal
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import import_module
from importlib.machinery import ModuleSpec
from importlib.metadata import EntryPoint, entry_points
from importlib.util import cache_from_source, find_spec
from types import CodeType, FunctionType, ModuleType
from typing import TYPE_CHECKING, Any

import pluggy

from gateway import hookspecs
from gateway.api import API_ATTRIBUTE, API_VERSION, api_problem

if TYPE_CHECKING:
    from gateway.model import Finding
    from gateway.rules import Catalogue

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


@dataclass(frozen=True)
class HookSource:
    """One ``@hookimpl`` function as read from a plugin's source."""

    name: str
    args: tuple[str, ...]
    opts: dict[str, Any]


@dataclass(frozen=True)
class ModuleSource:
    """What a plugin module declares, read without importing it."""

    hooks: tuple[HookSource, ...]
    api: object | None
    has_rules: bool


_HOOKIMPL_OPTS = {"tryfirst", "trylast", "hookwrapper", "wrapper", "optionalhook", "specname"}


def module_file(module: str) -> str | None:
    """The source file of a module, found without importing it or its parent
    packages (only the top-level package is located); None when it is not a
    plain ``.py`` file on disk."""
    top, *parts = module.split(".")
    spec = _top_spec(top)
    if spec is None:
        return None
    if not parts:
        return spec.origin if spec.origin and spec.origin.endswith(".py") else None
    folders = list(spec.submodule_search_locations or [])
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        for folder in folders:
            package = os.path.join(folder, part)
            if os.path.isfile(os.path.join(package, "__init__.py")):
                if last:
                    return os.path.join(package, "__init__.py")
                folders = [package]
                break
            if last and os.path.isfile(package + ".py"):
                return package + ".py"
        else:
            return None
    return None


#: top-level packages found, by name and ``sys.path`` (every built-in plugin lives in ``gateway_plugins``)
_PACKAGES: dict[tuple[str, tuple[str, ...]], ModuleSpec] = {}


def _top_spec(top: str) -> ModuleSpec | None:
    """A top-level module's spec; a package's is looked up once per ``sys.path``."""
    key = (top, tuple(sys.path))
    spec = _PACKAGES.get(key)
    if spec is None:
        try:
            spec = find_spec(top)
        except (ImportError, ValueError):
            return None
        if spec is not None and spec.submodule_search_locations is not None:
            _PACKAGES[key] = spec
    return spec


def scan_module(module: str) -> ModuleSource | None:
    """The hooks, ``GATEWAY_API`` and ``RULES`` of a plugin module from its
    source; None when that cannot be read reliably (the plugin is then
    imported at start). Read once per process and file version, and kept
    beside the module's ``.pyc`` (:func:`cached_scan`)."""
    path = module_file(module)
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return _scan_file(path, st.st_mtime_ns, st.st_size)


#: bump when what a scan reads changes: scans kept by an older gateway are then read again
SCAN_FORMAT = 1
_NOT_CACHED = object()


def _scan_cache_path(path: str) -> str | None:
    """Where the scan of ``path`` is kept: next to its ``.pyc`` (``__pycache__``,
    or under ``sys.pycache_prefix``), as ``<module>.<python tag>.hooks``."""
    try:
        pyc = cache_from_source(path)
    except (NotImplementedError, ValueError):
        return None
    return pyc[: -len(".pyc")] + ".hooks" if pyc.endswith(".pyc") else None


def cached_scan(path: str, mtime_ns: int, size: int) -> ModuleSource | object | None:
    """The kept scan of ``path`` when it was made of this version of the file
    (modification time and size, as for a ``.pyc``); ``_NOT_CACHED`` otherwise."""
    cache = _scan_cache_path(path)
    try:
        with open(cache or "", "rb") as fh:
            key, hooks, api, has_rules = marshal.load(fh)
        if key != (SCAN_FORMAT, mtime_ns, size):
            return _NOT_CACHED
        if hooks is None:
            return None
        return ModuleSource(tuple(HookSource(n, tuple(a), dict(o)) for n, a, o in hooks), api, bool(has_rules))
    except (OSError, EOFError, ValueError, TypeError):
        return _NOT_CACHED


def _keep_scan(path: str, mtime_ns: int, size: int, source: ModuleSource | None) -> None:
    """Keep a scan beside the ``.pyc`` (not when Python writes no bytecode, or cannot write there)."""
    cache = _scan_cache_path(path)
    if cache is None or sys.dont_write_bytecode:
        return
    hooks = None if source is None else tuple((h.name, h.args, tuple(h.opts.items())) for h in source.hooks)
    api = None if source is None else source.api
    data = ((SCAN_FORMAT, mtime_ns, size), hooks, api, source is not None and source.has_rules)
    try:
        blob = marshal.dumps(data)
        os.makedirs(os.path.dirname(cache), exist_ok=True)
        tmp = f"{cache}.{os.getpid()}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(blob)
        os.replace(tmp, cache)  # readers see the old scan or the new one, never half
    except (OSError, ValueError):
        pass


@lru_cache(maxsize=256)
def _scan_file(path: str, mtime_ns: int, size: int) -> ModuleSource | None:
    source = cached_scan(path, mtime_ns, size)
    if source is _NOT_CACHED:
        source = _read_source(path)
        _keep_scan(path, mtime_ns, size, source)
    return source  # type: ignore[return-value]


def _read_source(path: str) -> ModuleSource | None:
    try:
        with open(path, "rb") as fh:
            tree = ast.parse(fh.read())
    except (OSError, SyntaxError, ValueError):
        return None
    hooks: list[HookSource] = []
    api: object | None = None
    has_rules = False
    for node in tree.body:
        names = _bound_names(node)
        if API_ATTRIBUTE in names:
            if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)):
                return None
            api = node.value.value
        has_rules = has_rules or "RULES" in names
        if isinstance(node, ast.AsyncFunctionDef) and node.name.startswith("gateway_"):
            return None
        if isinstance(node, ast.FunctionDef) and node.name.startswith("gateway_"):
            hook = _hook_source(node)
            if hook is False:
                return None
            if hook is not None:
                hooks.append(hook)
        elif any(n.startswith("gateway_") for n in names):
            return None  # a hook bound some other way (imported, assigned): import to know
    return ModuleSource(tuple(hooks), api, has_rules)


def _bound_names(node: ast.stmt) -> set[str]:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {node.name}
    if isinstance(node, ast.Assign):
        return {t.id for t in node.targets if isinstance(t, ast.Name)}
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return {node.target.id}
    if isinstance(node, ast.Import | ast.ImportFrom):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    return set()


def _hook_source(node: ast.FunctionDef) -> HookSource | bool | None:
    """The hook a decorated function implements; None when not decorated with
    ``hookimpl``; False when it cannot be read statically."""
    opts: dict[str, Any] | None = None
    for dec in node.decorator_list:
        target = dec.func if isinstance(dec, ast.Call) else dec
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", None)
        if name != "hookimpl":
            return False
        opts = {}
        if isinstance(dec, ast.Call):
            if dec.args:
                return False
            for kw in dec.keywords:
                if kw.arg not in _HOOKIMPL_OPTS or not isinstance(kw.value, ast.Constant):
                    return False
                opts[kw.arg] = kw.value.value
    if opts is None:
        return None
    a = node.args
    if a.vararg or a.kwarg or a.kwonlyargs or a.defaults or a.posonlyargs:
        return False
    return HookSource(node.name, tuple(arg.arg for arg in a.args), opts)


class PluginRefused(Exception):
    """A lazily loaded plugin that failed to import or was refused when loaded."""


@lru_cache(maxsize=64)
def _stand_in_code(args: tuple[str, ...]) -> CodeType:
    """The code of a stand-in taking ``args`` and passing them on to ``_real``
    (pluggy reads a hook's argument names from it); one per argument list."""
    names = ", ".join(args)
    module = compile(f"def stand_in({names}):\n    return _real({names})\n", "<lazy plugin>", "exec")
    return next(c for c in module.co_consts if isinstance(c, CodeType))


class LazyPlugin:
    """Stands in for a plugin module until one of its hooks is first called."""

    def __init__(self, host: PluginHost, name: str, module: str, source: ModuleSource) -> None:
        self.host = host
        self.name = name
        self.module = module
        self.source = source
        self.loaded: object | None = None
        self.problem: str | None = None
        self._lock = threading.Lock()  # first uses from two threads (journal, sniffer) import once
        # a namespace pluggy reads the stand-ins from: a module, whose dir() is its own names only
        self.stand_ins = ModuleType(f"lazy_{name}")
        for hook in source.hooks:
            setattr(self.stand_ins, hook.name, self._stand_in(hook))

    def _stand_in(self, hook: HookSource) -> Callable[..., Any]:
        function = FunctionType(_stand_in_code(hook.args), {"_real": self._caller(hook.name)}, hook.name)
        function.__module__ = self.module
        function.__qualname__ = hook.name
        return hookspecs.hookimpl(**hook.opts)(function)

    def _caller(self, hook: str) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            return getattr(self.load(), hook)(*args)

        return call

    def load(self) -> object:
        """Import the module (once) and put its real functions in place of the stand-ins."""
        if self.loaded is not None:
            return self.loaded
        with self._lock:
            return self._load()

    def _load(self) -> object:
        if self.loaded is not None:
            return self.loaded
        if self.problem is not None:
            raise PluginRefused(self.problem)
        try:
            module = import_module(self.module)
        except Exception as exc:  # a broken plugin is isolated, not fatal
            self.problem = self.host._refuse(self, f"failed to load: {type(exc).__name__}: {exc}")
        else:
            self.problem = self.host._loaded(self, module)
        if self.problem is not None:
            raise PluginRefused(self.problem)
        self.loaded = module
        return module


@lru_cache(maxsize=8)
def _all_entry_points(_path: tuple[str, ...]) -> Any:
    """Every installed entry point, read once per ``sys.path`` (one pass over
    the distributions for the plugin and command groups both)."""
    return entry_points()


def group_entry_points(group: str) -> list[EntryPoint]:
    """A group's entry points sorted by name."""
    return sorted(_all_entry_points(tuple(sys.path)).select(group=group), key=lambda e: (e.name, e.value))


@lru_cache(maxsize=64)
def _distribution(dist: Any) -> tuple[str | None, str | None]:
    """Name and version of an entry point's distribution (its metadata is
    parsed once, not once per plugin and attribute)."""
    if dist is None:
        return None, None
    meta = dist.metadata
    return meta["Name"], meta["Version"]


def plugins_mentioning(hook: str, disable: Iterable[str] = ()) -> list[str]:
    """Entry-point plugins whose source names ``hook`` (or cannot be read):
    a quick look, no import and no AST (a kept scan of the module answers when
    there is one), e.g. for the deprecated ``gateway_register_commands``
    before ``gateway --help``."""
    off = set(disable) | disabled_from_env()
    out = []
    for ep in group_entry_points(ENTRY_POINT_GROUP):
        if ep.name in off:
            continue
        path = module_file(ep.module) if not ep.attr else None
        try:
            st = os.stat(path or "")
            source = cached_scan(path or "", st.st_mtime_ns, st.st_size)
            if isinstance(source, ModuleSource):
                found = any(h.name == hook for h in source.hooks)
            else:
                with open(path or "", "rb") as fh:
                    found = hook.encode() in fh.read()
        except OSError:
            found = True
        if found:
            out.append(ep.name)
    return out


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
        self._catalogues: dict[str, Catalogue] = {}
        self.disabled = set(disable) | disabled_from_env()
        self._impls: dict[str, list[pluggy.HookImpl]] = {}
        #: plugins registered by stand-ins, not imported yet (name → stand-in)
        self.lazy: dict[str, LazyPlugin] = {}
        self._load_entry_points()
        for name, plugin in extra:
            if self.pm.is_registered(plugin) or self._lazy_module(plugin):
                continue  # installed too: loaded through its entry point already
            problem = self._register(name, plugin, None, None)
            if problem:
                raise PluginError(problem)
        self._check()

    # -- loading ---------------------------------------------------------
    def _load_entry_points(self) -> None:
        seen: dict[str, str] = {}
        for ep in group_entry_points(ENTRY_POINT_GROUP):
            dist, version = _distribution(ep.dist)
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
            source = scan_module(ep.module) if not ep.attr else None
            if source is not None:
                self._register_lazy(ep.name, ep.module, source, dist, version)
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

    def _lazy_module(self, plugin: object) -> bool:
        module = getattr(plugin, "__name__", None)
        return any(lazy.module == module for lazy in self.lazy.values())

    def _register_lazy(
        self, name: str, module: str, source: ModuleSource, dist: str | None, version: str | None
    ) -> None:
        """Register the stand-ins of a plugin read from its source (nothing imported)."""
        label = f"plugin {name} (distribution {dist} {version})" if dist else f"plugin {name} ({module})"
        api = source.api if isinstance(source.api, str) else None
        if source.api is not None and (problem := api_problem(source.api)):
            error = f"{label} refused: {problem}; install a release of it made for plugin API {API_VERSION}"
            self.infos.append(PluginInfo(name, module, dist, version, error=error, api=api))
            return
        if self.pm.has_plugin(name):
            raise PluginError(f"two plugins are named '{name}'")
        lazy = LazyPlugin(self, name, module, source)
        self.pm.register(lazy.stand_ins, name=name)
        self.lazy[name] = lazy
        hooks = sorted(h.name for h in self.pm.get_hookcallers(lazy.stand_ins) or [])
        self.infos.append(PluginInfo(name, module, dist, version, hooks, api=api))

    def _loaded(self, lazy: LazyPlugin, module: object) -> str | None:
        """A lazy plugin's module was imported: check it as an eager one is
        checked, and call its real functions from now on; why it is refused, or None."""
        info = next(i for i in self.infos if i.name == lazy.name)
        label = f"plugin {lazy.name}" + (
            f" (distribution {info.distribution} {info.version})" if info.distribution else f" ({lazy.module})"
        )
        catalogue = getattr(module, "RULES", None)
        problem: str | None = None
        if catalogue is not None:
            from gateway.rules import Catalogue

            if not isinstance(catalogue, Catalogue):
                problem = f"{label} refused: RULES must be a gateway.rules.Catalogue, not {type(catalogue).__name__}"
            elif rules_problem := self._rules_problem(lazy.name, catalogue, info.distribution, lazy.module):
                problem = f"{label} refused: {rules_problem}"
        for hook in lazy.source.hooks:
            if problem is None and not callable(getattr(module, hook.name, None)):
                problem = f"{label} refused: {hook.name} is not a function of {lazy.module} once imported"
        if problem is not None:
            return self._refuse(lazy, problem)
        if catalogue is not None:
            self._catalogues[lazy.name] = catalogue
            info.rules = len(catalogue)
        for caller in self.pm.get_hookcallers(lazy.stand_ins) or []:
            for impl in caller.get_hookimpls():
                if impl.plugin is lazy.stand_ins:
                    impl.function = getattr(module, impl.function.__name__)
        return None

    def _refuse(self, lazy: LazyPlugin, problem: str) -> str:
        """Take a lazy plugin out: it failed to import or was refused once imported.
        Logged once as ``plugin.not_loaded`` (a plugin imported at start is
        reported by the command instead)."""
        import logging

        from gateway import logging as glog

        glog.event(glog.get("plugins"), "plugin.not_loaded", logging.WARNING, plugin=lazy.name, problem=problem)
        next(i for i in self.infos if i.name == lazy.name).error = problem
        self.pm.unregister(lazy.stand_ins)
        self._impls.clear()
        return problem

    def load_all(self) -> None:
        """Import every plugin not imported yet (``gateway plugins`` shows all)."""
        for lazy in list(self.lazy.values()):
            try:
                lazy.load()
            except PluginRefused:
                pass

    @property
    def catalogues(self) -> dict[str, Catalogue]:
        """Plugin name → its rule catalogue (module attribute ``RULES``); imports
        the plugins that declare one, in name order."""
        for name in sorted(self.lazy):
            lazy = self.lazy[name]
            if lazy.source.has_rules:
                try:
                    lazy.load()
                except PluginRefused:
                    pass
        return self._catalogues

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
            from gateway.rules import Catalogue

            if not isinstance(catalogue, Catalogue):
                return f"{label} refused: RULES must be a gateway.rules.Catalogue, not {type(catalogue).__name__}"
            if problem := self._rules_problem(name, catalogue, dist, module):
                return f"{label} refused: {problem}"
        self.pm.register(plugin, name=name)
        hooks = sorted(h.name for h in self.pm.get_hookcallers(plugin) or [])
        rules = len(catalogue) if catalogue is not None else 0
        self.infos.append(PluginInfo(name, module, dist, version, hooks, api=api, rules=rules))
        if catalogue is not None:
            self._catalogues[name] = catalogue
        return None

    def _rules_problem(self, name: str, catalogue: Catalogue, dist: str | None, module: str) -> str | None:
        from gateway.rules import RESERVED_PREFIXES, prefix_of

        built_in = dist == BUILT_IN_DISTRIBUTION or module.startswith("gateway_plugins.")
        for rule in catalogue:
            if not built_in and prefix_of(rule.id) in RESERVED_PREFIXES:
                return (
                    f"rule {rule.id} uses the reserved prefix {prefix_of(rule.id)}- "
                    f"(reserved: {', '.join(sorted(RESERVED_PREFIXES))}); use your own prefix"
                )
            for other, cat in self._catalogues.items():
                if other == name or cat is catalogue:  # its own catalogue, seen before (a second first use)
                    continue
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
        """Every plugin that cannot run (imports those not imported yet to know)."""
        self.load_all()
        return self.failed

    @property
    def failed(self) -> list[PluginInfo]:
        """The plugins found not to run so far (nothing imported to find more)."""
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
        for impl in list(self.impls(hook)):
            try:
                result = impl.function(*[kwargs[a] for a in impl.argnames])
            except PluginRefused:
                continue  # failed to import or refused: in gateway plugins, warned at start-up
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
        from gateway.model import Finding, Severity

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
    from gateway.model import Finding, Severity

    return Finding(
        severity=Severity.ERROR,
        rule="GW-PLUGIN-ERROR",
        message=f"plugin {plugin} failed in {hook} ({type(exc).__name__})",
        plugin=plugin,
    )
