"""Validation with pyx12 (``x12n_document``), its maps loaded once.

``x12n_document`` reads pyx12's XML maps from disk on every call (about
0.15 s for the 837P map). :class:`Pyx12Validator` keeps the parsed maps and
lends them to ``x12n_document`` while it validates, so checking many files
costs the parse once. pyx12's errors come back from its JSON report as
:class:`Pyx12Error` with the segment position; values it quotes are
replaced by "value" so no patient data reaches a log.
"""

from __future__ import annotations

import io
import json
import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pyx12.map_if
import pyx12.map_index
import pyx12.params
import pyx12.x12n_document

_LEN = re.compile(r'len\("[^"]*"\)')
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Pyx12Error:
    """One pyx12 finding: ``segment`` is the 1-based position in the file
    (ISA = 1), ``element`` e.g. "HI01-02"."""

    message: str
    code: str
    segment: int | None = None
    seg_id: str = ""
    element: str = ""
    transaction_position: int | None = None


def _sanitize(text: str, value: str | None) -> str:
    text = _LEN.sub("len(value)", text)
    if value:
        text = text.replace(f"({value})", "(value)").replace(f'"{value}"', "value")
    return text


def _errors(node: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for e in node.get("errors", []):
        yield str(e.get("err_cde", "")), _sanitize(str(e.get("err_str", "")), e.get("err_val"))


def errors_from_report(report: dict[str, Any]) -> list[Pyx12Error]:
    """Flatten pyx12's JSON error report."""
    out: list[Pyx12Error] = []
    for isa in report.get("interchanges", []):
        out += [Pyx12Error(m, c, isa.get("cur_line"), "ISA") for c, m in _errors(isa)]
        for gs in isa.get("groups", []):
            out += [Pyx12Error(m, c, gs.get("cur_line"), "GS") for c, m in _errors(gs)]
            for st in gs.get("transactions", []):
                out += [Pyx12Error(m, c, st.get("cur_line"), "ST") for c, m in _errors(st)]
                for seg in st.get("segments", []):
                    where = {"segment": seg.get("cur_line"), "seg_id": seg.get("seg_id") or ""}
                    pos = seg.get("seg_count")
                    out += [Pyx12Error(m, c, **where, transaction_position=pos) for c, m in _errors(seg)]
                    for ele in seg.get("elements", []):
                        name = f"{where['seg_id']}{ele.get('ele_pos', 0):02d}"
                        if ele.get("subele_pos"):
                            name += f"-{ele['subele_pos']:02d}"
                        out += [
                            Pyx12Error(m, c, **where, element=name, transaction_position=pos) for c, m in _errors(ele)
                        ]
    return out


class Pyx12Validator:
    """Validate X12 text with pyx12; reuse one instance for many files."""

    def __init__(self) -> None:
        self.params = pyx12.params.params()
        self._maps: dict[tuple[str, str | None], Any] = {}
        self._index: dict[str | None, Any] = {}
        self._load_map = pyx12.map_if.load_map_file
        self._map_index = pyx12.map_index.map_index

    def _cached_map(self, map_file: str, param: Any, map_path: str | None = None) -> Any:
        key = (map_file, map_path)
        if key not in self._maps:
            self._maps[key] = self._load_map(map_file, param, map_path)
        return self._maps[key]

    def _cached_index(self, base_path: str | None = None) -> Any:
        if base_path not in self._index:
            self._index[base_path] = self._map_index(base_path)
        return self._index[base_path]

    @contextmanager
    def _maps_lent(self) -> Iterator[None]:
        """Let x12n_document use the parsed maps (module attributes restored after)."""
        logger = logging.getLogger("pyx12")
        with _LOCK:
            saved = (pyx12.map_if.load_map_file, pyx12.map_index.map_index, logger.level)
            pyx12.map_if.load_map_file = self._cached_map  # type: ignore[assignment]
            pyx12.map_index.map_index = self._cached_index  # type: ignore[assignment,misc]
            # pyx12 logs every error with its value (patient data); we report them ourselves
            logger.setLevel(logging.CRITICAL + 1)
            try:
                yield
            finally:
                pyx12.map_if.load_map_file, pyx12.map_index.map_index, level = saved  # type: ignore[misc]
                logger.setLevel(level)

    def validate(self, data: bytes | str) -> list[Pyx12Error]:
        """pyx12's errors for one interchange file (empty list: valid).

        A BOM and blanks before the ISA are removed first (pyx12 expects the
        file to start with "ISA")."""
        text = data.decode("utf-8-sig", errors="replace") if isinstance(data, bytes) else data.lstrip("\ufeff")
        text = text.lstrip()
        report = io.StringIO()
        with self._maps_lent():
            try:
                ok = pyx12.x12n_document.x12n_document(self.params, io.StringIO(text), None, None, None, report)
            except Exception as exc:  # pyx12 raises EngineError for unknown maps and bad structure
                if "Map not found" in str(exc):
                    msg = "pyx12 has no map for this file's version (GS08); only 005010X222A1 837P is checked"
                else:
                    msg = f"pyx12 could not process the file ({type(exc).__name__})"
                return [Pyx12Error(msg, "ENGINE", 1, "ISA")]
        raw = report.getvalue()
        errors = errors_from_report(json.loads(raw)) if raw.strip() else []
        if not ok and not errors:
            errors.append(Pyx12Error("pyx12 rejected the file (not an X12 interchange it can read)", "REJECTED", 1))
        return errors
