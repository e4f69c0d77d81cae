"""The incidents store port (`services/incidents/store.py`) on MongoDB (FerretDB v1 in dev and
tests): maps domain models to the documents of `IncidentsRepository` and back. Everything the
local store's limits need (claims, packed outbox, shards, read-model copies, busy retries) stays
below this line; nothing here knows a rule of the domain."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

import bson
from pydantic import ValidationError
from pymongo.errors import (
    ConnectionFailure,
    ExecutionTimeout,
    OperationFailure,
    PyMongoError,
    WTimeoutError,
)

from services.incidents.domain.incident import Incident, ReportFacts, Status
from services.incidents.repository import IncidentsRepository
from services.incidents.repository.mapping import (
    from_doc,
    position_from_doc,
    position_to_doc,
    report_from_doc,
    report_to_doc,
    to_doc,
)
from services.incidents.store import (
    CellEntry,
    Change,
    IncidentPage,
    PendingChange,
    Position,
    Unstorable,
)
from shared.db import is_store_busy
from shared.events import Event, parse_event

log = logging.getLogger(__name__)


def _events(raw: Sequence[dict[str, object]], change_id: str) -> tuple[Event, ...]:
    out: list[Event] = []
    for item in raw:
        try:
            out.append(parse_event(item))
        except (ValidationError, ValueError):
            log.error("unpublishable event in change %s", change_id)
    return tuple(out)


# Server answers of a store shutting down, stepping down or out of time: it will take the write
# once it is back (HostUnreachable, HostNotFound, ExceededTimeLimit, MaxTimeMSExpired,
# NetworkTimeout, ShutdownInProgress, PrimarySteppedDown, NotWritablePrimary,
# InterruptedAtShutdown, InterruptedDueToReplStateChange, NotPrimaryNoSecondaryOk,
# NotPrimaryOrSecondary).
TRANSIENT_CODES = frozenset({6, 7, 50, 89, 91, 189, 262, 10107, 11600, 11602, 13435, 13436})


def is_store_away(exc: BaseException) -> bool:
    """A fault of the store, not of the change: a connection, a timeout, a busy or restarting
    server. Such a change is tried again; anything else the store answers is for good."""
    if isinstance(exc, ConnectionFailure | ExecutionTimeout | WTimeoutError):
        return True  # ConnectionFailure covers AutoReconnect, NetworkTimeout, server selection
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    if isinstance(exc, PyMongoError) and (
        exc.has_error_label("RetryableWriteError")
        or exc.has_error_label("TransientTransactionError")
    ):
        return True
    if isinstance(exc, OperationFailure) and exc.code in TRANSIENT_CODES:
        return True
    return is_store_busy(exc)


class MongoIncidentStore:
    def __init__(self, docs: IncidentsRepository) -> None:
        self.docs = docs

    # --- incidents ------------------------------------------------------------------------------

    async def get(self, incident_id: str) -> Incident | None:
        doc = await self.docs.get_incident(incident_id)
        return None if doc is None else from_doc(doc)

    async def commit(self, change: Change, *, at: datetime) -> bool:
        change_id = await self.docs.commit(
            base_version=change.base,
            doc=to_doc(change.incident, change.timer_at),
            events=[e.model_dump(mode="json") for e in change.events],
            at=at,
        )
        return change_id is not None

    async def commit_many(self, changes: Sequence[Change], *, at: datetime) -> set[str]:
        return await self.docs.commit_many(
            [
                (
                    c.base,
                    to_doc(c.incident, c.timer_at),
                    [e.model_dump(mode="json") for e in c.events],
                )
                for c in changes
            ],
            at=at,
        )

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
        page = await self.docs.incidents_in(
            unit, status=status, type_=type_, since=since, limit=limit, cursor=cursor
        )
        return IncidentPage([from_doc(d) for d in page.incidents], page.next)

    @property
    def timer_shards(self) -> int:
        return self.docs.shards

    async def due_times(self, shard: int | None = None) -> list[tuple[str, datetime]]:
        return await self.docs.timers(shard)

    # --- outbox ---------------------------------------------------------------------------------

    async def forget_published(self, change_ids: Sequence[str]) -> None:
        await self.docs.mark_published(change_ids)

    async def pending(self, *, before: datetime, limit: int) -> list[PendingChange]:
        out: list[PendingChange] = []
        for record in await self.docs.pending_changes(before=before, limit=limit):
            doc = record["doc"]
            out.append(
                PendingChange(
                    change_id=str(record["_id"]),
                    incident_id=str(record["incident_id"]),
                    base=int(record["base_version"]),
                    at=record["at"],
                    incident=from_doc(doc),
                    timer_at=doc.get("next_timer_at"),
                    events=_events(record.get("events", []), str(record["_id"])),
                )
            )
        return out

    async def is_claimed(self, change_id: str) -> bool:
        return await self.docs.is_claimed(change_id)

    async def replay(self, change: PendingChange) -> bool:
        current = await self.docs.get_incident(change.incident_id)
        if current is not None and current.get("version", 0) > change.base:
            return False
        try:
            await self.docs.apply(to_doc(change.incident, change.timer_at))
        except (PyMongoError, bson.errors.BSONError, RecursionError, ValueError) as exc:
            if is_store_away(exc):
                raise
            raise Unstorable(f"{type(exc).__name__}: {exc}"[:4000]) from exc
        return True

    async def set_aside(self, change: PendingChange, *, error: str, at: datetime) -> None:
        await self.docs.set_aside(change.change_id, error=error, at=at)

    async def sweep_claims(self, *, before: datetime) -> int:
        return await self.docs.sweep_changes(before=before)

    # --- merge cells ----------------------------------------------------------------------------

    async def cells_near(self, cells: Sequence[str]) -> dict[str, list[CellEntry]]:
        found = await self.docs.cells(cells)
        return {
            cell: [CellEntry(cell, iid, m["lat"], m["lon"]) for iid, m in members.items()]
            for cell, members in found.items()
        }

    async def file_in_cells(self, entries: Sequence[CellEntry]) -> None:
        await self.docs.file_in_cells([(e.cell, e.incident_id, e.lat, e.lon) for e in entries])

    async def remove_from_cell(self, cell: str, incident_id: str) -> None:
        await self.docs.remove_from_cell(cell, incident_id)

    # --- reports --------------------------------------------------------------------------------

    async def insert_reports(self, reports: Sequence[ReportFacts]) -> set[str]:
        return await self.docs.insert_reports([report_to_doc(r) for r in reports])

    async def reports(self, report_ids: Sequence[str]) -> dict[str, ReportFacts]:
        found = await self.docs.get_reports(report_ids)
        return {rid: report_from_doc(doc) for rid, doc in found.items()}

    async def report(self, report_id: str) -> ReportFacts | None:
        doc = await self.docs.get_report(report_id)
        return None if doc is None else report_from_doc(doc)

    async def link_reports(self, links: Sequence[tuple[str, str]], *, at: datetime) -> None:
        await self.docs.link_reports(links, at)

    async def incident_of(self, report_id: str) -> str | None:
        return await self.docs.get_link(report_id)

    # --- ranger positions -----------------------------------------------------------------------

    async def save_position(self, position: Position) -> None:
        await self.docs.save_position(position_to_doc(position))

    async def end_patrol(self, ranger_id: str, patrol_id: str) -> None:
        await self.docs.end_patrol(ranger_id, patrol_id)

    async def positions_on_patrol(self) -> list[Position]:
        return [position_from_doc(d) for d in await self.docs.positions_on_patrol()]
