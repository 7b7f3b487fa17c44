"""gateway.yaml: the deployment's configuration, validated with clear errors.

Errors name the file, line and key path (``clinics[0].billing_provider.npi``)
and what was expected, with a suggestion for misspelt keys and a hint to quote
a number YAML read from unquoted digits. Every problem is reported in one run:
the parts of a config that validate on their own are kept
(:func:`load_config`), so the gateway can go on to check plugin sections and
mapping files before it raises them all. Secrets are references
(``env:NAME`` or ``file:PATH``), never values.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import annotated_types
import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from gateway.identifiers import npi_is_valid
from gateway.model import Address

#: the safe YAML loader: libyaml's when PyYAML has it (much faster), never an unsafe one
SAFE_LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

Path_ = tuple[str | int, ...]


class ConfigError(Exception):
    """One or more configuration problems, each with key path and line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _check_secret(value: str) -> str:
    if not re.fullmatch(r"(env|file):\S+", value):
        raise ValueError("must be a secret reference 'env:NAME' or 'file:PATH', not a value")
    return value


#: A reference to a secret: ``env:SFTP_PASSWORD`` or ``file:/run/secrets/key``.
SecretRef = Annotated[str, AfterValidator(_check_secret)]


def resolve_secret(ref: str, base_dir: Path) -> str:
    """Read the secret a :data:`SecretRef` points at (raises ConfigError)."""
    kind, _, name = ref.partition(":")
    if kind == "env":
        if name not in os.environ:
            raise ConfigError([f"secret {ref}: environment variable {name} is not set"])
        return os.environ[name]
    path = (base_dir / name).resolve()
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise ConfigError([f"secret {ref}: cannot read file ({exc.strerror})"]) from None


def _is_secret_type(tp: Any) -> bool:
    if isinstance(tp, AfterValidator):
        return tp.func is _check_secret
    return any(_is_secret_type(arg) for arg in get_args(tp))


def secret_references(model: BaseModel, loc: Path_ = ()) -> Iterator[tuple[Path_, str]]:
    """Every :data:`SecretRef` set in ``model`` and the models inside it, with its key path."""
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        if isinstance(value, str):
            if any(_is_secret_type(m) for m in info.metadata) or _is_secret_type(info.annotation):
                yield (*loc, name), value
            continue
        inner = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        if isinstance(value, BaseModel):
            inner = [(None, value)]
        for key, item in inner:
            if isinstance(item, BaseModel):
                yield from secret_references(item, (*loc, name) if key is None else (*loc, name, key))


def unresolved_secrets(loaded: LoadedConfig, sections: Iterable[tuple[Path_, BaseModel]]) -> list[str]:
    """One problem per secret reference in ``sections`` whose environment
    variable is unset or whose file cannot be read (the secret is never shown)."""
    problems = []
    for loc, model in sections:
        for key, ref in secret_references(model, loc):
            try:
                resolve_secret(ref, loaded.base_dir)
            except ConfigError as exc:
                problems += [loaded.problem(key, p) for p in exc.problems]
    return problems


def _check_npi(value: str) -> str:
    if not npi_is_valid(value):
        raise ValueError("not a valid NPI (10 digits starting 1 or 2 with a correct check digit)")
    return value


NPI = Annotated[str, AfterValidator(_check_npi)]


class Strict(BaseModel):
    """Config sections refuse unknown keys: a typo is an error, not a default.
    Built on first validation (a valid config is read by :func:`plain_model`)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)


class BillingProviderConfig(Strict):
    npi: NPI
    name: str
    tax_id: Annotated[str, Field(pattern=r"^\d{9}$")]
    taxonomy: str | None = None
    address: Address
    phone: str | None = None


class PartyConfig(Strict):
    """Submitter (1000A) or receiver (1000B) of claim files."""

    name: str
    id: str
    id_qualifier: str = "ZZ"
    contact_name: str | None = None
    contact_phone: str | None = None
    contact_email: str | None = None


class PluginsConfig(Strict):
    disable: list[str] = Field(default_factory=list)


class Extensible(BaseModel):
    """A section whose extra keys a plugin-registered model validates."""

    model_config = ConfigDict(extra="allow", defer_build=True)


class SourceConfig(Extensible):
    type: str


class DestinationConfig(Extensible):
    """``transport`` options are the extra keys (validated by the transport's
    model); ``format_settings`` are validated by the renderer's model."""

    transport: str
    format: str
    format_settings: dict[str, Any] = Field(default_factory=dict)


