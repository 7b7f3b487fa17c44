"""Assembling a gateway instance: plugins, registries, validated clinics.

``Gateway.from_config(path)`` is the one way in for the CLI and the daemon:
it loads plugins, builds the registries from the start-up hooks (duplicate
names are an error naming both plugins), validates the plugin-defined parts
of the config (clinic settings, sources, destinations) and loads each
clinic's mapping data. Configuration problems are collected across all of
these steps and raised together in one :class:`ConfigError`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from gateway.adjustment_codes import config_problems as adjustment_code_problems
from gateway.config import (
    Clinic,
    ConfigError,
    LoadedConfig,
    load_config,
    validation_problems,
)
from gateway.documents import Renderer
from gateway.pipeline import Pipeline
from gateway.plugins import PluginError, PluginHost, PluginRefused
from gateway.transport import Transport


@dataclass(frozen=True)
class Factory:
    """A registered transport or source type."""

    name: str
    factory: Callable[..., Any]
    settings_model: type[BaseModel]
    plugin: str


@dataclass
class Registries:
    """What the start-up hooks registered, each entry with its plugin."""

    settings: dict[str, tuple[type[BaseModel], str]] = field(default_factory=dict)
    renderers: dict[str, tuple[Renderer, str]] = field(default_factory=dict)
    transports: dict[str, Factory] = field(default_factory=dict)
    sources: dict[str, Factory] = field(default_factory=dict)

    @classmethod
    def build(cls, host: PluginHost) -> Registries:
        reg = cls()

        def add(table: dict[str, Any], kind: str, name: str, value: Any, plugin: str) -> None:
            if name in table:
                other = table[name][1] if isinstance(table[name], tuple) else table[name].plugin
                raise PluginError(f"{kind} '{name}' is registered by two plugins: {other} and {plugin}")
            table[name] = value

        for hook, table, kind in (
            ("gateway_register_settings", reg.settings, "settings section"),
            ("gateway_register_renderers", reg.renderers, "renderer"),
            ("gateway_register_transports", reg.transports, "transport"),
            ("gateway_register_sources", reg.sources, "source type"),
        ):
            for impl in host.impls(hook):
                plugin = impl.plugin_name

                def register(*args: Any, _t: dict = table, _k: str = kind, _p: str = plugin, _h: str = hook) -> None:
                    if _h == "gateway_register_renderers":
                        (renderer,) = args
                        add(_t, _k, renderer.name, (renderer, _p), _p)
                    elif _h == "gateway_register_settings":
                        name, model = args
                        add(_t, _k, name, (model, _p), _p)
                    else:
                        name, factory, model = args
                        add(_t, _k, name, Factory(name, factory, model, _p), _p)

                try:
                    impl.function(register)
                except PluginRefused:
                    continue  # failed to import or refused when imported: listed by gateway plugins
                except PluginError:
                    raise
                except Exception as exc:
                    raise PluginError(f"plugin {plugin} failed in {hook} ({type(exc).__name__}: {exc})") from exc
        return reg


def _unknown(kind: str, name: str, known: Iterable[str]) -> str:
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown {kind} '{name}'{hint}; loaded: {', '.join(known) or 'none'}"


class Gateway:
    """One configured gateway: config, plugins, registries, clinics, pipeline."""

    def __init__(self, loaded: LoadedConfig, host: PluginHost) -> None:
        self.loaded = loaded
        self.config = loaded.config
        self.host = host
        self.registries = Registries.build(host)
        self.destination_settings: dict[str, BaseModel] = {}
        self.format_settings: dict[str, BaseModel | None] = {}
        self.clinics: dict[str, Clinic] = {}
        #: indexes of clinics whose own block or plugin settings have problems
        self._bad_clinics = set(loaded.partial_clinics)
        # every problem in one run: core ones found while reading, plugin sections, mapping data
        problems = [*loaded.problems, *self._validate_plugin_sections()]
        problems += self._load_clinics()
        problems += adjustment_code_problems(loaded)
        if problems:
            raise ConfigError(problems)
        self.pipeline = Pipeline(host, self.clinics)

    @classmethod
    def from_config(cls, path: Path, extra_plugins: Iterable[tuple[str, object]] = ()) -> Gateway:
        loaded = load_config(path)
        host = PluginHost(disable=loaded.config.plugins.disable, extra=extra_plugins)
        return cls(loaded, host)

    # -- validation of the plugin-defined parts ------------------------------
    def _validate(self, model: type[BaseModel], data: dict[str, Any], loc: tuple) -> tuple[BaseModel | None, list[str]]:
        try:
            return model.model_validate(data), []
        except ValidationError as exc:
            return None, validation_problems(exc, model, self.loaded.path, self.loaded.lines, loc, self.loaded.texts)

    def _validate_plugin_sections(self) -> list[str]:
        cfg, reg, problem = self.config, self.registries, self.loaded.problem
        problems: list[str] = []
        for name, dest in cfg.destinations.items():
            loc = ("destinations", name)
            extra = dict(dest.model_extra or {})
            if dest.transport not in reg.transports:
                problems.append(problem((*loc, "transport"), _unknown("transport", dest.transport, reg.transports)))
            else:
                settings, errs = self._validate(reg.transports[dest.transport].settings_model, extra, loc)
                problems += errs
                if settings is not None:
                    self.destination_settings[name] = settings
            if dest.format not in reg.renderers:
                problems.append(problem((*loc, "format"), _unknown("format", dest.format, reg.renderers)))
            else:
                model = reg.renderers[dest.format][0].settings_model
                if model is None and dest.format_settings:
                    problems.append(problem((*loc, "format_settings"), f"format '{dest.format}' takes no settings"))
                elif model is not None:
                    fs, errs = self._validate(model, dest.format_settings, (*loc, "format_settings"))
                    problems += errs
                    self.format_settings[name] = fs
        for i, clinic in enumerate(cfg.clinics):
            loc = ("clinics", i)
            runtime = Clinic(config=clinic)
            before = len(problems)
            for key, kind, dest_name in (("claims_to", "claims", clinic.claims_to),
                                         ("statements_to", "statements", clinic.statements_to)):  # fmt: skip
                dest = cfg.destinations.get(dest_name) if dest_name else None
                if dest and dest.format in reg.renderers and reg.renderers[dest.format][0].kind != kind:
                    problems.append(
                        problem(
                            (*loc, key),
                            f"destination '{dest_name}' renders {reg.renderers[dest.format][0].kind}, not {kind}",
                        )
                    )
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
            for j, src in enumerate(clinic.sources):
                sloc = (*loc, "sources", j)
                if src.type not in reg.sources:
                    problems.append(problem((*sloc, "type"), _unknown("source type", src.type, reg.sources)))
                    continue
                _, errs = self._validate(reg.sources[src.type].settings_model, dict(src.model_extra or {}), sloc)
                problems += errs
            if len(problems) > before:
                self._bad_clinics.add(i)
            self.clinics.setdefault(clinic.id, runtime)  # a duplicate id is reported by the config checks
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
        return self.registries.renderers[self.config.destinations[destination].format][0]

    def transport(self, destination: str) -> Transport:
        """A new transport for a configured destination."""
        spec = self.registries.transports[self.config.destinations[destination].transport]
        return spec.factory(self.destination_settings[destination], self.loaded.base_dir)

    def folder_transport(self, folder: Path) -> Transport:
        """The registered ``folder`` transport aimed at ``folder`` (one-shot runs)."""
        spec = self.registries.transports.get("folder")
        if spec is None:
            raise PluginError("the 'folder' transport plugin is not loaded (is it disabled?)")
        return spec.factory(spec.settings_model(path=folder), self.loaded.base_dir)
