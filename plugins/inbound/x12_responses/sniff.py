"""Recognising response files cheaply: an ISA, then a TA1 or a functional
group whose GS01/GS08 (or first ST01) is a 999, 277CA or 835.

Claims (837, GS01 = HC) and anything else X12 are left to other plugins.
"""

from __future__ import annotations

from gateway.messages import Envelope
from gateway.x12 import SegmentStream, X12SyntaxError

FORMAT = "x12-response"
#: how much of the file sniffing reads
HEAD = 4096
#: GS01 functional identifier → response kind
GROUP_KINDS = {"FA": "999", "HN": "277CA", "HP": "835"}
#: ST01 → response kind
SET_KINDS = {"999": "999", "277": "277CA", "835": "835"}


def sniff(raw: bytes) -> Envelope | None:
    """The envelope of a response file, or None when it is not one.

    ``sender`` is ISA06, ``control_id`` ISA13 (with the sender, the dedup
    key), ``message_type`` the kind of the first document (999, 277CA, 835
    or TA1), ``version`` its GS08.
    """
    head = raw[:HEAD].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith(b"ISA"):
        return None
    try:
        stream = SegmentStream(head.decode("latin-1"))
        segments = iter(stream)
        isa = next(segments)
        following = next(segments, None)
    except (X12SyntaxError, StopIteration):
        return None
    if following is None:
        return None
    kind, version = None, None
    if following.id == "TA1":
        kind = "TA1"
    elif following.id == "GS":
        version = following.get(8) or None
        kind = GROUP_KINDS.get(following.get(1))
        if kind is None and following.get(1) not in ("HC",):
            st = next(segments, None)
            kind = SET_KINDS.get(st.get(1)) if st is not None and st.id == "ST" else None
    if kind is None:
        return None
    return Envelope(
        format=FORMAT,
        sender=isa.get(6).strip() or None,
        control_id=isa.get(13).strip() or None,
        message_type=kind,
        version=version,
    )
