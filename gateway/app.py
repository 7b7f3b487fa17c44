"""Assembling a gateway instance: plugins, registries, validated clinics.

``Gateway.from_config(path)`` is the one way in for the CLI and the daemon:
it loads plugins, builds the registries from the start-up hooks (duplicate
names are an error naming both plugins), validates the plugin-defined parts
of the config (clinic settings, sources, destinations) and loads each
clinic's mapping data. Configuration problems are collected across all of
these steps and raised together in one :class:`ConfigError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from gateway.adjustment_codes import config_problems as adjustment_code_problems
from gateway.config import (
    Clinic,
    ClinicConfig,
    ConfigError,
    LoadedConfig,
    load_config,
    validation_problems,
)
from gateway.pipeline import Pipeline
from gateway.plugins import PluginError, PluginHost, PluginRefused

if TYPE_CHECKING:  # annotations only: `gateway inspect` renders and sends nothing
    from gateway.documents import Renderer
    from gateway.transport import Transport


@dataclass(frozen=True)
class Factory:
    """A registered transport or source type."""

    name: str
    factory: Callable[..., Any]
    settings_model: type[BaseModel]
    plugin: str


#: the start-up hooks, by registry: hook, what an entry is called in errors
KINDS: dict[str, tuple[str, str]] = {
    "settings": ("gateway_register_settings", "settings section"),
    "renderers": ("gateway_register_renderers", "renderer"),
    "transports": ("gateway_register_transports", "transport"),
    "sources": ("gateway_register_sources", "source type"),
}


class Registries:
    """What the start-up hooks registered, each entry with its plugin. A
    registry is built the first time it is asked for, so a command imports
    only the plugins of the kinds it uses (``gateway inspect`` no transport or
    source); :meth:`build` builds all of them, and a name two plugins register
    is a :class:`PluginError` when its registry is built."""

    def __init__(self, host: PluginHost | None = None) -> None:
        self.host = host
        self._tables: dict[str, dict[str, Any]] = {}

    @classmethod
    def build(cls, host: PluginHost) -> Registries:
        """Every registry at once (what ``gateway check-config`` and ``gateway run`` check)."""
        reg = cls(host)
        for kind in KINDS:
            reg.table(kind)
        return reg

    @property
    def settings(self) -> dict[str, tuple[type[BaseModel], str]]:
        return self.table("settings")

    @property
    def renderers(self) -> dict[str, tuple[Renderer, str]]:
        return self.table("renderers")

    @property
    def transports(self) -> dict[str, Factory]:
        return self.table("transports")

    @property
    def sources(self) -> dict[str, Factory]:
        return self.table("sources")

    def table(self, kind: str) -> dict[str, Any]:
        """One registry (``settings``, ``renderers``, ``transports``, ``sources``),
        built from its hook on first use (imports the plugins implementing it)."""
        table = self._tables.get(kind)
        if table is None:
            table = {} if self.host is None else self._register(self.host, kind)
            self._tables[kind] = table
        return table

    @staticmethod
    def _register(host: PluginHost, kind: str) -> dict[str, Any]:
        hook, label = KINDS[kind]
        table: dict[str, Any] = {}

        def add(name: str, value: Any, plugin: str) -> None:
            if name in table:
                other = table[name][1] if isinstance(table[name], tuple) else table[name].plugin
                raise PluginError(f"{label} '{name}' is registered by two plugins: {other} and {plugin}")
            table[name] = value

        for impl in host.impls(hook):
            plugin = impl.plugin_name

            def register(*args: Any, _p: str = plugin) -> None:
                if kind == "renderers":
                    (renderer,) = args
                    add(renderer.name, (renderer, _p), _p)
                elif kind == "settings":
                    name, model = args
                    add(name, (model, _p), _p)
                else:
                    name, factory, model = args
                    add(name, Factory(name, factory, model, _p), _p)

            try:
                impl.function(register)
            except PluginRefused:
                continue  # failed to import or refused when imported: listed by gateway plugins
            except PluginError:
                raise
            except Exception as exc:
                raise PluginError(f"plugin {plugin} failed in {hook} ({type(exc).__name__}: {exc})") from exc
        return table


def _unknown(kind: str, name: str, known: Iterable[str]) -> str:
    known = sorted(known)
    import difflib  # only for a problem (start-up)

    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown {kind} '{name}'{hint}; loaded: {', '.join(known) or 'none'}"


class Gateway:
    """One configured gateway: config, plugins, registries, clinics, pipeline.

    ``eager`` (the default; ``gateway check-config``, ``gateway run``) checks
    every plugin-defined part of the config at start. Without it (``gateway
    inspect``) the outputs (destinations' transports and formats, clinics'
    sources) are checked the first time one is used, and the plugins that
    only render, send or receive are imported only then: the same problems,
    reported by what needs them."""

    def __init__(self, loaded: LoadedConfig, host: PluginHost, *, eager: bool = True) -> None:
        self.loaded = loaded
        self.config = loaded.config
        self.host = host
        self.registries = Registries.build(host) if eager else Registries(host)
        self._destination_settings: dict[str, BaseModel] = {}
        self._format_settings: dict[str, BaseModel | None] = {}
        self._outputs_checked = eager
        self.clinics: dict[str, Clinic] = {}
        #: indexes of clinics whose own block or plugin settings have problems
        self._bad_clinics = set(loaded.partial_clinics)
        # every problem in one run: core ones found while reading, plugin sections, mapping data
        problems = [*loaded.problems, *self._validate_plugin_sections(outputs=eager)]
        problems += self._load_clinics()
        problems += adjustment_code_problems(loaded)
        if problems:
            raise ConfigError(problems)
        self.pipeline = Pipeline(host, self.clinics)

    @classmethod
    def from_config(
        cls, path: Path, extra_plugins: Iterable[tuple[str, object]] = (), *, eager: bool = True
    ) -> Gateway:
        loaded = load_config(path)
        host = PluginHost(disable=loaded.config.plugins.disable, extra=extra_plugins)
        return cls(loaded, host, eager=eager)

    @property
    def destination_settings(self) -> dict[str, BaseModel]:
        """Each destination's transport settings (validated by the transport's model)."""
        self._check_outputs()
        return self._destination_settings

    @property
    def format_settings(self) -> dict[str, BaseModel | None]:
        """Each destination's ``format_settings`` (validated by the renderer's model)."""
        self._check_outputs()
        return self._format_settings

    # -- validation of the plugin-defined parts ------------------------------
    def _validate(self, model: type[BaseModel], data: dict[str, Any], loc: tuple) -> tuple[BaseModel | None, list[str]]:
        try:
            return model.model_validate(data), []
        except ValidationError as exc:
            return None, validation_problems(exc, model, self.loaded.path, self.loaded.lines, loc, self.loaded.texts)

    def _check_outputs(self) -> None:
        """Check destinations and sources once, on first use (not ``eager``): ConfigError."""
        if self._outputs_checked:
            return
        problems = self._destination_problems()
        for i, clinic in enumerate(self.config.clinics):
            problems += self._renderer_kind_problems(i, clinic) + self._source_problems(i, clinic)
        if problems:
            raise ConfigError(problems)
        self._outputs_checked = True

    def _validate_plugin_sections(self, outputs: bool = True) -> list[str]:
        """Problems of the plugin-defined sections (with ``outputs``, destinations and sources too)."""
        cfg, reg, problem = self.config, self.registries, self.loaded.problem
        problems: list[str] = self._destination_problems() if outputs else []
        for i, clinic in enumerate(cfg.clinics):
            loc = ("clinics", i)
            runtime = Clinic(config=clinic)
            before = len(problems)
            if outputs:
                problems += self._renderer_kind_problems(i, clinic)
            for section, data in clinic.settings.items():
                if section not in reg.settings:
                    problems.append(
                        problem((*loc, "settings", section), _unknown("settings section", section, reg.settings))
                    )
                    continue
                settings, errs = self._validate(reg.settings[section][0], data, (*loc, "settings", section))
                problems += errs
                if settings is not None:
                    runtime.settings[section] = settings
            for section, (model, _plugin) in reg.settings.items():
                if section not in runtime.settings:
                    settings, errs = self._validate(model, {}, (*loc, "settings", section))
                    problems += errs
                    if settings is not None:
                        runtime.settings[section] = settings
            if outputs:
                problems += self._source_problems(i, clinic)
            if len(problems) > before:
                self._bad_clinics.add(i)
            self.clinics.setdefault(clinic.id, runtime)  # a duplicate id is reported by the config checks
        return problems

    def _destination_problems(self) -> list[str]:
        """Each destination's transport options and ``format_settings``, validated and kept."""
        reg, problem = self.registries, self.loaded.problem
        problems: list[str] = []
        for name, dest in self.config.destinations.items():
            loc = ("destinations", name)
            extra = dict(dest.model_extra or {})
            if dest.transport not in reg.transports:
                problems.append(problem((*loc, "transport"), _unknown("transport", dest.transport, reg.transports)))
            else:
                settings, errs = self._validate(reg.transports[dest.transport].settings_model, extra, loc)
                problems += errs
                if settings is not None:
                    self._destination_settings[name] = settings
            if dest.format not in reg.renderers:
                problems.append(problem((*loc, "format"), _unknown("format", dest.format, reg.renderers)))
            else:
                model = reg.renderers[dest.format][0].settings_model
                if model is None and dest.format_settings:
                    problems.append(problem((*loc, "format_settings"), f"format '{dest.format}' takes no settings"))
                elif model is not None:
                    fs, errs = self._validate(model, dest.format_settings, (*loc, "format_settings"))
                    problems += errs
                    self._format_settings[name] = fs
        return problems

    def _renderer_kind_problems(self, i: int, clinic: ClinicConfig) -> list[str]:
        """A clinic's ``claims_to``/``statements_to`` naming a destination that renders the other kind."""
        cfg, reg = self.config, self.registries
        problems: list[str] = []
        for key, kind, dest_name in (("claims_to", "claims", clinic.claims_to),
                                     ("statements_to", "statements", clinic.statements_to)):  # fmt: skip
            dest = cfg.destinations.get(dest_name) if dest_name else None
            if dest and dest.format in reg.renderers and reg.renderers[dest.format][0].kind != kind:
                problems.append(
                    self.loaded.problem(
                        ("clinics", i, key),
                        f"destination '{dest_name}' renders {reg.renderers[dest.format][0].kind}, not {kind}",
                    )
                )
        return problems

    def _source_problems(self, i: int, clinic: ClinicConfig) -> list[str]:
        """A clinic's sources: known types, options valid for the type."""
        reg = self.registries
        problems: list[str] = []
        for j, src in enumerate(clinic.sources):
            sloc = ("clinics", i, "sources", j)
            if src.type not in reg.sources:
                problems.append(self.loaded.problem((*sloc, "type"), _unknown("source type", src.type, reg.sources)))
                continue
            _, errs = self._validate(reg.sources[src.type].settings_model, dict(src.model_extra or {}), sloc)
            problems += errs
        return problems

    def _load_clinics(self) -> list[str]:
        """Each plugin's mapping data for each clinic; every problem of every clinic and plugin."""
        problems: list[str] = []
        for i, clinic_config in enumerate(self.config.clinics):
            clinic = self.clinics[clinic_config.id]
            if clinic.config is not clinic_config:
                continue  # a duplicate clinic id
            cid = clinic.id
            for plugin, result, error in self.host.call_each(
                "gateway_load_clinic", clinic=clinic.config, base_dir=self.loaded.base_dir
            ):
                if isinstance(error, ConfigError):
                    problems += [self.loaded.problem(("clinics", i), f"{p} (plugin {plugin})") for p in error.problems]
                elif error is not None and i in self._bad_clinics:
                    # the clinic's own keys or settings are in error (reported above): a plugin failing
                    # on them says nothing new; its mapping-data problems (ConfigError) still count
                    continue
                elif error is not None:
                    problems.append(
                        self.loaded.problem(
                            ("clinics", i),
                            f"plugin {plugin} could not load mapping data ({type(error).__name__}: {error})",
                        )
                    )
                elif result:
                    clash = set(result) & set(clinic.resources)
                    if clash:
                        problems.append(f"clinic {cid}: plugins both provide resources {sorted(clash)}")
                    clinic.resources.update(result)
        return problems

    # -- outputs -------------------------------------------------------------
    def renderer(self, destination: str) -> Renderer:
        self._check_outputs()
        return self.registries.renderers[self.config.destinations[destination].format][0]

    def transport(self, destination: str) -> Transport:
        """A new transport for a configured destination."""
        self._check_outputs()
        spec = self.registries.transports[self.config.destinations[destination].transport]
        return spec.factory(self.destination_settings[destination], self.loaded.base_dir)

    def folder_transport(self, folder: Path) -> Transport:
        """The registered ``folder`` transport aimed at ``folder`` (one-shot runs)."""
        self._check_outputs()
        spec = self.registries.transports.get("folder")
        if spec is None:
            raise PluginError("the 'folder' transport plugin is not loaded (is it disabled?)")
        return spec.factory(spec.settings_model(path=folder), self.loaded.base_dir)