class DeliveryTuning(Strict):
    """Per-destination overrides of :class:`DeliveryConfig` (unset keys inherit)."""

    batch_max_items: int | None = Field(None, ge=1)
    batch_max_age_s: float | None = Field(None, ge=0)
    max_attempts: int | None = Field(None, ge=1)


class DeliveryConfig(Strict):
    """How the daemon batches and delivers documents (docs/delivery.md)."""

    #: a batch is cut when this many claims (or statements) wait for one destination…
    batch_max_items: int = Field(500, ge=1)
    #: …or when the oldest has waited this long (seconds)
    batch_max_age_s: float = Field(60.0, ge=0)
    #: delivery attempts before a document becomes a dead letter
    max_attempts: int = Field(8, ge=1)
    #: exponential backoff: first retry after about retry_base_s, doubling, at most retry_max_s (with jitter)
    retry_base_s: float = Field(30.0, gt=0)
    retry_max_s: float = Field(3600.0, gt=0)
    #: seconds a dispatcher holds a document it is delivering (a dead node's work returns after it)
    lease_s: float = Field(120.0, gt=0)
    #: how often clearinghouse response folders are polled (seconds)
    responses_poll_s: float = Field(300.0, gt=0)
    destinations: dict[str, DeliveryTuning] = Field(default_factory=dict)


class ConsoleTLS(Strict):
    """Certificate and key (PEM files, relative to gateway.yaml's folder)."""

    cert: str
    key: str


class ConsoleConfig(Strict):
    """The web console, JSON API and HTTP intake (docs/console.md)."""

    #: HTTPS for the whole listener; without it only loopback binds (or --insecure-http)
    tls: ConsoleTLS | None = None
    #: key that signs session cookies (default: <state_dir>/console-secret, made 0600 on first start)
    session_secret: SecretRef | None = None
    #: a session ends after this long without a request, and after session_max_hours in any case
    session_idle_minutes: float = Field(30.0, gt=0)
    session_max_hours: float = Field(12.0, gt=0)
    #: failed logins in a row before the user is locked for login_lockout_minutes
    login_max_failures: int = Field(5, ge=1)
    login_lockout_minutes: float = Field(15.0, gt=0)
    #: login attempts per minute from one client address (more get 429)
    login_rate_per_minute: int = Field(10, ge=1)


class RemittanceConfig(Strict):
    """Reading what payers send back (docs/remittance.md, "Operators")."""

    #: CSV of CARC/RARC descriptions (kind,code,description) replacing the shipped one;
    #: relative to gateway.yaml's folder
    adjustment_codes: str | None = None


class ClinicConfig(Strict):
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")]
    name: str
    billing_provider: BillingProviderConfig
    senders: list[str] = Field(default_factory=list)
    #: with one clinic only: also take messages whose sender it does not list
    #: (a clinic that lists no senders takes every sender anyway)
    accept_any_sender: bool = False
    sources: list[SourceConfig] = Field(default_factory=list)
    charge_master: str | None = None
    code_maps: list[str] = Field(default_factory=list)
    payers: str | None = None
    strict_payers: bool = False
    claims_to: str | None = None
    statements_to: str | None = None
    settings: dict[str, dict[str, Any]] = Field(default_factory=dict)


class StoreKeyConfig(Strict):
    """One key of encryption at rest (docs/operations.md#encryption-at-rest)."""

    #: 32 random bytes, base64 or hex, behind a secret reference (env:NAME or file:PATH)
    key: SecretRef
    #: stored with every value it seals; a new id for every new key
    key_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")]


