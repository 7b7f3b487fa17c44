"""systemd readiness (``Type=notify``): the sd_notify datagram, without libsystemd.

Sends ``READY=1``, ``STOPPING=1`` or ``STATUS=…`` to the socket named by
``$NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract namespace). Does
nothing when the variable is unset (not started by systemd).
"""

from __future__ import annotations

import os
import socket


def notify(state: str, environ: dict[str, str] | None = None) -> bool:
    """Send ``state`` to systemd; True when a notify socket was there."""
    address = (environ if environ is not None else os.environ).get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        sock.connect(address)
        sock.sendall(state.encode())
    return True
