"""The incidents store port (`services/incidents/store.py`) in memory, for use-case tests: the
same semantics as the MongoDB adapter (newest-opened-first pages with cursors stable under
inserts, a version committed once, a duplicate report or link is success, the outbox kept until
published), held to them by tests/contract/test_incidents_store.py."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from services.incidents.domain.incident import Incident, ReportFacts, Status
from services.incidents.store import (
    CellEntry,
    Change,
    IncidentPage,
    PendingChange,
    Position,
    Unstorable,
)
from shared.cursors import decode_cursor, encode_cursor, sort_time

LEVELS = ("village", "township", "district")


def _prefix(unit: str, status: Status | None, type_: str | None) -> str:
    """The list a page reads (its cursors name a key in it): of a status, else a type, else all."""
    if status:
        return f"s|{unit}|{status}|"
    return f"t|{unit}|{type_}|" if type_ else f"u|{unit}|"


def _tail(incident: Incident) -> str:
    return f"{sort_time(incident.opened_at)}|{incident.id}"


@dataclass(frozen=True)
class _Staged:
    change: Change
    at: datetime


class InMemoryIncidentStore:
    def __init__(self) -> None:
        self.incidents: dict[str, Incident] = {}
        self.timers: dict[str, datetime] = {}
        self.outbox: dict[str, _Staged] = {}
        self.claims: dict[str, datetime] = {}
        self.cells: dict[str, dict[str, CellEntry]] = {}
        self.stored_reports: dict[str, ReportFacts] = {}
        self.links: dict[str, str] = {}
        self.positions: dict[str, Position] = {}
        self.set_aside_changes: dict[str, tuple[PendingChange, str, datetime]] = {}
        self.refused: set[str] = set()  # change ids the store refuses for good (`refuse`)

    # --- incidents ------------------------------------------------------------------------------

    def _write(self, incident: Incident, timer_at: datetime | None) -> None:
        self.incidents[incident.id] = incident
        if timer_at is None:
            self.timers.pop(incident.id, None)
        else:
            self.timers[incident.id] = timer_at

    async def get(self, incident_id: str) -> Incident | None:
        return self.incidents.get(incident_id)

    async def commit(self, change: Change, *, at: datetime) -> bool:
        return change.change_id in await self.commit_many([change], at=at)

    async def commit_many(self, changes: Sequence[Change], *, at: datetime) -> set[str]:
        won: set[str] = set()
        for change in changes:
            cid = change.change_id
            if cid in self.outbox or cid in self.claims:
                continue
            self.outbox[cid] = _Staged(change, at)
            self.claims[cid] = at
            self._write(change.incident, change.timer_at)
            won.add(cid)
        return won

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
        low = _prefix(unit, status, type_)
        upper = decode_cursor(cursor, low) if cursor else None
        keyed = sorted(
            (
                (low + _tail(i), i)
                for i in self.incidents.values()
                if unit in (getattr(i, level) for level in LEVELS)
                and (status is None or i.status == status)
            ),
            key=lambda pair: pair[0],
            reverse=True,
        )
        out: list[tuple[str, Incident]] = []
        for key, incident in keyed:
            if upper is not None and key >= upper:
                continue
            if type_ and incident.type != type_:
                continue
            if since and incident.updated_at < since:
                continue
            out.append((key, incident))
            if len(out) > limit:
                break
        page = [replace_timeline(i) for _, i in out[:limit]]
        more = len(out) > limit
        return IncidentPage(page, encode_cursor(out[limit - 1][0]) if more else None)

    @property
    def timer_shards(self) -> int:
        return 1

    async def due_times(self, shard: int | None = None) -> list[tuple[str, datetime]]:
        return list(self.timers.items())

    # --- outbox ---------------------------------------------------------------------------------

    async def forget_published(self, change_ids: Sequence[str]) -> None:
        for cid in change_ids:
            self.outbox.pop(cid, None)

    async def pending(self, *, before: datetime, limit: int) -> list[PendingChange]:
        staged = sorted(
            ((cid, s) for cid, s in self.outbox.items() if s.at <= before),
            key=lambda pair: pair[1].at,
        )
        return [
            PendingChange(
                change_id=cid,
                incident_id=s.change.incident.id,
                base=s.change.base,
                at=s.at,
                incident=s.change.incident,
                timer_at=s.change.timer_at,
                events=s.change.events,
            )
            for cid, s in staged[:limit]
        ]

    async def is_claimed(self, change_id: str) -> bool:
        return change_id in self.claims

    async def replay(self, change: PendingChange) -> bool:
        current = self.incidents.get(change.incident_id)
        if current is not None and current.version > change.base:
            return False
        if change.change_id in self.refused:
            raise Unstorable("the store refused the document")
        self._write(change.incident, change.timer_at)
        return True

    async def set_aside(self, change: PendingChange, *, error: str, at: datetime) -> None:
        self.set_aside_changes[change.change_id] = (change, error, at)
        self.claims.pop(change.change_id, None)
        self.outbox.pop(change.change_id, None)

    def refuse(self, change: Change, *, at: datetime) -> None:
        """A change claimed whose document the store will never take (a writer's write of it
        failed, and so will every replay)."""
        self.crash_after_commit(change, at=at)
        self.refused.add(change.change_id)

    async def sweep_claims(self, *, before: datetime) -> int:
        old = [cid for cid, at in self.claims.items() if at <= before]
        for cid in old:
            del self.claims[cid]
        return len(old)

    def stage_only(self, change: Change, *, at: datetime) -> None:
        """A writer that died between putting its change in the outbox and committing it."""
        self.outbox[change.change_id] = _Staged(change, at)

    def crash_after_commit(self, change: Change, *, at: datetime) -> None:
        """A writer that died after claiming its change, before storing the incident."""
        self.outbox[change.change_id] = _Staged(change, at)
        self.claims[change.change_id] = at

    # --- merge cells ----------------------------------------------------------------------------

    async def cells_near(self, cells: Sequence[str]) -> dict[str, list[CellEntry]]:
        return {c: list(self.cells.get(c, {}).values()) for c in dict.fromkeys(cells)}

    async def file_in_cells(self, entries: Sequence[CellEntry]) -> None:
        for e in entries:
            self.cells.setdefault(e.cell, {})[e.incident_id] = e

    async def remove_from_cell(self, cell: str, incident_id: str) -> None:
        self.cells.get(cell, {}).pop(incident_id, None)

    # --- reports --------------------------------------------------------------------------------

    async def insert_reports(self, reports: Sequence[ReportFacts]) -> set[str]:
        stored: set[str] = set()
        for r in reports:
            if r.id not in self.stored_reports:
                self.stored_reports[r.id] = r
                stored.add(r.id)
        return stored

    async def reports(self, report_ids: Sequence[str]) -> dict[str, ReportFacts]:
        return {i: self.stored_reports[i] for i in report_ids if i in self.stored_reports}

    async def report(self, report_id: str) -> ReportFacts | None:
        return self.stored_reports.get(report_id)

    async def link_reports(self, links: Sequence[tuple[str, str]], *, at: datetime) -> None:
        for report_id, incident_id in links:
            self.links.setdefault(report_id, incident_id)

    async def incident_of(self, report_id: str) -> str | None:
        return self.links.get(report_id)

    # --- ranger positions -----------------------------------------------------------------------

    async def save_position(self, position: Position) -> None:
        current = self.positions.get(position.ranger_id)
        if current is not None and current.t >= position.t:
            if current.patrol_id == position.patrol_id or current.t > position.t:
                return
        self.positions[position.ranger_id] = position

    async def end_patrol(self, ranger_id: str, patrol_id: str) -> None:
        current = self.positions.get(ranger_id)
        if current is not None and current.patrol_id == patrol_id:
            self.positions[ranger_id] = replace(current, on_patrol=False)

    async def positions_on_patrol(self) -> list[Position]:
        return [p for p in self.positions.values() if p.on_patrol]


def replace_timeline(incident: Incident) -> Incident:
    """Lists carry incidents without their timelines, as the adapter's list copies do."""
    return incident.model_copy(update={"timeline": ()})
