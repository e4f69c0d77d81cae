"""The incidents store port: what the use cases need from storage, named by intent, domain models
in and out. It must never expose a document, a collection or a limit of one particular store.
The MongoDB/FerretDB adapter is `repository/`; an in-memory one is `tests/fakes/incidents_store.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.incidents.domain.incident import Incident, ReportFacts, Status
from shared.events import Event


def change_id_of(incident_id: str, base_version: int) -> str:
    """A change is named by the incident and the version it replaces (0: the opening)."""
    return f"{incident_id}:{base_version}"


@dataclass(frozen=True)
class Change:
    """A new state of an incident decided on `base` (the version read; 0 when it opens it), the
    events to publish once it is stored, and its next escalation timer."""

    base: int
    incident: Incident
    events: tuple[Event, ...]
    timer_at: datetime | None

    @property
    def change_id(self) -> str:
        return change_id_of(self.incident.id, self.base)


class Unstorable(Exception):
    """The store refused a change for good (not a connection, timeout or busy fault): trying it
    again will never store it."""


@dataclass(frozen=True)
class PendingChange:
    """A change still in the outbox: its events were not known to be published."""

    change_id: str
    incident_id: str
    base: int
    at: datetime
    incident: Incident
    timer_at: datetime | None
    events: tuple[Event, ...]


@dataclass(frozen=True)
class IncidentPage:
    """A page of a unit's incidents, newest opened first, without their timelines."""

    incidents: list[Incident]
    next: str | None


@dataclass(frozen=True)
class CellEntry:
    """An open incident filed under a merge cell, with the point it was filed at."""

    cell: str
    incident_id: str
    lat: float
    lon: float


@dataclass(frozen=True)
class Position:
    """A ranger's latest known position (from patrol.position_updated)."""

    ranger_id: str
    patrol_id: str
    village: str
    lat: float
    lon: float
    t: datetime
    on_patrol: bool = True


class Incidents(Protocol):
    """Incidents, changed only by claiming the version a change was decided on."""

    async def get(self, incident_id: str) -> Incident | None: ...

    async def commit(self, change: Change, *, at: datetime) -> bool:
        """Store the change and keep it in the outbox until `forget_published`; False when the
        version it was decided on was changed or is being changed by someone else."""
        ...

    async def commit_many(self, changes: Sequence[Change], *, at: datetime) -> set[str]:
        """`commit` for changes of distinct incidents; the ids of the changes stored."""
        ...

    async def incidents_in(
        self,
        unit: str,
        *,
        status: Status | None,
        type_: str | None,
        since: datetime | None,
        limit: int,
        cursor: str | None = None,
    ) -> IncidentPage:
        """The unit's incidents (in it or below it), newest opened first; of one status, type,
        or changed since, when asked. BadCursor when the cursor is not this list's."""
        ...

    @property
    def timer_shards(self) -> int:
        """How many parts `due_times` splits the timers into."""
        ...

    async def due_times(self, shard: int | None = None) -> list[tuple[str, datetime]]:
        """(incident id, due time) of every timer set, in one part or in all."""
        ...


class Outbox(Protocol):
    """Committed changes whose events may not have been published yet."""

    async def forget_published(self, change_ids: Sequence[str]) -> None: ...

    async def pending(self, *, before: datetime, limit: int) -> list[PendingChange]:
        """Changes in the outbox since `before` or earlier, oldest first."""
        ...

    async def is_claimed(self, change_id: str) -> bool:
        """Whether the change was committed (not only put in the outbox by a writer that died)."""
        ...

    async def replay(self, change: PendingChange) -> bool:
        """Store a committed change's incident unless a later version is stored; True if it was
        written. Unstorable when the store refuses it for good; a store away raises as it is."""
        ...

    async def set_aside(self, change: PendingChange, *, error: str, at: datetime) -> None:
        """Keep an unstorable change apart, with the error, out of the outbox, and release its
        claim, so the incident takes later changes from the version still stored."""
        ...

    async def sweep_claims(self, *, before: datetime) -> int:
        """Forget claims older than `before` (a writer holding an older read re-reads first)."""
        ...


class MergeCells(Protocol):
    """Open incidents filed by grid cell, so a report finds its candidates near it."""

    async def cells_near(self, cells: Sequence[str]) -> dict[str, list[CellEntry]]: ...

    async def file_in_cells(self, entries: Sequence[CellEntry]) -> None: ...

    async def remove_from_cell(self, cell: str, incident_id: str) -> None: ...


class Reports(Protocol):
    """Reports as first stored under their id, and the incident each joined."""

    async def insert_reports(self, reports: Sequence[ReportFacts]) -> set[str]:
        """Store reports not stored yet; the ids this call stored (a duplicate is success)."""
        ...

    async def reports(self, report_ids: Sequence[str]) -> dict[str, ReportFacts]: ...

    async def report(self, report_id: str) -> ReportFacts | None: ...

    async def link_reports(self, links: Sequence[tuple[str, str]], *, at: datetime) -> None:
        """(report id, incident id) pairs; the first link of a report stays."""
        ...

    async def incident_of(self, report_id: str) -> str | None: ...


class Positions(Protocol):
    """The latest position of each ranger, for the nearest ranger on patrol."""

    async def save_position(self, position: Position) -> None:
        """Keep it unless a later one (or the same one) is stored."""
        ...

    async def end_patrol(self, ranger_id: str, patrol_id: str) -> None: ...

    async def positions_on_patrol(self) -> list[Position]: ...


class IncidentStore(Incidents, Outbox, MergeCells, Reports, Positions, Protocol):
    """Everything the incidents use cases store."""
