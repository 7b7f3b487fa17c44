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
                out[key] = value
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


class RateLimited:
    """At most one line per ``key`` every ``interval`` seconds; the next line
    carries ``suppressed``: how many were left out since the last one (a flood
    of refused connections cannot flood the log)."""

    def __init__(self, interval: float = 10.0) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def event(self, logger: logging.Logger, name: str, level: int, key: str, **fields: Any) -> bool:
        """Log like :func:`event` unless ``key`` was logged within the interval; True when logged."""
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return False
        self._last[key] = now
        event(logger, name, level, suppressed=self._suppressed.pop(key, 0), **fields)
        return True
