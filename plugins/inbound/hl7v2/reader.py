"""A fast, tolerant HL7 v2 reader: bytes → messages → segments → values.

Nothing here builds an object per field. A segment is split into fields the
first time one is read; repetitions, components and subcomponents are split
only for the values asked for, and escape sequences are decoded only when the
escape character occurs. This is what keeps the hot path at a few µs per field
where hl7apy's full parse builds a tree of thousands of objects.

Tolerated: CR, LF or CRLF segment separators (mixed too), a UTF-8 BOM, MLLP
framing bytes, blank lines, trailing blanks, per-message encoding characters,
a doubled character in MSH-2, text that is not UTF-8 (read as ISO 8859-1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

BOM = "\ufeff"
#: a segment name: three upper-case letters/digits starting with a letter
SEGMENT_NAME = re.compile(r"[A-Z][A-Z0-9]{2}")
HEADERS = ("MSH", "FHS", "BHS")
_MLLP = str.maketrans("", "", "\x0b\x1c")
_UPPER = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def _is_segment_name(name: str) -> bool:
    """Same as ``SEGMENT_NAME.fullmatch(name)``, without the regex cost."""
    return len(name) == 3 and name[0] in _UPPER and name[1] in _NAME_CHARS and name[2] in _NAME_CHARS


@dataclass(frozen=True, slots=True)
class Delimiters:
    """The separators of one message (MSH-1 and MSH-2)."""

    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"
    truncation: str = ""

    @property
    def encoding_characters(self) -> str:
        """MSH-2 as it should be written back (an ACK uses the same characters)."""
        return self.component + self.repetition + self.escape + self.subcomponent + self.truncation


STANDARD = Delimiters()


def delimiters_of(header: str) -> tuple[Delimiters | None, bool]:
    """Delimiters from an MSH/FHS/BHS line; (None, _) when garbled.

    The flag is True when MSH-2 was repaired (a repeated character such as
    ``^~\\\\&`` is dropped, a common export bug).
    """
    if len(header) < 8 or header[:3] not in HEADERS:
        return None, False
    fs = header[3]
    if fs.isalnum() or fs.isspace():
        return None, False
    enc = header[4:].split(fs, 1)[0]
    repaired = False
    if len(set(enc)) != len(enc):
        enc = "".join(dict.fromkeys(enc))
        repaired = True
    if len(enc) not in (4, 5) or fs in enc or any(c.isalnum() or c.isspace() for c in enc):
        return None, repaired
    trunc = enc[4] if len(enc) == 5 else ""
    return Delimiters(fs, enc[0], enc[1], enc[2], enc[3], trunc), repaired


def decode_text(raw: bytes) -> tuple[str, bool]:
    """Bytes → text: UTF-8 (BOM dropped), else ISO 8859-1. The flag says the
    fallback was used."""
    try:
        text = raw.decode("utf-8")
        latin = False
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
        latin = True
    if "\x0b" in text or "\x1c" in text:
        text = text.translate(_MLLP)
    return text.lstrip(BOM + " \t\r\n"), latin


def split_lines(text: str) -> list[str]:
    """Segments of a text: any mix of CR, LF, CRLF; trailing blanks and blank lines dropped."""
    lines = text.replace("\r\n", "\r").replace("\n", "\r").split("\r")
    return [ln for ln in map(str.rstrip, lines) if ln]


# --------------------------------------------------------------------------
# escape sequences


def _hex(code: str) -> str:
    try:
        data = bytes.fromhex(code)
    except ValueError:
        return ""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


@lru_cache(maxsize=64)
def _escape_pattern(d: Delimiters) -> tuple[re.Pattern[str], dict[str, str]]:
    e = re.escape(d.escape)
    fixed = {"F": d.field, "S": d.component, "T": d.subcomponent, "R": d.repetition, "E": d.escape}
    if d.truncation:
        fixed["P"] = d.truncation
    return re.compile(f"{e}([^{e}\r\n]{{1,64}}){e}"), fixed


def unescape(value: str, d: Delimiters) -> str:
    """Decode escape sequences (HL7 v2 chapter 2.7): ``\\F\\ \\S\\ \\T\\ \\R\\ \\E\\
    \\P\\``, ``\\Xhh..\\`` (UTF-8, else 8859-1), ``\\.br\\``/``\\.sp\\`` (line
    breaks); highlighting, other formatting and character-set switches are
    dropped. An unknown or unterminated sequence is kept as sent."""
    if d.escape not in value:
        return value
    pattern, fixed = _escape_pattern(d)

    def one(m: re.Match[str]) -> str:
        seq = m.group(1)
        if seq in fixed:
            return fixed[seq]
        head = seq[0]
        if head == "X":
            return _hex(seq[1:])
        if seq in ("H", "N") or head in "CMZ":
            return ""
        if head == ".":
            cmd, count = seq[1:3], seq[3:].strip().lstrip("+") or "1"
            if cmd in ("br", "sp", "ce"):
                return "\n" * (int(count) if cmd == "sp" and count.isdigit() else 1)
            if cmd in ("fi", "nf", "in", "ti", "sk"):
                return ""
        return m.group(0)

    return pattern.sub(one, value)


# --------------------------------------------------------------------------
# segments and messages


class Segment:
    """One segment. ``index`` is its occurrence among segments of the same
    name in the message (1-based: the second FT1 is ``FT1[2]``); ``position``
    its line in the message (1-based)."""

    __slots__ = ("_fields", "d", "index", "name", "position", "text")

    def __init__(self, name: str, text: str, index: int, position: int, d: Delimiters) -> None:
        self.name = name
        self.text = text
        self.index = index
        self.position = position
        self.d = d
        self._fields: list[str] | None = None

    @property
    def label(self) -> str:
        return f"{self.name}[{self.index}]"

    @property
    def fields(self) -> list[str]:
        """``fields[n]`` is field n as sent (``fields[0]`` the name; for MSH,
        ``fields[1]`` is the field separator and ``fields[2]`` MSH-2)."""
        f = self._fields
        return f if f is not None else self._split()

    def _split(self) -> list[str]:
        parts = self.text.split(self.d.field)
        if self.name in HEADERS:
            parts.insert(1, self.d.field)
        self._fields = parts
        return parts

    def field(self, n: int) -> str:
        """Field ``n`` as sent (repetitions and escapes included); '' when absent."""
        f = self._fields
        if f is None:
            f = self._split()
        return f[n] if n < len(f) else ""

    def repetitions(self, n: int) -> list[str]:
        """The repetitions of field ``n`` as sent ([] when empty)."""
        raw = self.field(n)
        if not raw:
            return []
        if self.name in HEADERS and n <= 2:
            return [raw]
        return raw.split(self.d.repetition)

    def value(self, n: int, component: int | None = 1, sub: int | None = 1, rep: int = 0) -> str:
        """One decoded value: field ``n``, repetition ``rep`` (0-based),
        component and subcomponent (1-based; None = the whole thing)."""
        raw = self.field(n)
        if not raw:
            return ""
        if self.name in HEADERS and n <= 2:
            return raw
        return pick(raw, self.d, component, sub, rep)

    @property
    def size(self) -> int:
        """Number of fields up to the last non-empty one."""
        return self.text.rstrip(self.d.field).count(self.d.field)


def pick(raw: str, d: Delimiters, component: int | None = 1, sub: int | None = 1, rep: int = 0) -> str:
    """A decoded value from a raw field (see :meth:`Segment.value`)."""
    if d.repetition in raw:
        reps = raw.split(d.repetition)
        if rep >= len(reps):
            return ""
        raw = reps[rep]
    elif rep:
        return ""
    if component is not None:
        if d.component in raw:
            comps = raw.split(d.component)
            raw = comps[component - 1] if component <= len(comps) else ""
        elif component != 1:
            return ""
        if sub is not None:
            if d.subcomponent in raw:
                subs = raw.split(d.subcomponent)
                raw = subs[sub - 1] if sub <= len(subs) else ""
            elif sub != 1:
                return ""
    return unescape(raw, d) if d.escape in raw else raw


def components(raw: str, d: Delimiters) -> list[str]:
    """The decoded first subcomponent of each component of one repetition."""
    out = []
    for comp in raw.split(d.component):
        if d.subcomponent in comp:
            comp = comp.split(d.subcomponent, 1)[0]
        out.append(unescape(comp, d) if d.escape in comp else comp)
    return out


@dataclass
class Message:
    """One HL7 v2 message: its segments in order, with an index by name."""

    segments: list[Segment]
    d: Delimiters
    number: int = 1
    msh_repaired: bool = False

    def __post_init__(self) -> None:
        self.by_name: dict[str, list[Segment]] = {}
        for seg in self.segments:
            self.by_name.setdefault(seg.name, []).append(seg)

    def all(self, name: str) -> list[Segment]:
        return self.by_name.get(name, [])

    def first(self, name: str) -> Segment | None:
        segs = self.by_name.get(name)
        return segs[0] if segs else None

    @property
    def msh(self) -> Segment:
        return self.segments[0]


@dataclass
class Batch:
    """What one input holds: messages and the batch envelope segments
    (FHS/BHS/BTS/FTS), plus lines that were not segments (by line number)."""

    messages: list[Message]
    envelope: dict[str, Segment]
    stray_lines: list[int]
    garbled_header: int | None = None
    #: the garbled header re-read with standard delimiters (for the ACK)
    salvaged: Segment | None = None
    #: each BTS with the messages since its BHS, each FTS with the batches
    #: since its FHS (``index`` counts trailers of that name from 1)
    counts: list[tuple[Segment, int]] = field(default_factory=list)


def read_batch(text: str) -> Batch:
    """Split decoded text into messages; each MSH starts one. Segments before
    the first MSH other than FHS/BHS, and lines that are not segments, are
    reported in ``stray_lines`` and skipped."""
    messages: list[Message] = []
    envelope: dict[str, Segment] = {}
    stray: list[int] = []
    garbled: int | None = None
    current: list[Segment] = []
    counts: dict[str, int] = {}
    d: Delimiters | None = None
    repaired = False
    trailers: list[tuple[Segment, int]] = []
    started = {"BHS": 0, "FHS": 0}  # messages / batches seen when the open BHS / FHS began
    batches = 0
    in_message = False  # a BHS/BTS/FHS/FTS closes the message before it
    names_ok: set[str] = set()

    def flush() -> None:
        if in_message and current and d is not None:
            messages.append(Message(current, d, len(messages) + 1, repaired))

    for lineno, line in enumerate(split_lines(text), 1):
        name = line[:3]
        if name in HEADERS:
            nd, rep = delimiters_of(line)
            if nd is None:
                if name == "MSH" and garbled is None:
                    garbled = lineno
                    flush()
                    current, d = [], None
                continue
            if name == "MSH":
                flush()
                current, counts, d, repaired, in_message = [], {}, nd, rep, True
            else:
                flush()
                current, in_message = [], False
                batches += name == "BHS"
                started[name] = len(messages) if name == "BHS" else batches
                envelope[name] = Segment(name, line, 1, lineno, nd)
                continue
        elif name in ("BTS", "FTS") and d is not None:
            flush()
            current, in_message = [], False
            seen = len(messages) if name == "BTS" else batches
            trailer = Segment(name, line, sum(1 for t, _ in trailers if t.name == name) + 1, lineno, d)
            trailers.append((trailer, seen - started["BHS" if name == "BTS" else "FHS"]))
            envelope[name] = trailer
            continue
        if name not in names_ok:  # a name seen before in this input is known to be one
            if not in_message or d is None or not _is_segment_name(name):
                stray.append(lineno)
                continue
            names_ok.add(name)
        if not in_message or d is None or (len(line) > 3 and line[3] != d.field):
            stray.append(lineno)
            continue
        count = counts[name] = counts.get(name, 0) + 1
        current.append(Segment(name, line, count, len(current) + 1, d))
    flush()
    return Batch(messages, envelope, stray, garbled, counts=trailers)
