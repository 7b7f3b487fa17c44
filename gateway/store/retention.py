"""Retention: raw bytes of old, finished messages leave the store.

What stays: the message row (hash — so a resend is still recognised as a
duplicate —, size, sender, control id, statuses, findings), its encounters,
claims and statements, and the audit trail, which gains a ``pruned-raw``
entry per message. What goes: the raw bytes (the ``message_raw`` row is deleted and
``raw_pruned_at`` is set); such a message can no longer be reprocessed.
Optionally the bytes are first written to an archive (gzip JSON lines, one
file per run, created 0600, synced before the store commits).
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any


class Archive:
    """``<dir>/raw-<UTC time>-<pid>.jsonl.gz``: one JSON object per pruned message."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = folder / f"raw-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{os.getpid()}.jsonl.gz"
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._file = os.fdopen(fd, "wb")
        self._gz = gzip.GzipFile(fileobj=self._file, mode="wb")

    def __call__(self, rows: Sequence[tuple[int, str | None, str, float, bytes]]) -> None:
        for mid, clinic, sha, received, raw in rows:
            line = {"id": mid, "clinic": clinic, "sha256": sha, "received_at": received}
            line["raw_b64"] = base64.b64encode(raw).decode("ascii")
            self._gz.write(json.dumps(line, separators=(",", ":")).encode() + b"\n")
        self._gz.flush()  # a sync flush: what the store is about to drop is on disk first
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._gz.close()
        self._file.close()


def read_archive(path: Path) -> list[dict[str, Any]]:
    """The archived messages, raw bytes decoded (for restores and tests)."""
    with gzip.open(path, "rt") as f:
        rows = [json.loads(line) for line in f]
    for r in rows:
        r["raw"] = base64.b64decode(r.pop("raw_b64"))
    return rows
