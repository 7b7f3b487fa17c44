"""Reading per-clinic mapping files (CSV, YAML) with errors that name file and line.

Used by the start-up hooks (``gateway_load_clinic``) of the charge master,
code map, payer directory and procedure code plugins. Every problem becomes a
:class:`~gateway.config.ConfigError` line ``file:line: what is wrong``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from gateway.config import SAFE_LOADER, ConfigError, line_marks, validation_problems

#: mapping files are small; a bigger one is almost certainly the wrong file
MAX_BYTES = 50 * 1024 * 1024


def resolve(path: str, base_dir: Path) -> Path:
    """A clinic config path, relative to gateway.yaml's folder unless absolute."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else (base_dir / p)


def read_text(path: Path) -> str:
    """The file's text (UTF-8, BOM allowed) or a ConfigError naming it."""
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ConfigError([f"{path}: larger than {MAX_BYTES // 2**20} MB"])
        return path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read ({exc.strerror})"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text (byte {exc.start})"]) from None


@dataclass(frozen=True)
class Row:
    """One CSV data row: values by (lower-case) column name, and its line."""

    line: int
    values: dict[str, str]

    def get(self, column: str) -> str:
        """The stripped value ('' when the column is absent or empty)."""
        return (self.values.get(column) or "").strip()


def read_csv(
    path: Path, required: Sequence[str], optional: Sequence[str] = (), problems: Problems | None = None
) -> Iterator[Row]:
    """Rows of a CSV with a header line; blank lines and lines starting with
    ``#`` are skipped. Unknown or missing columns are a ConfigError at once.
    A row with too many fields is left out and reported in ``problems`` (the
    caller's, so every bad row of the file is reported together), or a
    ConfigError at that row without one."""
    text = read_text(path)
    lines = [(n, ln) for n, ln in enumerate(text.splitlines(), 1) if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise ConfigError([f"{path.name}: empty file (expected a header line: {','.join(required)})"])
    reader = csv.reader([ln for _, ln in lines])
    header = [h.strip().lower() for h in next(reader)]
    missing = [c for c in required if c not in header]
    unknown = [c for c in header if c not in required and c not in optional]
    header_problems = []
    if missing:
        header_problems.append(f"{path.name}:{lines[0][0]}: missing column(s) {', '.join(missing)}")
    if unknown:
        header_problems.append(
            f"{path.name}:{lines[0][0]}: unknown column(s) {', '.join(unknown)} "
            f"(known: {', '.join([*required, *optional])})"
        )
    if header_problems:
        raise ConfigError(header_problems)
    for (n, _), fields in zip(lines[1:], reader, strict=True):
        if len(fields) > len(header):
            if problems is None:
                raise ConfigError([f"{path.name}:{n}: {len(fields)} fields, the header has {len(header)}"])
            problems.add(n, f"{len(fields)} fields, the header has {len(header)}")
            continue
        yield Row(n, dict(zip(header, fields, strict=False)))


def read_yaml(path: Path) -> Any:
    """A YAML file parsed with a safe loader (libyaml's when available; never the unsafe one)."""
    text = read_text(path)
    try:
        return yaml.load(text, Loader=SAFE_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError([f"{path.name}{line}: not valid YAML ({getattr(exc, 'problem', exc)})"]) from None


class Problems:
    """Collects ``file:line: message`` problems; raise them all at once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.items: list[str] = []

    def add(self, line: int | None, message: str) -> None:
        where = f"{self.path.name}:{line}" if line else self.path.name
        self.items.append(f"{where}: {message}")

    def raise_if_any(self) -> None:
        if self.items:
            raise ConfigError(self.items)


def read_yaml_model(path: Path, model: type[BaseModel]) -> BaseModel:
    """A YAML file (safe loader) validated with ``model``; problems name file, line and key path."""
    data = read_yaml(path)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        lines: dict[tuple[str | int, ...], int] = {}
        node = yaml.compose(read_text(path), Loader=SAFE_LOADER)
        if node is not None:
            line_marks(node, (), lines)
        raise ConfigError(validation_problems(exc, model, path, lines)) from None
