"""Folder source (``type: folder``): each clinic's inbound folders, watched.

Only complete files are taken: temporary and partial names are ignored
(``.*``, ``*.tmp``, ``*.part``…), a file renamed into the folder is taken at
once, a file written in place is taken after its writer closed it
(inotify close-write) and its size stayed the same for ``settle`` seconds;
files found without such an event (the scan at start-up, a platform without
inotify, a missed event) must keep their size and time for
``stable_seconds``. A periodic rescan is the safety net for missed events.

Only regular files are read (:func:`gateway.sources.read_input`): a
symbolic link, FIFO, device, socket or a file with other hard links is moved
to ``error/`` without being opened for reading, and no more than
``max_bytes`` are ever read, whatever size a file reports.

After the journal has durably stored the bytes the file moves to
``processed/`` (or is deleted: ``after: delete``); a file no plugin
recognises (stored quarantined), an empty, oversized or non-regular one goes
to ``error/`` with ``<name>.reason.txt`` beside it — the reason names rules,
never content. A crash between the commit and the move leaves the file
where it was; taken again, it is a duplicate by content hash and is moved
without being billed twice.
"""

from __future__ import annotations

import asyncio
import fnmatch
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway import logging as glog
from gateway.hookspecs import hookimpl
from gateway.messages import MessageMeta
from gateway.sources import InputRefused, read_input

log = glog.get("folder")

DEFAULT_IGNORE = [
    ".*",
    "*.tmp",
    "*.temp",
    "*.part",
    "*.partial",
    "*.filepart",
    "*.crdownload",
    "*.swp",
    "~*",
    "*.reason.txt",
]


class FolderSourceSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: inbound folder, relative to gateway.yaml's folder
    path: Path
    #: where taken files go (default ``<path>/processed``)
    processed: Path | None = None
    #: where bad files go with a ``.reason.txt`` (default ``<path>/error``)
    error: Path | None = None
    after: Literal["move", "delete"] = "move"
    pattern: str = "*"
    ignore: list[str] = Field(default_factory=lambda: list(DEFAULT_IGNORE))
    settle: float = Field(0.1, ge=0)
    stable_seconds: float = Field(2.0, ge=0)
    rescan_seconds: float = Field(30.0, gt=0)
    #: a bigger file goes to error/ unread (the readers' default limits are 20 MB and below)
    max_bytes: int = Field(20_000_000, gt=0)
    batch: int = Field(256, gt=0)
    #: after an event, wait this long so a burst of files is taken (and committed) together
    coalesce: float = Field(0.05, ge=0)


@dataclass
class _Seen:
    size: int
    mtime: int
    since: float  # when (size, mtime) was first seen like this
    closed: bool  # a close-write or rename-in was seen after the last change


def _events(on_event: Callable[[str, str], None]) -> Any:
    """A watchdog handler passing each file event's path and kind to
    ``on_event`` (watchdog imported here, when a folder source starts: a
    command that only reads the config does not pay for it)."""
    from watchdog.events import FileSystemEvent, FileSystemEventHandler

    class Events(FileSystemEventHandler):
        def on_any_event(self, event: FileSystemEvent) -> None:
            if event.is_directory:
                return
            kind = event.event_type
            path = event.dest_path if kind == "moved" else event.src_path  # moved out: dest_path is ""
            if kind in ("closed", "moved", "created", "modified"):
                on_event(os.fsdecode(path), kind)

    return Events()


def _observer() -> Any:
    """inotify with full move events on Linux (a file renamed in from another
    folder is reported as moved, so complete at once); elsewhere watchdog's
    default observer, where such files wait for ``stable_seconds``."""
    try:
        from watchdog.observers.inotify import InotifyObserver

        return InotifyObserver(generate_full_events=True)
    except (ImportError, OSError):  # pragma: no cover - not Linux
        from watchdog.observers import Observer

        return Observer()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _free_name(folder: Path, name: str, tag: str) -> Path:
    target = folder / name
    return target if not os.path.lexists(target) else folder / f"{name}.{tag}"


