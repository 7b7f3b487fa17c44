"""HL7 v2 version by content: the lowest version (not below MSH-12) whose
structure holds every segment and field the message uses.

Feeds lie about MSH-12 (a "2.3" message with PRT segments or FT1-29). The
tables below come from hl7apy's structure definitions (a test regenerates
them and compares); field counts are cumulative, because fields withdrawn in
a later version keep their positions.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

VERSIONS: tuple[str, ...] = ("2.1", "2.2", "2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.8")

#: segments that first appear after 2.2, by the version that introduced them
SEGMENT_SINCE_TEXT = {
    "2.3": "AIG AIL AIP AIS APR ARQ AUT CDM CM0 CM1 CM2 CSP CSR CSS CTD CTI DB1 DRG EQL ERQ FAC GOL LCC LCH LDP "
    "LOC LRL PCR PDC PEO PES PRB PRC PRD PSH PTH QAK RDF RDT RF1 RGS ROL SCH SPR TXA VAR VTQ",
    "2.4": "ABS AFF BLC CNS ECD ECR EDU EQP EQU GP1 GP2 IAM INV ISD LAN NDS OM7 ORG PDA QID QPD QRI RCP RMI SAC "
    "SID TCC TCD",
    "2.5": "BPO BPX BTX CER CON IIM IPC OVR SFT SPM TQ1 TQ2",
    "2.6": "ADJ ARV DMI ILT IPR ITM IVC IVT PCE PKG PMT PSG PSL PSS PYE REL RFI SCD SCP SDD SLT STZ UAC VND",
    "2.7": "IAR PAC PRT SHP",
    "2.8": "BUI CDO DON RXV SGH SGT",
}
SEGMENT_SINCE: dict[str, int] = {
    seg: VERSIONS.index(v) for v, names in SEGMENT_SINCE_TEXT.items() for seg in names.split()
}

#: highest field number defined, per version in VERSIONS order (cumulative)
FIELD_COUNTS: dict[str, tuple[int, ...]] = {
    "MSH": (14, 17, 19, 20, 21, 21, 21, 25, 25, 25),
    "EVN": (4, 5, 6, 6, 7, 7, 7, 7, 7, 7),
    "PID": (20, 27, 30, 30, 38, 39, 39, 39, 40, 40),
    "PD1": (1, 1, 12, 12, 21, 21, 21, 22, 22, 22),
    "NK1": (5, 13, 37, 37, 37, 39, 39, 39, 41, 41),
    "PV1": (49, 50, 52, 52, 52, 52, 52, 52, 53, 53),
    "PV2": (0, 9, 37, 37, 47, 49, 49, 50, 50, 50),
    "DB1": (0, 0, 8, 8, 8, 8, 8, 8, 8, 8),
    "OBX": (12, 16, 17, 17, 19, 19, 25, 25, 26, 28),
    "AL1": (0, 6, 6, 6, 6, 6, 6, 6, 6, 6),
    "DG1": (14, 16, 19, 19, 19, 21, 21, 21, 26, 26),
    "DRG": (0, 0, 10, 10, 11, 11, 11, 33, 33, 33),
    "PR1": (13, 14, 15, 16, 18, 20, 20, 20, 23, 25),
    "ROL": (0, 0, 8, 8, 12, 12, 12, 13, 14, 14),
    "GT1": (20, 21, 55, 55, 55, 57, 57, 57, 57, 57),
    "IN1": (44, 46, 49, 49, 49, 53, 53, 53, 54, 54),
    "IN2": (0, 30, 72, 72, 72, 72, 72, 72, 72, 72),
    "IN3": (0, 25, 25, 25, 25, 25, 25, 25, 25, 27),
    "ACC": (3, 3, 6, 6, 10, 11, 11, 11, 12, 13),
    "UB1": (23, 23, 23, 23, 23, 23, 23, 23, 23, 23),
    "UB2": (0, 16, 17, 17, 17, 17, 17, 17, 17, 17),
    "FT1": (22, 23, 25, 26, 26, 31, 31, 31, 43, 43),
    "ORC": (14, 19, 19, 24, 25, 30, 31, 31, 33, 34),
    "OBR": (36, 36, 43, 45, 47, 49, 50, 50, 54, 54),
    "NTE": (3, 3, 3, 4, 4, 4, 4, 8, 8, 8),
    "MRG": (3, 4, 7, 7, 7, 7, 7, 7, 7, 7),
}
_V231 = VERSIONS.index("2.3.1")


@lru_cache(maxsize=256)
def version_index(declared: str) -> int | None:
    """Index in VERSIONS of an MSH-12 value ("2.5.1", "2.8.2" → 2.8), else None."""
    v = declared.strip()
    if v in VERSIONS:
        return VERSIONS.index(v)
    for i in range(len(VERSIONS) - 1, -1, -1):
        if v.startswith(VERSIONS[i] + "."):
            return i
    return None


@lru_cache(maxsize=4096)
def needed_index(name: str, size: int) -> int:
    """The lowest version index that defines segment ``name`` with ``size`` fields."""
    need = SEGMENT_SINCE.get(name, 0)
    counts = FIELD_COUNTS.get(name)
    if counts is not None and size > counts[need]:
        for i in range(need, len(VERSIONS)):
            if counts[i] >= size:
                return i
        return len(VERSIONS) - 1
    return need


def content_version(declared: str, sizes: list[tuple[str, int]], structure_given: bool) -> tuple[str, bool]:
    """(version to read the message as, whether MSH-12 was overruled).

    ``sizes`` is (segment name, number of fields used) per segment;
    ``structure_given`` says MSH-9 has its third component (2.3.1 and later).
    A feed sends the same shapes again and again: the answer for a message
    of up to :data:`_CACHED_SEGMENTS` segments (and a short MSH-12) is kept.
    """
    if len(sizes) <= _CACHED_SEGMENTS and len(declared) <= 16:
        return _version_of_cached(declared, tuple(sizes), structure_given)
    return _version_of(declared, sizes, structure_given)


def _version_of(declared: str, sizes: Sequence[tuple[str, int]], structure_given: bool) -> tuple[str, bool]:
    have = version_index(declared)
    need = _V231 if structure_given else 0
    for name, size in sizes:
        if name[0] != "Z":
            need = max(need, needed_index(name, size))
    if have is None:
        return VERSIONS[max(need, VERSIONS.index("2.5"))], True
    if need > have:
        return VERSIONS[need], True
    return declared.strip(), False


#: messages with more segments are not cached (their key would be large)
_CACHED_SEGMENTS = 64
_version_of_cached = lru_cache(maxsize=256)(_version_of)
