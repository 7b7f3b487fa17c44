"""X12 5010 syntax shared by every X12 plugin: delimiters, segments and a
tolerant tokenizer (whole file or streamed one segment at a time).

Nothing here knows about claims, acknowledgements or remittances; it is
plain envelope syntax. Positions are 1-based over the whole file (the first
ISA is segment 1), as pyx12 counts them, and keep counting across the
interchanges of a file.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

#: how far past an ISA's start its 16 elements and terminator may reach
#: (106 characters when padded as the standard says; unpadded ones are shorter)
_ISA_SCAN = 512
#: characters split at a time by :class:`SegmentStream`
_CHUNK = 1 << 16


class X12SyntaxError(ValueError):
    """The bytes are not an X12 interchange (no ISA, unusable delimiters)."""


@dataclass(frozen=True)
class Delimiters:
    """Element, component and repetition separators and the segment
    terminator; ``suffix`` is written after each terminator (a line ending)."""

    element: str = "*"
    component: str = ":"
    repetition: str = "^"
    segment: str = "~"
    suffix: str = "\n"
    _table: dict[int, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        chars = (self.element, self.component, self.repetition, self.segment)
        object.__setattr__(self, "_table", {ord(c): " " for c in chars if c})

    def clean(self, value: str, limit: int = 80, upper: bool = True) -> str:
        """A text value made safe for an element: delimiters become spaces,
        non-ASCII letters lose their accents, surrounding blanks go, and it is
        cut to ``limit`` characters (the element's maximum length)."""
        if not value:
            return ""
        if not value.isascii():
            value = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
        value = value.translate(self._table).strip()
        if upper:
            value = value.upper()
        return value[:limit].rstrip()


class Segment(NamedTuple):
    """One segment read from a file: ``index`` is its 1-based position in the
    file (ISA = 1), ``elements[0]`` the segment id. (A named tuple: cheap to
    make, and files have hundreds of thousands of segments.)"""

    index: int
    elements: list[str]

    @property
    def id(self) -> str:
        return self.elements[0]

    def get(self, pos: int) -> str:
        """Element ``pos`` (1-based, as in "CLM01"), "" when absent."""
        return self.elements[pos] if pos < len(self.elements) else ""


@dataclass(frozen=True)
class Tokens:
    """A file split into segments with the delimiters its ISA declared."""

    delimiters: Delimiters
    segments: list[Segment]

    def components(self, value: str) -> list[str]:
        return value.split(self.delimiters.component)


def decode(data: bytes | str) -> str:
    """X12 bytes as text (UTF-8, BOM dropped, undecodable bytes replaced)."""
    return data.decode("utf-8-sig", errors="replace") if isinstance(data, bytes) else data.lstrip("\ufeff")


def _isa_at(text: str, start: int) -> tuple[Delimiters, int]:
    """Delimiters of the ISA starting at ``start`` and the offset just past
    its terminator. Tolerates ISA elements not padded to their widths."""
    element = text[start + 3 : start + 4]
    if not element or element.isalnum() or element.isspace():
        raise X12SyntaxError("the ISA does not declare a usable element separator")
    pos = start + 3  # the separator before ISA01; ISA16 follows the 16th
    limit = start + _ISA_SCAN
    for _ in range(15):
        pos = text.find(element, pos + 1, limit)
        if pos < 0:
            raise X12SyntaxError("the ISA segment is incomplete")
    component = text[pos + 1 : pos + 2]
    terminator = text[pos + 2 : pos + 3]
    if not component or not terminator:
        raise X12SyntaxError("the ISA segment is incomplete")
    isa = text[start:pos].split(element)
    repetition = isa[11].strip() if len(isa) > 12 and isa[12].strip() >= "00501" else ""
    if len(repetition) != 1 or repetition.isalnum():  # one separator character, or none (4010's "U")
        repetition = ""
    return Delimiters(element, component, repetition, terminator, ""), pos + 3


def read_delimiters(text: str) -> tuple[Delimiters, int]:
    """Delimiters declared by the first ISA in ``text`` and where it starts.

    Tolerant of a BOM, leading blanks and ISA elements that are not padded
    to their fixed widths: the separators are found by counting elements.
    """
    start = text.find("ISA")
    if start < 0 or text[:start].strip("\ufeff \t\r\n"):
        raise X12SyntaxError("no ISA segment at the start of the file")
    return _isa_at(text, start)[0], start


class SegmentStream:
    """Segments of an X12 file, produced one at a time, whatever the
    delimiters, line endings, BOM or indentation; blank segments are skipped.

    Memory stays flat in the file size: bytes are decoded (UTF-8, bad bytes
    replaced) 64 KB at a time, cut at segment terminators, so the stream
    holds one chunk of text and the caller's bytes, never a decoded copy of
    the file. ``delimiters`` are those of the interchange being read: each
    ISA is read afresh, so a file whose interchanges use different
    delimiters splits correctly. Raises :class:`X12SyntaxError` when the
    data does not start with a usable ISA.
    """

    def __init__(self, data: bytes | str) -> None:
        self.count = 0
        self._source = data
        if isinstance(data, str):
            self._source = data.lstrip("\ufeff")
            self.delimiters, self.start = read_delimiters(self._source)
            return
        start = data.find(b"ISA")
        if start < 0 or data[:start].replace(b"\xef\xbb\xbf", b"").strip(b" \t\r\n"):
            raise X12SyntaxError("no ISA segment at the start of the file")
        self.delimiters = _isa_at(data[start : start + _ISA_SCAN].decode("utf-8", "replace"), 0)[0]
        self.start = start

    def __iter__(self) -> Iterator[Segment]:
        source = self._source
        if isinstance(source, str):
            return self._split(source, self.start)
        if len(self.delimiters.segment.encode()) != 1:  # a terminator that is not one byte: decode it all
            return self._split(source[self.start :].decode("utf-8", "replace"), 0)
        return self._split_bytes(source)

    def _split_bytes(self, data: bytes) -> Iterator[Segment]:
        n, pos = len(data), self.start
        term, element = self.delimiters.segment, self.delimiters.element
        tb = term.encode()
        count = self.count
        new = tuple.__new__
        try:
            while pos < n:
                end = min(n, pos + _CHUNK)
                if end < n:  # cut at a terminator (an ASCII byte is never inside a UTF-8 character)
                    cut = data.rfind(tb, pos, end)
                    if cut < 0:
                        cut = data.find(tb, end)
                    end = cut if cut >= 0 else n
                chunk = data[pos:end].decode("utf-8", "replace")
                parts = chunk.split(term)
                for k, raw in enumerate(parts):
                    stripped = raw.strip()
                    if not stripped:
                        continue
                    if stripped[0] == "I" and count and stripped.startswith("ISA"):
                        begin = sum(map(len, parts[:k])) + k + raw.index("ISA")
                        try:
                            same = _isa_at(chunk, begin)[0] == self.delimiters  # the usual case: all in this chunk
                        except X12SyntaxError:
                            same = False
                        if not same:  # rare: read this ISA whole; new delimiters → go on as text from it
                            rest = data[pos:].decode("utf-8", "replace")
                            if self._new_delimiters(rest, begin):
                                self.count = count
                                yield from self._split(rest, begin)
                                return
                    count += 1
                    yield new(Segment, (count, stripped.split(element)))  # Segment(count, …), without its __new__
                pos = end + 1
        finally:
            self.count = max(self.count, count)

    def _new_delimiters(self, text: str, begin: int) -> bool:
        """Whether the ISA at ``begin`` declares other delimiters (they are taken)."""
        try:
            delims = _isa_at(text, begin)[0]
        except X12SyntaxError:
            return False  # keep going with what we had
        if delims == self.delimiters:
            return False
        self.delimiters = delims
        return True

    def _split(self, text: str, pos: int) -> Iterator[Segment]:
        n = len(text)
        term, element = self.delimiters.segment, self.delimiters.element
        count = self.count
        new = tuple.__new__
        try:
            while pos < n:
                end = min(n, pos + _CHUNK)
                if end < n:  # cut the chunk at a terminator (or take one long segment whole)
                    cut = text.rfind(term, pos, end)
                    if cut < 0:
                        cut = text.find(term, end)
                    end = cut if cut >= 0 else n
                parts = text[pos:end].split(term)
                restart = -1
                for k, raw in enumerate(parts):
                    stripped = raw.strip()
                    if not stripped:
                        continue
                    if stripped[0] == "I" and count and stripped.startswith("ISA"):
                        begin = pos + sum(map(len, parts[:k])) + k + raw.index("ISA")
                        if begin != restart and self._new_delimiters(text, begin):
                            restart = begin
                            term, element = self.delimiters.segment, self.delimiters.element
                            break
                    count += 1
                    yield new(Segment, (count, stripped.split(element)))  # Segment(count, …), without its __new__
                else:
                    pos = end + 1
                    continue
                pos = restart
        finally:
            self.count = max(self.count, count)


def tokenize(data: bytes | str) -> Tokens:
    """Split an X12 file into segments, whatever its delimiters, line endings,
    BOM or indentation. Blank segments are skipped."""
    stream = SegmentStream(data)
    first = stream.delimiters
    return Tokens(first, list(stream))


def iter_ids(tokens: Tokens, seg_id: str) -> Iterator[Segment]:
    """Segments with id ``seg_id`` in file order."""
    return (s for s in tokens.segments if s.id == seg_id)