class FolderSource:
    """Watches one inbound folder for one clinic."""

    detailed_submit = True  # the daemon hands us the journal's outcome (to route bad files)

    def __init__(self, settings: FolderSourceSettings, clinic_id: str, base_dir: Path) -> None:
        self.settings = settings
        self.clinic_id = clinic_id
        self.inbound = (base_dir / settings.path).resolve()
        self.processed = (base_dir / settings.processed).resolve() if settings.processed else self.inbound / "processed"
        self.errors = (base_dir / settings.error).resolve() if settings.error else self.inbound / "error"
        self.name = f"folder:{clinic_id}:{settings.path}"
        self._seen: dict[str, _Seen] = {}
        self._hints: dict[str, str] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task | None = None
        self._observer: Any = None
        self.taken = 0

    # -- lifecycle -------------------------------------------------------
    async def start(self, submit: Callable[..., Any]) -> None:
        for folder in (self.inbound, self.processed, self.errors):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        loop = asyncio.get_running_loop()

        def hint(path: str, kind: str) -> None:
            p = Path(path)
            if p.parent == self.inbound:
                loop.call_soon_threadsafe(self._hint, p.name, kind)

        self._observer = _observer()
        self._observer.schedule(_events(hint), str(self.inbound), recursive=False)
        self._observer.daemon = True
        self._observer.start()
        self._scan()  # files that arrived while we were down
        self._task = asyncio.create_task(self._loop(submit))

    async def stop(self) -> None:
        """Stop taking files; the batch in hand is journaled and moved first."""
        self._stopping = True
        self._wake.set()
        if self._observer is not None:
            self._observer.stop()
        if self._task is not None:
            await self._task
        if self._observer is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._observer.join, 5)

    # -- candidates ------------------------------------------------------
    def _wanted(self, name: str) -> bool:
        s = self.settings
        return fnmatch.fnmatch(name, s.pattern) and not any(fnmatch.fnmatch(name, p) for p in s.ignore)

    def _hint(self, name: str, kind: str) -> None:
        if self._wanted(name):
            self._hints[name] = kind  # the latest event tells: written again means wait for the next close
            self._wake.set()

    def _scan(self) -> None:
        with os.scandir(self.inbound) as it:
            for entry in it:  # not only regular files: the others go to error/
                if entry.is_dir(follow_symlinks=False) or entry.name in self._hints:
                    continue
                if self._wanted(entry.name):
                    self._hints[entry.name] = "scan"

    def _ready(self, now: float) -> tuple[list[str], float]:
        """Names ready to take, and how long until the next may be."""
        ready, wait = [], self.settings.rescan_seconds
        for name, kind in list(self._hints.items()):
            try:
                st = os.lstat(self.inbound / name)
            except FileNotFoundError:
                self._hints.pop(name, None)
                self._seen.pop(name, None)
                continue
            if not stat.S_ISREG(st.st_mode):
                ready.append(name)  # nothing to wait for: refused unread when taken
                continue
            closed = kind in ("closed", "moved")
            seen = self._seen.get(name)
            if seen is None or (seen.size, seen.mtime) != (st.st_size, st.st_mtime_ns):
                seen = self._seen[name] = _Seen(st.st_size, st.st_mtime_ns, now, closed)
                if kind == "moved":
                    ready.append(name)  # renamed in whole: complete now
                    continue
            seen.closed = seen.closed or closed
            need = self.settings.settle if seen.closed else self.settings.stable_seconds
            left = seen.since + need - now
            if left <= 0:
                ready.append(name)
            else:
                wait = min(wait, left)
        return ready, wait

    # -- taking files ----------------------------------------------------
    async def _loop(self, submit: Callable[..., Any]) -> None:
        loop = asyncio.get_running_loop()
        last_scan = time.monotonic()
        while not self._stopping:
            if time.monotonic() - last_scan >= self.settings.rescan_seconds:
                self._scan()
                last_scan = time.monotonic()
            ready, wait = self._ready(time.time())
            for i in range(0, len(ready), self.settings.batch):
                if self._stopping:
                    break
                chunk = ready[i : i + self.settings.batch]
                try:
                    await self._take(chunk, submit, loop)
                except Exception as exc:  # the store is down: keep the files, try again
                    glog.event(log, "folder.take_failed", 40, source=self.name, error=type(exc).__name__)
                    await asyncio.sleep(1.0)
            if ready:
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), max(wait, 0.01))
                await asyncio.sleep(self.settings.coalesce)
            except TimeoutError:
                pass

    async def _take(self, names: list[str], submit: Callable[..., Any], loop: asyncio.AbstractEventLoop) -> None:
        contents = await loop.run_in_executor(None, self._read_all, names)
        today = date.today()
        jobs, bad = [], []
        for name, raw in zip(names, contents, strict=True):
            if isinstance(raw, str):
                bad.append((name, raw))
                continue
            meta = MessageMeta(
                source=f"folder:{self.clinic_id}",
                today=today,
                clinic_id=self.clinic_id,
                name=name,
                received_at=datetime.now(UTC),
            )
            jobs.append((name, submit(raw, meta)))
        results = await asyncio.gather(*(j for _, j in jobs))  # grouped into few commits by the journal
        for (name, _), outcome in zip(jobs, results, strict=True):
            rejected = getattr(outcome, "rejected", None)
            if rejected:
                bad.append((name, f"{rejected} (stored as message {outcome.message_id}, quarantined)"))
            else:
                self._done(name, getattr(outcome, "message_id", None))
        for name, reason in bad:
            self._to_error(name, reason)
        await loop.run_in_executor(None, self._sync_dirs)
        self.taken += len(names)

    def _read_all(self, names: list[str]) -> list[bytes | str]:
        out: list[bytes | str] = []
        for name in names:
            try:
                raw = read_input(self.inbound / name, self.settings.max_bytes)
            except InputRefused as exc:
                glog.event(log, "folder.refused", 30, source=self.name, kind=exc.kind)
                out.append(str(exc))
                continue
            out.append("file is empty" if not raw or raw.isspace() else raw)
        return out

    def _forget(self, name: str) -> None:
        self._hints.pop(name, None)
        self._seen.pop(name, None)

    def _done(self, name: str, message_id: int | None) -> None:
        src = self.inbound / name
        if self.settings.after == "delete":
            src.unlink(missing_ok=True)
        else:
            os.replace(src, _free_name(self.processed, name, str(message_id or int(time.time()))))
        self._forget(name)
        glog.event(log, "folder.taken", source=self.name, message_id=message_id)

    def _to_error(self, name: str, reason: str) -> None:
        target = _free_name(self.errors, name, str(int(time.time() * 1000)))
        try:
            os.replace(self.inbound / name, target)
        except FileNotFoundError:
            self._forget(name)
            return
        note = target.with_name(target.name + ".reason.txt")
        partial = note.with_name(f".{note.name}.part")  # whole or absent: a reader never sees half a note
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{name}: {reason}\n")
        os.replace(partial, note)
        self._forget(name)
        glog.event(log, "folder.rejected", 30, source=self.name)  # file names may carry patient data

    def _sync_dirs(self) -> None:
        for folder in (self.inbound, self.processed, self.errors):
            _fsync_dir(folder)


def folder_source(settings: FolderSourceSettings, clinic_id: str, base_dir: Path) -> FolderSource:
    return FolderSource(settings, clinic_id, base_dir)


@hookimpl
def gateway_register_sources(register: Callable[[str, Callable[..., Any], type[BaseModel]], None]) -> None:
    register("folder", folder_source, FolderSourceSettings)
