"""No zombies, no orphans: worker processes die with their daemon, and a
minimal init can stand in front of ``gateway run`` — in a container without
one (``gateway run`` is PID 1) or with ``gateway run --init``.

Workers start through :func:`worker_main`: ``PR_SET_PDEATHSIG`` sends them
SIGTERM (a graceful stop that hands their batch back) when the daemon dies,
even while they are still starting.

The process forks: the child runs the service; the parent stays as its init.
It is a child subreaper (``prctl(PR_SET_CHILD_SUBREAPER)``), so processes
orphaned below it — worker processes whose daemon was killed, anything a
plugin or ``docker exec`` left behind — are re-parented to it instead of to a
PID 1 that may never reap them. It forwards SIGTERM, SIGINT, SIGHUP, SIGQUIT,
SIGUSR1 and SIGUSR2 to the service, reaps every child that exits, and when
the service has exited (and the orphans it adopted are gone, or after
``grace`` seconds) exits with the service's status (128 + signal when killed).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


def _prctl(option: int, value: int) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):  # not Linux
        return False


def worker_main(parent: int, *args: object) -> None:
    """Entry point of a spawned worker: stops with the daemon ``parent``, then
    runs :func:`gateway.worker.worker_process` with ``args``."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the daemon died while this process was starting
        return
    from gateway.worker import worker_process

    worker_process(*args)  # type: ignore[arg-type]


def exit_code(status: int) -> int:
    """A wait status as a shell would report it (128 + signal when killed)."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def become_init(grace: float = 30.0) -> None:
    """Fork; return in the child (which runs the service), never in the parent."""
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    sys.stdout.flush()
    sys.stderr.flush()
    init = os.getpid()
    service = os.fork()
    if service == 0:
        _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)  # the init is gone: stop gracefully
        if os.getppid() != init:  # it died before the prctl
            raise SystemExit(1)
        return

    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(service, signum)
        except ProcessLookupError:
            pass

    for sig in FORWARDED:
        signal.signal(sig, forward)
    code = 0
    deadline: float | None = None
    while True:
        try:
            pid, status = os.waitpid(-1, 0 if deadline is None else os.WNOHANG)
        except ChildProcessError:
            break  # no children left
        if pid == service:
            code = exit_code(status)
            deadline = time.monotonic() + grace
        elif pid == 0:  # the service is gone, adopted orphans still run
            if time.monotonic() > deadline:  # type: ignore[operator]
                break
            time.sleep(0.05)
    os._exit(code)
