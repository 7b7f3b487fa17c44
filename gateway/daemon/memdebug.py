"""A hidden memory probe for the daemon's main process (off by default).

With ``GATEWAY_MEMORY_DEBUG=DIR`` in its environment, ``gateway run`` starts
:mod:`tracemalloc` (``GATEWAY_MEMORY_DEBUG_FRAMES`` frames per allocation,
default 8; 0: no tracemalloc, the figures only) and, on each ``SIGUSR2``, writes ``DIR/daemon-N.json`` — resident
memory, what Python has allocated (tracemalloc), what SQLite has allocated
(``sqlite3_memory_used``), glibc's heap in use and free (``mallinfo2``), and
the most numerous object types — and ``DIR/daemon-N.tracemalloc``, a
snapshot two of which ``benchmarks.bench_daemon`` compares. The figures
are counts, sizes and source lines, never message content. Used by
``benchmarks/bench_daemon.py --memory`` (benchmarks/README.md, branch
``leak``) to find what grows in a long-lived daemon; tracemalloc slows the
process down, so it is never on in service.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import json
import os
import sqlite3
import tracemalloc
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ENV = "GATEWAY_MEMORY_DEBUG"
FRAMES_ENV = "GATEWAY_MEMORY_DEBUG_FRAMES"


_MALLINFO2 = ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in _MALLINFO2]


def _library(name: str) -> Any:
    found = ctypes.util.find_library(name)
    try:
        return ctypes.CDLL(found) if found else None
    except OSError:
        return None


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def sqlite_counters() -> tuple[Callable[[], int], Callable[[int], int]] | None:
    """``sqlite3_memory_used()`` and ``sqlite3_memory_highwater(reset)`` of the
    SQLite library Python's ``sqlite3`` module uses; None when that library
    cannot be loaded, or the one found is not the module's (another version)."""
    lib = _library("sqlite3")
    if lib is None or not hasattr(lib, "sqlite3_memory_used"):
        return None
    lib.sqlite3_libversion.restype = ctypes.c_char_p
    if lib.sqlite3_libversion().decode() != sqlite3.sqlite_version:
        return None
    lib.sqlite3_memory_used.restype = ctypes.c_int64
    lib.sqlite3_memory_highwater.restype = ctypes.c_int64
    lib.sqlite3_memory_highwater.argtypes = [ctypes.c_int]
    return lib.sqlite3_memory_used, lib.sqlite3_memory_highwater


def sqlite_memory() -> tuple[int, int] | None:
    """Bytes SQLite has allocated in this process (page caches, statements,
    sorts), now and at most since the last call."""
    counters = sqlite_counters()
    if counters is None:
        return None
    used, highwater = counters
    return int(used()), int(highwater(1))


def malloc_heap() -> dict[str, int] | None:
    """glibc's main heap: bytes in use and bytes free but kept (fragmentation)."""
    libc = _library("c")
    if libc is None or not hasattr(libc, "mallinfo2"):
        return None
    libc.mallinfo2.restype = _MallInfo2
    info = libc.mallinfo2()
    return {"arena": info.arena, "in_use": info.uordblks, "free": info.fordblks, "mmapped": info.hblkhd}


def resident_by_mapping() -> dict[str, int]:
    """Resident kB by kind of mapping: glibc's main heap, other anonymous
    memory (thread arenas, Python's object arenas, stacks) and files."""
    out = {"heap": 0, "anon": 0, "file": 0}
    kind = "anon"
    try:
        text = Path("/proc/self/smaps").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        first = line.split(maxsplit=1)[0]
        if "-" in first and not first.endswith(":"):
            fields = line.split()
            name = fields[5] if len(fields) > 5 else ""
            kind = "heap" if name == "[heap]" else ("file" if name.startswith("/") else "anon")
        elif first == "Rss:":
            out[kind] += int(line.split()[1])
    return out


