"""Structured logs: one JSON object per line, and no patient data.

Log calls name an ``event`` and pass fields; only identifiers the gateway
made or that identify a channel (message id, clinic id, status, rule ids,
counts, durations, file names the operator chose) belong in them — never raw
bytes, names, dates of birth, member ids or finding messages from plugins.
Exceptions are logged by type only: their text may quote input.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, TextIO

from gateway.phi import PHI_FIELDS, REDACTED

LOGGER = "gateway"
_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """``{"ts":…, "level":…, "logger":…, "event":…, …fields}`` per line."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                out[key] = REDACTED if key in PHI_FIELDS else value  # a field named like PHI is never written
        if record.exc_info and record.exc_info[0] is not None:
            out["error"] = record.exc_info[0].__name__  # the type only: the text may quote patient data
        return json.dumps(out, default=str, separators=(",", ":"))


def setup(level: str = "info", stream: TextIO | None = None) -> None:
    """Send the ``gateway`` loggers to ``stream`` (stderr) as JSON lines."""
    root = logging.getLogger(LOGGER)
    for h in list(root.handlers):
        if getattr(h, "_gateway_json", False):
            root.removeHandler(h)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler._gateway_json = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    root.propagate = False


def get(name: str) -> logging.Logger:
    return logging.getLogger(f"{LOGGER}.{name}")


def event(logger: logging.Logger, name: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log ``name`` with ``fields`` (identifiers and counts only)."""
    if logger.isEnabledFor(level):
        logger.log(level, name, extra=fields)