class EncryptionConfig(StoreKeyConfig):
    """``key``/``key_id`` seal new values; ``previous_keys`` only open old ones
    (until ``gateway store rotate-key`` has re-sealed them)."""

    previous_keys: list[StoreKeyConfig] = Field(default_factory=list)


class StoreConfig(Strict):
    """The store (journal, results, outbox): encryption at rest."""

    encryption: EncryptionConfig | None = None


class GatewayConfig(Strict):
    version: int = 1
    #: folder for the gateway's own state (control numbers, journal), relative
    #: to gateway.yaml's folder
    state_dir: str = "state"
    #: no input bigger than this is read whole or looked at by a plugin (the
    #: journal refuses it: GW-TOO-LARGE; `gateway inspect` refuses it unread)
    max_input_bytes: int = Field(20_000_000, gt=0)
    plugins: PluginsConfig = Field(default_factory=PluginsConfig)
    submitter: PartyConfig
    receiver: PartyConfig
    destinations: dict[str, DestinationConfig] = Field(default_factory=dict)
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)
    console: ConsoleConfig = Field(default_factory=ConsoleConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    remittance: RemittanceConfig = Field(default_factory=RemittanceConfig)
    clinics: list[ClinicConfig] = Field(min_length=1)


@dataclass
class Clinic:
    """A clinic at run time: its config, validated plugin settings and the
    mapping data plugins loaded for it (``resources``)."""

    config: ClinicConfig
    settings: dict[str, BaseModel] = field(default_factory=dict)
    resources: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.config.id


@dataclass
class LoadedConfig:
    """A config with where it came from (for relative paths and error lines).

    With ``problems``, ``config`` is partial: only the parts that validated on
    their own (a clinic with a bad key keeps its good keys), for finding the
    remaining problems; it must not be run.
    """

    config: GatewayConfig
    path: Path
    lines: dict[Path_, int]
    #: the YAML source text of every scalar, by key path (for hints such as quoting a number)
    texts: dict[Path_, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    #: indexes of clinics whose own block had problems (kept partially)
    partial_clinics: set[int] = field(default_factory=set)

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def state_dir(self) -> Path:
        return self.base_dir / self.config.state_dir

    def line_of(self, loc: Path_) -> int | None:
        """Line of the deepest key of ``loc`` present in the file."""
        for n in range(len(loc), -1, -1):
            if loc[:n] in self.lines:
                return self.lines[loc[:n]]
        return None

    def problem(self, loc: Path_, message: str) -> str:
        return format_problem(self.path, self.line_of(loc), loc, message)


def format_path(loc: Path_) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def format_problem(path: Path, line: int | None, loc: Path_, message: str) -> str:
    where = f"{path.name}:{line}" if line else path.name
    return f"{where}: {format_path(loc)}: {message}"


def line_marks(node: yaml.Node, loc: Path_, out: dict[Path_, int], texts: dict[Path_, str] | None = None) -> None:
    """Record in ``out`` the 1-based line of every key path below ``node``
    (for errors that name file, line and key path), and in ``texts`` the
    source text of every scalar."""
    out[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            k = key.value
            line_marks(value, (*loc, k), out, texts)
            out[(*loc, k)] = key.start_mark.line + 1  # a key's line, not its value's
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            line_marks(item, (*loc, i), out, texts)
    elif texts is not None and isinstance(node, yaml.ScalarNode):
        texts[loc] = node.value


def _known_keys(model: type[BaseModel], loc: Path_) -> list[str]:
    """Field names valid at ``loc`` (walking the model), for suggestions."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", {})
        if part not in fields:
            return []
        ann = fields[part].annotation
        args = getattr(ann, "__args__", ()) or ()
        current = next((a for a in (ann, *args) if hasattr(a, "model_fields")), None)
        if current is None:
            return []
    return list(getattr(current, "model_fields", {}))


def _quote_hint(key: str, value: object, text: str | None) -> str:
    shown = text if text is not None else str(value)
    return (
        f"expected text, but YAML read the unquoted {shown} as a number (dropping leading zeros); "
        f'quote it: {key}: "{shown}"'
    )


def validation_problems(
    exc: ValidationError,
    model: type[BaseModel],
    path: Path,
    lines: dict[Path_, int],
    prefix: Path_ = (),
    texts: dict[Path_, str] | None = None,
) -> list[str]:
    """Turn a pydantic error into one readable line per problem (``texts``:
    the YAML source text of scalars, for the hint to quote a number)."""
    problems = []
    for err in exc.errors(include_url=False):
        loc = prefix + tuple(err["loc"])
        msg = err["msg"]
        if err["type"] == "string_type" and isinstance(err.get("input"), int | float) and loc:
            msg = _quote_hint(str(loc[-1]), err["input"], (texts or {}).get(loc))
        elif err["type"] == "extra_forbidden":
            key = str(loc[-1])
            import difflib  # only for a problem (start-up)

            close = difflib.get_close_matches(key, _known_keys(model, tuple(err["loc"])), n=1)
            msg = f"unknown key '{key}'" + (f" (did you mean '{close[0]}'?)" if close else "")
        elif err["type"] == "missing":
            msg = "required key is missing"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        line = None
        for n in range(len(loc), -1, -1):
            if loc[:n] in lines:
                line = lines[loc[:n]]
                break
        problems.append(format_problem(path, line, loc, msg))
    return problems


def read_config(path: Path) -> LoadedConfig:
    """Parse and validate the core schema of a gateway.yaml (raises ConfigError
    with every core problem).

    Plugin-defined sections (clinic settings, source and destination options)
    are checked by :func:`gateway.app.Gateway` once plugins are loaded.
    """
    loaded = load_config(path)
    if loaded.problems:
        raise ConfigError(loaded.problems)
    return loaded


def load_config(path: Path) -> LoadedConfig:
    """Parse a gateway.yaml and collect every core problem (schema and
    references) instead of stopping at the first; unreadable or non-YAML
    files raise ConfigError. See :class:`LoadedConfig` for a partial config."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read ({exc.strerror})"]) from None
    lines: dict[Path_, int] = {}
    texts: dict[Path_, str] = {}
    loader = SAFE_LOADER(text)  # parsed once: the nodes give lines, then the data is built from them
    try:
        node = loader.get_single_node()
        if node is not None:
            line_marks(node, (), lines, texts)  # before construction, which may rewrite merge keys
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError([f"{path.name}{line}: not valid YAML ({getattr(exc, 'problem', exc)})"]) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise ConfigError([f"{path.name}: expected a mapping at the top level"])
    problems: list[str] = []
    partial: set[int] = set()
    try:
        config = plain_model(GatewayConfig, data) or GatewayConfig.model_validate(data)
    except ValidationError as exc:
        problems += validation_problems(exc, GatewayConfig, path, lines, texts=texts)
        config, partial = _partial_config(data)
    loaded = LoadedConfig(config=config, path=path.resolve(), lines=lines, texts=texts, partial_clinics=partial)
    loaded.problems = problems + _cross_checks(loaded, data)
    return loaded


_NO = object()  # plain_model's "not exactly so": pydantic decides


def plain_model(model: type[BaseModel], raw: object) -> Any:
    """``model`` made from ``raw`` without building pydantic's validator (a
    start-up cost of ~15 ms), when every value is exactly of its field's type
    (an ``int`` for ``int``, no coercion) and meets the field's constraints
    and validators; the instance is what ``model.model_validate(raw)`` gives,
    fields set included. None when anything is otherwise or unknown here:
    pydantic then validates, and reports the problems."""
    made = _plain_model(model, raw)
    return None if made is _NO else made


def _plain_model(model: type[BaseModel], raw: object) -> Any:
    extra = model.model_config.get("extra")
    if type(raw) is not dict or extra not in ("forbid", "allow") or any(type(k) is not str for k in raw):
        return _NO
    if _has_validators(model):  # a validator of the model's own would be skipped here: pydantic runs it
        return _NO
    fields = model.model_fields
    unknown = {k: v for k, v in raw.items() if k not in fields}
    if unknown and extra == "forbid":
        return _NO
    values: dict[str, Any] = {}
    for name, info in fields.items():
        if info.alias or info.validation_alias:
            return _NO
        if name in raw:
            value = _plain_value(info.annotation, info.metadata, raw[name])
        elif info.is_required():
            return _NO
        elif info.default_factory is None:
            value = info.default if isinstance(info.default, str | int | float | bool | None) else _NO
        elif isinstance(info.default_factory, type) and issubclass(info.default_factory, BaseModel):
            value = _plain_model(info.default_factory, {})
        elif info.default_factory in (list, dict):
            value = info.default_factory()
        else:
            return _NO
        if value is _NO:
            return _NO
        values[name] = value
    return model.model_construct(set(raw), **values, **unknown)  # extra keys count as set, as in pydantic


def _has_validators(model: type[BaseModel]) -> bool:
    """Whether ``model`` declares validators of its own (``@field_validator``,
    ``@model_validator``, legacy ``@validator``) or computed fields."""
    d = model.__pydantic_decorators__
    return bool(d.field_validators or d.model_validators or d.validators or d.root_validators or d.computed_fields)


def _plain_value(tp: Any, metadata: Iterable[object], value: object) -> Any:
    """``value`` as a field of type ``tp`` with ``metadata`` holds it, or _NO."""
    origin, args = get_origin(tp), get_args(tp)
    if origin is Annotated:
        return _plain_value(args[0], [*metadata, *args[1:]], value)
    if origin in (Union, UnionType):
        if type(None) in args and value is None and not metadata:
            return None
        rest = [a for a in args if a is not type(None)]
        return _plain_value(rest[0], metadata, value) if len(rest) == 1 and value is not None else _NO
    if tp is Any and not metadata:
        return value
    if isinstance(tp, type) and issubclass(tp, BaseModel) and not metadata:
        return _plain_model(tp, value)
    if origin is list and type(value) is list:
        items = [_plain_value(args[0], (), v) for v in value]
        out: Any = _NO if any(v is _NO for v in items) else items
    elif origin is dict and type(value) is dict and args[0] is str:
        if any(type(k) is not str for k in value):
            return _NO
        pairs = {k: _plain_value(args[1], (), v) for k, v in value.items()}
        out = _NO if any(v is _NO for v in pairs.values()) else pairs
    elif tp is str and type(value) is str:
        out = value
    elif tp is bool and type(value) is bool:
        out = value
    elif tp is int and type(value) is int:
        out = value
    elif tp is float and type(value) in (int, float):
        out = float(value)  # type: ignore[arg-type]
    else:
        return _NO
    for meta in metadata:
        if out is _NO:
            return _NO
        out = _plain_constraint(meta, out)
    return out


def _plain_constraint(meta: object, value: Any) -> Any:
    """``value`` once ``meta`` (a bound, a length, a pattern, an after-validator) passed it, or _NO."""
    try:
        if isinstance(meta, AfterValidator):
            return meta.func(value)  # type: ignore[call-arg]
        if isinstance(meta, annotated_types.Gt):
            return value if value > meta.gt else _NO
        if isinstance(meta, annotated_types.Ge):
            return value if value >= meta.ge else _NO
        if isinstance(meta, annotated_types.MinLen):
            return value if len(value) >= meta.min_length else _NO
        pattern = getattr(meta, "pattern", None)
        if type(meta).__name__ == "_PydanticGeneralMetadata" and vars(meta).keys() == {"pattern"}:
            # the same answer as pydantic's regex engine for ASCII text on one line
            ok = type(value) is str and value.isascii() and "\n" not in value and re.search(pattern, value)
            return value if ok else _NO
    except (ValueError, AssertionError, TypeError):
        return _NO
    return _NO


def _partial(model: type[BaseModel], raw: object) -> Any:
    """``model`` built from the fields of ``raw`` that validate on their own
    (no validation of the whole; for finding further problems only)."""
    values = {}
    for name, info in model.model_fields.items():
        if isinstance(raw, dict) and name in raw:
            try:
                values[name] = TypeAdapter(Annotated[info.annotation, info]).validate_python(raw[name])
            except ValidationError:
                pass
    return model.model_construct(**values)


def _partial_config(data: dict[str, Any]) -> tuple[GatewayConfig, set[int]]:
    """The parts of an invalid config that validate: destinations that do,
    every clinic (a bad one with its good keys), the rest of the top level."""
    config = _partial(GatewayConfig, {k: v for k, v in data.items() if k not in ("clinics", "destinations")})
    config.destinations = {}
    for name, dest in (data.get("destinations") or {}).items() if isinstance(data.get("destinations"), dict) else ():
        try:
            config.destinations[str(name)] = DestinationConfig.model_validate(dest)
        except ValidationError:
            pass
    config.clinics, partial = [], set()
    for i, raw in enumerate(data.get("clinics") if isinstance(data.get("clinics"), list) else []):
        try:
            config.clinics.append(ClinicConfig.model_validate(raw))
        except ValidationError:
            clinic = _partial(ClinicConfig, raw)
            if "id" not in clinic.model_fields_set:
                clinic.id = f"clinics[{i}]"
            config.clinics.append(clinic)
            partial.add(i)
    return config, partial


def _strings(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _cross_checks(loaded: LoadedConfig, data: dict[str, Any]) -> list[str]:
    """References between parts, checked on the raw data so they are found
    even when the schema has problems elsewhere."""
    clinics = (
        [c for c in data.get("clinics") or [] if isinstance(c, dict)] if isinstance(data.get("clinics"), list) else []
    )
    destinations = data.get("destinations") if isinstance(data.get("destinations"), dict) else {}
    delivery = data.get("delivery") if isinstance(data.get("delivery"), dict) else {}
    known = ", ".join(sorted(map(str, destinations))) or "none defined"
    problems = []
    seen: dict[str, int] = {}
    for i, clinic in enumerate(data.get("clinics") if isinstance(data.get("clinics"), list) else []):
        if not isinstance(clinic, dict):
            continue
        cid = clinic.get("id")
        if isinstance(cid, str) and cid in seen:
            problems.append(loaded.problem(("clinics", i, "id"), f"duplicate clinic id (also clinics[{seen[cid]}])"))
        elif isinstance(cid, str):
            seen[cid] = i
        for key in ("claims_to", "statements_to"):
            dest = clinic.get(key)
            if isinstance(dest, str) and dest not in destinations:
                problems.append(
                    loaded.problem(("clinics", i, key), f"no destination named '{dest}' (destinations: {known})")
                )
    for name in delivery.get("destinations") or {} if isinstance(delivery.get("destinations"), dict) else ():
        if name not in destinations:
            message = f"no destination named '{name}' (destinations: {known})"
            problems.append(loaded.problem(("delivery", "destinations", name), message))
    raw_clinics = data.get("clinics") if isinstance(data.get("clinics"), list) else []
    if len(raw_clinics) > 1:
        for i, clinic in enumerate(raw_clinics):
            if isinstance(clinic, dict) and clinic.get("accept_any_sender") is True:
                message = "applies only when there is one clinic; list the senders of each clinic instead"
                problems.append(loaded.problem(("clinics", i, "accept_any_sender"), message))
    senders: dict[str, str] = {}
    for clinic in clinics:
        cid = str(clinic.get("id"))
        for sender in _strings(clinic.get("senders")):
            if sender in senders and senders[sender] != cid:
                problems.append(
                    f"{loaded.path.name}: sender '{sender}' is listed by clinics {senders[sender]} and {cid}"
                )
            senders[sender] = cid
    return problems