def python_arenas() -> int | None:
    """Python's object allocator's arenas in use (``sys._debugmallocstats``)."""
    import re
    import sys
    import tempfile

    if not hasattr(sys, "_debugmallocstats"):
        return None
    with tempfile.TemporaryFile() as fh:
        saved = os.dup(2)
        try:
            os.dup2(fh.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        fh.seek(0)
        found = re.search(rb"# arenas allocated current\s*=\s*([\d,]+)", fh.read())
    return int(found.group(1).replace(b",", b"")) if found else None


class MemoryProbe:
    """Writes numbered reports into ``folder`` (see the module doc)."""

    def __init__(self, folder: Path, frames: int = 8) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.n = 0
        self.tracing = frames > 0  # 0: the figures only, no tracemalloc (and no slowing down)
        if self.tracing and not tracemalloc.is_tracing():
            tracemalloc.start(frames)

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> MemoryProbe | None:
        env = os.environ if environ is None else environ
        folder = env.get(ENV)
        if not folder:
            return None
        return cls(Path(folder), int(env.get(FRAMES_ENV, "8")))

    def report(self) -> Path:
        gc.collect()
        types = Counter(type(o).__name__ for o in gc.get_objects())
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        sqlite = sqlite_memory()
        out = {
            "n": self.n,
            "rss_kb": rss_kb(),
            "python_traced": current,
            "python_peak": peak,  # since the last report
            "sqlite": sqlite[0] if sqlite else None,
            "sqlite_peak": sqlite[1] if sqlite else None,  # since the last report
            "malloc": malloc_heap(),
            "mappings_kb": resident_by_mapping(),
            "python_arenas": python_arenas(),
            "objects": dict(types.most_common(40)),
        }
        if self.tracing:
            tracemalloc.take_snapshot().dump(str(self.folder / f"daemon-{self.n}.tracemalloc"))
        path = self.folder / f"daemon-{self.n}.json"
        partial = path.with_suffix(".part")
        partial.write_text(json.dumps(out, indent=1))
        partial.replace(path)  # the benchmark waits for this name: the report is whole
        self.n += 1
        return path


def compare(folder: Path, first: int, second: int, top: int = 15) -> list[str]:
    """What grew in the daemon between reports ``first`` and ``second``."""
    a = json.loads((folder / f"daemon-{first}.json").read_text())
    b = json.loads((folder / f"daemon-{second}.json").read_text())
    lines = [f"reports {first} -> {second}:"]
    for key in ("rss_kb", "python_traced", "sqlite"):
        if a.get(key) is not None and b.get(key) is not None:
            lines.append(f"  {key:<14} {a[key]:>12,} -> {b[key]:>12,} ({b[key] - a[key]:+,})")
    for key in ("arena", "in_use", "free", "mmapped"):
        if a.get("malloc") and b.get("malloc"):
            x, y = a["malloc"][key], b["malloc"][key]
            lines.append(f"  malloc.{key:<7} {x:>12,} -> {y:>12,} ({y - x:+,})")
    grown = sorted(((n - a["objects"].get(t, 0), t, n) for t, n in b["objects"].items()), reverse=True)[:10]
    lines += [f"  objects {t:<28} {n:>9,} ({d:+,})" for d, t, n in grown if d]
    if not (folder / f"daemon-{first}.tracemalloc").exists():
        return lines
    old = tracemalloc.Snapshot.load(str(folder / f"daemon-{first}.tracemalloc"))
    new = tracemalloc.Snapshot.load(str(folder / f"daemon-{second}.tracemalloc"))
    for stat in new.compare_to(old, "traceback")[:top]:
        if stat.size_diff <= 0:
            continue
        lines.append(f"  {stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7} blocks")
        lines += [f"      {line.strip()}" for line in stat.traceback.format(limit=4) if line.strip()]
    return lines


def series(folder: Path, labels: list[str]) -> list[str]:
    """One line per report: resident, Python, SQLite and glibc heap (in use, free), MB."""
    mb = 1 / (1 << 20)
    heads = ("rss", "python", "peak", "arenas", "sqlite", "peak", "heap", "in use", "free", "[heap]", "anon", "file")
    lines = [f"{'sample':>10}" + "".join(f" {h:>7}" for h in heads)]
    for n, label in enumerate(labels):
        path = folder / f"daemon-{n}.json"
        if not path.exists():
            break
        r = json.loads(path.read_text())
        m = r.get("malloc") or {"arena": 0, "in_use": 0, "free": 0}
        maps = r.get("mappings_kb") or {"heap": 0, "anon": 0, "file": 0}
        lines.append(
            f"{label:>10} {r['rss_kb'] / 1024:>7.1f} {r['python_traced'] * mb:>7.1f} {r['python_peak'] * mb:>7.1f} "
            f"{r.get('python_arenas') or 0:>7} {(r['sqlite'] or 0) * mb:>7.1f} "
            f"{(r.get('sqlite_peak') or 0) * mb:>7.1f} "
            f"{m['arena'] * mb:>7.1f} {m['in_use'] * mb:>7.1f} {m['free'] * mb:>7.1f}"
            f" {maps['heap'] / 1024:>7.1f} {maps['anon'] / 1024:>7.1f} {maps['file'] / 1024:>7.1f}"
        )
    return lines
