"""What travels into and out of the pure pipeline for one inbound message."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from gateway.model import Encounter, Finding


@dataclass(frozen=True)
class MessageMeta:
    """Where a message came from. ``clinic_id`` is set when the channel
    (folder, port) belongs to one clinic; ``today`` is the processing date the
    rules use (the pipeline never reads the clock)."""

    source: str
    today: date
    clinic_id: str | None = None
    name: str | None = None
    received_at: datetime | None = None


@dataclass(frozen=True)
class Envelope:
    """What a format plugin can tell cheaply about raw bytes, before parsing.

    ``sender`` routes the message to a clinic (HL7 MSH-4, FHIR sender
    organisation); ``control_id`` with ``sender`` is the dedup key (MSH-10);
    ``count`` is how many messages a batch file holds.
    """

    format: str
    sender: str | None = None
    control_id: str | None = None
    message_type: str | None = None
    version: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def dedup_key(self) -> str | None:
        if self.control_id is None:
            return None
        return f"{self.sender or ''}|{self.control_id}"


@dataclass(frozen=True)
class RecordUpdate:
    """A fact a message teaches for later messages (an ADT's patient and
    insurance, a FHIR companion bundle's practitioners). ``kind`` names the
    record type (``patient``, ``coverages``, ``resource``), ``key`` identifies
    it within the clinic."""

    kind: str
    key: str
    value: Any


@dataclass
class ParseResult:
    """Output of a parse plugin for one message (or one batch file).

    ``findings`` are message-level; an error here quarantines the whole
    message. ``encounter_findings`` maps an index into ``encounters`` to
    findings about that encounter only (an unresolved reference in one visit
    of a batch): an error there quarantines that encounter, not the message.
    ``acknowledgement`` is the reply the sender expects (an HL7 ACK), when
    the format has one.

    ``stream`` (optional) yields ``(encounter, its findings)`` one at a time
    instead of ``encounters`` (a batch file read message by message, so that
    each encounter's models can be let go of once used); ``findings``,
    ``updates`` and ``acknowledgement`` are complete only once it is
    exhausted. :meth:`drain` turns a streaming result into a plain one.
    """

    encounters: list[Encounter] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    encounter_findings: dict[int, list[Finding]] = field(default_factory=dict)
    updates: list[RecordUpdate] = field(default_factory=list)
    acknowledgement: bytes | None = None
    stream: Iterator[tuple[Encounter, list[Finding]]] | None = None

    def drain(self) -> ParseResult:
        """Read the rest of ``stream`` into ``encounters`` and
        ``encounter_findings``; the result itself."""
        if self.stream is not None:
            stream, self.stream = self.stream, None
            for encounter, found in stream:
                if found:
                    self.encounter_findings[len(self.encounters)] = found
                self.encounters.append(encounter)
        return self


class RecordLookup(Protocol):
    """Read access to what earlier messages taught (see :class:`RecordUpdate`).

    The one-shot CLI uses :class:`MemoryRecords`; the daemon a durable store.
    """

    def get(self, clinic_id: str, kind: str, key: str) -> Any | None: ...


class MemoryRecords:
    """In-memory :class:`RecordLookup` that also applies updates."""

    def __init__(self) -> None:
        self._data: dict[tuple[str, str, str], Any] = {}

    def get(self, clinic_id: str, kind: str, key: str) -> Any | None:
        return self._data.get((clinic_id, kind, key))

    def apply(self, clinic_id: str, updates: Iterable[RecordUpdate]) -> None:
        for u in updates:
            self._data[(clinic_id, u.kind, u.key)] = u.value
