"""X12 responses in: TA1, 999 (005010X231A1), 277CA (005010X214) and 835
(005010X221A1) read into the typed models of :mod:`gateway.model`
(``Ack999``, ``ClaimAck277``, ``Remit835``…), with balancing checks; and
``gateway dev simulate-payer``, a payer simulator that answers our 837P
files. See docs/remittance.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.hookspecs import hookimpl
from gateway.messages import Envelope, MessageMeta

from .rules import RULES
from .sniff import FORMAT, sniff

if TYPE_CHECKING:
    from gateway.model import ResponseBatch

    from .read import read_responses, stream_responses

__all__ = ["FORMAT", "RULES", "read_responses", "stream_responses"]


def __getattr__(name: str) -> object:
    """``read_responses`` and ``stream_responses`` import the reader (and the
    835 posting walk) on first use: every input is sniffed here, few are X12."""
    if name in ("read_responses", "stream_responses"):
        from . import read

        return getattr(read, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@hookimpl
def gateway_sniff(raw: bytes, meta: MessageMeta) -> Envelope | None:
    return sniff(raw)


@hookimpl
def gateway_read_responses(raw: bytes, envelope: Envelope) -> ResponseBatch | None:
    if envelope.format != FORMAT:
        return None
    from .read import read_responses

    return read_responses(raw)
