"""The compact ICD-10-CM index: one text file per release, loaded in milliseconds.

A release file (``icd10cm-<release>.txt``, written by
scripts/build_icd10cm_index.py) holds ``# key: value`` header lines
(``release``, ``valid_from``, ``valid_to``…), then ``[billable]`` and the
billable (leaf) codes, then ``[header]`` and the codes that exist but are
not billable (categories and subcategories with children). Codes carry no
dots. :class:`Releases` picks the release valid on a date of service.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass, field
from datetime import date
from enum import Enum
from pathlib import Path

from gateway.config import ConfigError

FILE_GLOB = "icd10cm-*.txt"


class Status(Enum):
    BILLABLE = "billable"
    HEADER = "header"
    UNKNOWN = "unknown"


def normalise(code: str) -> str:
    """``" e11.9 "`` → ``"E119"``: no dots or spaces, upper case."""
    return "".join(code.split()).replace(".", "").upper()


def with_dot(code: str) -> str:
    """``E119`` → ``E11.9`` (for messages about code-set entries, never patient data)."""
    return code if len(code) <= 3 else f"{code[:3]}.{code[3:]}"


#: distinct codes looked up by searching a release's text before its code sets
#: are built (a search is ~0.2 ms; the sets take ~30 ms and ~12 MB): `gateway
#: inspect`, and runs that see the same few hundred diagnoses, never build them
TEXT_LOOKUPS = 256


@dataclass(eq=False)
class Release:
    """One ICD-10-CM release: its codes and the dates it is valid for.

    Made from a release file's ``[billable]`` and ``[header]`` parts, one
    code a line; the code sets (:attr:`billable`, :attr:`header`) are built
    on first use, and :meth:`status` answers the first :data:`TEXT_LOOKUPS`
    distinct codes by searching the text instead."""

    name: str
    valid_from: date
    valid_to: date
    billable_text: str = field(repr=False)
    header_text: str = field(repr=False)
    _sets: tuple[frozenset[str], frozenset[str]] | None = field(default=None, repr=False)
    #: the codes the text search answered, with their status (at most TEXT_LOOKUPS)
    _searched: dict[str, Status] = field(default_factory=dict, repr=False)
    _sorted: list[str] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        # a line search finds exactly what the sets would hold only for "\n"-separated codes
        for part in (self.billable_text, self.header_text):
            if " " in part or "\t" in part or "\r" in part or "\f" in part or "\v" in part:
                self._build()
                break
        else:
            self.billable_text = "\n" + self.billable_text.lstrip("\n")
            self.header_text = "\n" + self.header_text.lstrip("\n")

    def _build(self) -> tuple[frozenset[str], frozenset[str]]:
        if self._sets is None:
            self._sets = (frozenset(self.billable_text.split()), frozenset(self.header_text.split()))
        return self._sets

    @property
    def billable(self) -> frozenset[str]:
        """The billable (leaf) codes."""
        return self._build()[0]

    @property
    def header(self) -> frozenset[str]:
        """The codes that exist but are not billable (categories, subcategories)."""
        return self._build()[1]

    def status(self, code: str) -> Status:
        """Billable, header (exists, not billable) or unknown; ``code`` normalised."""
        if self._sets is None:
            found = self._searched.get(code)
            if found is not None:
                return found
            if len(self._searched) < TEXT_LOOKUPS and code.isalnum():
                line = f"\n{code}\n"
                if line in self.billable_text:
                    found = Status.BILLABLE
                else:
                    found = Status.HEADER if line in self.header_text else Status.UNKNOWN
                self._searched[code] = found
                return found
        billable, header = self._build()
        if code in billable:
            return Status.BILLABLE
        if code in header:
            return Status.HEADER
        return Status.UNKNOWN

    def covers(self, day: date) -> bool:
        return self.valid_from <= day <= self.valid_to

    def billable_under(self, code: str, limit: int = 3) -> tuple[list[str], int]:
        """Up to ``limit`` billable codes below a header code, and how many there are."""
        if self._sorted is None:
            self._sorted = sorted(self.billable)
        lo = bisect.bisect_left(self._sorted, code)
        hi = bisect.bisect_left(self._sorted, code + "\x7f")
        return self._sorted[lo : min(hi, lo + limit)], hi - lo


def load_release(path: Path) -> Release:
    """Read one release file (raises ConfigError naming the file); its code
    sets are built on first use (:class:`Release`)."""
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read ICD-10-CM index ({exc})"]) from None
    head, sep, body = text.partition("[billable]\n")
    billable_part, sep2, header_part = body.partition("[header]\n")
    meta = {}
    for line in head.splitlines():
        key, colon, value = line.lstrip("# ").partition(":")
        if colon:
            meta[key.strip()] = value.strip()
    try:
        release = Release(
            name=meta["release"],
            valid_from=date.fromisoformat(meta["valid_from"]),
            valid_to=date.fromisoformat(meta["valid_to"]),
            billable_text=billable_part if billable_part.endswith("\n") else billable_part + "\n",
            header_text=header_part if header_part.endswith("\n") else header_part + "\n",
        )
    except (KeyError, ValueError) as exc:
        raise ConfigError([f"{path.name}: not an ICD-10-CM index ({type(exc).__name__}: {exc})"]) from None
    if not sep or not sep2 or not billable_part.strip():
        raise ConfigError([f"{path.name}: not an ICD-10-CM index (no [billable]/[header] sections)"])
    return release


@dataclass
class Releases:
    """All loaded releases, oldest first."""

    releases: list[Release]

    @classmethod
    def load_dir(cls, folder: Path, names: list[str] | None = None) -> Releases:
        """Load ``icd10cm-*.txt`` in ``folder`` (only ``names`` when given)."""
        files = sorted(folder.glob(FILE_GLOB))
        loaded = [load_release(f) for f in files]
        if names is not None:
            missing = set(names) - {r.name for r in loaded}
            if missing:
                raise ConfigError([f"{folder}: no ICD-10-CM index for release(s) {', '.join(sorted(missing))}"])
            loaded = [r for r in loaded if r.name in names]
        if not loaded:
            raise ConfigError([f"{folder}: no ICD-10-CM index files ({FILE_GLOB})"])
        loaded.sort(key=lambda r: r.valid_from)
        for a, b in itertools.pairwise(loaded):
            if b.valid_from <= a.valid_to:
                raise ConfigError([f"{folder}: ICD-10-CM releases {a.name} and {b.name} overlap in validity dates"])
        return cls(loaded)

    def for_date(self, day: date) -> tuple[Release, bool]:
        """The release valid on ``day`` and True; else the nearest one and False
        (the newest for dates after every release, the oldest before)."""
        for r in self.releases:
            if r.covers(day):
                return r, True
        if day > self.releases[-1].valid_to:
            return self.releases[-1], False
        earlier = [r for r in self.releases if r.valid_to < day]
        return (earlier[-1] if earlier else self.releases[0]), False
