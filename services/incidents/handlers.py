"""Use cases of the incidents service: load through the repository, apply the domain, store (a
claimed change record that doubles as the outbox), then publish. Nothing here is HTTP or Kafka
wiring, and no rule of the domain lives here."""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import Counter
from pydantic import ValidationError

from services.incidents.domain import escalation, lifecycle, merging, pest_loop
from services.incidents.domain.hotspots import Cluster, ParsedHotspots, is_low_confidence
from services.incidents.domain.incident import Incident, Notice, Outcome, ReportFacts
from services.incidents.domain.placement import OutsideDistrict, Placement, place
from services.incidents.domain.verification import RangerPosition, nearest_ranger
from services.incidents.repository import Document, IncidentsRepository
from services.incidents.settings import IncidentsSettings
from shared.auth import in_scope
from shared.clock import Clock, as_utc
from shared.errors import Conflict, NotFound
from shared.events import (
    Event,
    IncidentAcknowledged,
    IncidentAcknowledgedData,
    IncidentChangeData,
    IncidentEscalated,
    IncidentEscalatedData,
    IncidentOpened,
    IncidentSnapshot,
    IncidentStatusChanged,
    IncidentStatusChangedData,
    IncidentUpdated,
    PatrolFinished,
    PositionUpdated,
    ReportSubmitted,
    ReportSubmittedData,
    parse_event,
)
from shared.kafka import Publisher
from shared.lane import Lane
from shared.org import OrgDirectory, Person, Role
from shared.policy import Policy

log = logging.getLogger(__name__)

reports_dropped_total = Counter(
    "hulin_reports_dropped_total",
    "Reports the consumer dropped because their id holds another reporter's stored report",
)

INCIDENT_NAMESPACE = uuid.UUID("0b7d4c2e-5f61-4a8b-9c3d-2e1f0a9b8c7d")
REPORT_EVENT_NAMESPACE = uuid.UUID("a3c1e5f7-2b4d-4e6f-8a0c-1d3e5f7a9b2c")


def incident_id_for(report_id: str) -> str:
    """An incident opened by a report has an id derived from it: a redelivered report cannot
    open a second incident."""
    return str(uuid.uuid5(INCIDENT_NAMESPACE, report_id))


def report_event_id(report_id: str) -> uuid.UUID:
    return uuid.uuid5(REPORT_EVENT_NAMESPACE, report_id)


# --- documents ↔ domain ------------------------------------------------------------------------


def to_doc(incident: Incident, policy: Policy) -> Document:
    doc = incident.model_dump(mode="python")
    doc["_id"] = doc.pop("id")
    doc["report_ids"] = list(incident.report_ids)
    doc["next_timer_at"] = escalation.next_timer_at(policy, incident)
    return doc


def from_doc(doc: Document) -> Incident:
    data = {k: v for k, v in doc.items() if k not in ("_id", "next_timer_at")}
    data["id"] = doc["_id"]
    return Incident.model_validate(data)


def snapshot(incident: Incident) -> IncidentSnapshot:
    return IncidentSnapshot(
        id=incident.id,
        type=incident.type,
        family=incident.family,
        status=incident.status,
        severity=incident.severity,
        verified=incident.verified,
        village=incident.village,
        township=incident.township,
        district=incident.district,
        lat=incident.lat,
        lon=incident.lon,
        report_ids=incident.report_ids,
        escalation_level=incident.escalation_level,
        next_escalation_at=(
            as_utc(incident.next_escalation_at) if incident.next_escalation_at else None
        ),
        opened_at=as_utc(incident.opened_at),
        observed_at=as_utc(incident.observed_at),
        neighbour_units=incident.neighbour_units,
        police=incident.police,
        nearest_ranger_id=incident.nearest_ranger_id,
        reporter_id=incident.reporter_id,
        details={k: v for k, v in incident.details.items() if k != "evidence"},
    )


def event_for(notice: Notice, incident: Incident, producer: str) -> Event:
    snap = snapshot(incident)
    common: dict[str, Any] = {
        "incident": snap,
        "reason": notice.reason,
        "actor": notice.actor,
        "report_id": notice.report_id,
    }
    at = as_utc(notice.at)
    kw: dict[str, Any] = {"key": incident.id, "producer": producer, "occurred_at": at}
    if notice.kind == "opened":
        return IncidentOpened.new(IncidentChangeData(**common), **kw)
    if notice.kind == "updated":
        return IncidentUpdated.new(IncidentChangeData(**common), **kw)
    if notice.kind == "escalated":
        assert notice.from_level is not None and notice.to_level is not None
        data = IncidentEscalatedData(
            **common, from_level=notice.from_level, to_level=notice.to_level, at=at
        )
        return IncidentEscalated.new(data, **kw)
    if notice.kind == "acknowledged":
        return IncidentAcknowledged.new(IncidentAcknowledgedData(**common, at=at), **kw)
    assert notice.from_status is not None and notice.to_status is not None
    changed = IncidentStatusChangedData(
        **common,
        from_status=notice.from_status,
        to_status=notice.to_status,
        at=at,
        note=notice.note,
    )
    return IncidentStatusChanged.new(changed, **kw)


def public_view(doc: Document) -> dict[str, Any]:
    """The incident as the HTTP contract shows it (DESIGN.md fields, plus a few additive ones)."""
    out = {k: v for k, v in doc.items() if k not in ("_id", "next_timer_at", "version")}
    out["id"] = doc["_id"]
    out.setdefault("timeline", [])
    return out


class TimerIndex:
    """In-memory due times of incidents (a heap with lazy deletion). A hint only: the database
    holds the truth, and each due incident is re-read and claimed before anything happens."""

    def __init__(self) -> None:
        self._heap: list[tuple[datetime, str]] = []
        self._due: dict[str, datetime] = {}

    def schedule(self, incident_id: str, at: datetime | None) -> None:
        if at is None:
            self._due.pop(incident_id, None)
            return
        at = as_utc(at)
        if self._due.get(incident_id) == at:
            return
        self._due[incident_id] = at
        heapq.heappush(self._heap, (at, incident_id))

    def pop_due(self, now: datetime, limit: int) -> list[str]:
        out: list[str] = []
        while self._heap and len(out) < limit and self._heap[0][0] <= now:
            at, incident_id = heapq.heappop(self._heap)
            if self._due.get(incident_id) == at:
                del self._due[incident_id]
                out.append(incident_id)
        return out

    def __len__(self) -> int:
        return len(self._due)


def report_facts(event: ReportSubmitted) -> ReportFacts:
    d = event.data
    return ReportFacts(
        id=d.report_id,
        type=d.type,
        lat=d.lat,
        lon=d.lon,
        observed_at=d.observed_at,
        received_at=d.received_at,
        reporter_id=d.reporter_id,
        reporter_role=d.reporter_role,
        source=d.source,
        village=d.village,
        township=d.township,
        district=d.district,
        description=d.description,
        photos=d.photos,
        details=dict(d.details),
        pixels=d.pixels,
    )


def report_doc(event: ReportSubmitted) -> Document:
    """The stored report of a `report.submitted` event (what `GET /v1/reports/{id}` shows)."""
    d = event.data
    return {
        "_id": d.report_id,
        "type": d.type,
        "lat": d.lat,
        "lon": d.lon,
        "observed_at": d.observed_at,
        "received_at": d.received_at,
        "reporter_id": d.reporter_id,
        "reporter_role": d.reporter_role,
        "source": d.source,
        "village": d.village,
        "township": d.township,
        "district": d.district,
        "description": d.description,
        "photos": list(d.photos),
        "details": dict(d.details),
        "pixels": d.pixels,
    }


@dataclass(eq=False)
class _Report:
    """A report of a batch on its way to the store; `inserted` when this batch stored it."""

    doc: Document
    inserted: bool = False


@dataclass
class _Change:
    """An incident a batch of reports opens (`base` 0) or joins (`base`: the stored version it
    read), as it stands after the batch's later reports; stored with the batch, in one claim
    of `base` (the versions in between never reach the store)."""

    incident: Incident
    events: list[Event]
    reports: list[ReportFacts]
    base: int = 0
    read_at: float = field(default_factory=time.monotonic)

    @property
    def opens(self) -> bool:
        return self.base == 0

    @property
    def changed(self) -> bool:
        return self.incident.version > self.base

    @property
    def change_id(self) -> str:
        return f"{self.incident.id}:{self.base}"


class _BatchReads:
    """What a batch of reports reads once instead of once per report: the merge cells its
    reports reach (all read together at the start; the batch's own openings are added by the
    batch itself) and the rangers' positions (read when the first opening needs them)."""

    def __init__(self, cells: dict[str, dict[str, Document]], repo: IncidentsRepository) -> None:
        self.cells = cells
        self._repo = repo
        self._positions: asyncio.Task[list[Document]] | None = None

    def members(self, keys: Sequence[str]) -> dict[str, Document]:
        out: dict[str, Document] = {}
        for key in keys:
            out.update(self.cells.get(key, {}))
        return out

    async def positions(self) -> list[Document]:
        if self._positions is None:
            self._positions = asyncio.create_task(self._repo.positions_on_patrol())
        return await asyncio.shield(self._positions)


class _NotOpen(Exception):
    """The merge target closed in the meantime: open a new incident instead."""


class IncidentsService:
    def __init__(
        self,
        *,
        repo: IncidentsRepository,
        publisher: Publisher,
        org: OrgDirectory,
        policy: Policy,
        settings: IncidentsSettings,
        clock: Clock,
    ) -> None:
        self.repo = repo
        self.publisher = publisher
        self.org = org
        self.policy = policy
        self.settings = settings
        self.clock = clock
        self.timers = TimerIndex()
        self._next_rescan_shard: int | None = None
        self._fire_limit = asyncio.Semaphore(settings.escalation_concurrency)
        self._report_groups = asyncio.Semaphore(settings.report_concurrency)
        # the incidents the partitions of one fetch open or join, stored in one set of bulk writes
        self._changes_lane: Lane[_Change] = Lane(self._store_changes)
        # the reports of one fetch's partitions, stored in one insert
        self._reports_lane: Lane[_Report] = Lane(self._insert_reports)
        # published changes leave the outbox in the background, many in one delete
        self._published_lane: Lane[str] = Lane(self.repo.mark_published)
        self._tidying: set[asyncio.Task[None]] = set()

    # --- placement ------------------------------------------------------------------------------

    def place(self, lat: float, lon: float) -> Placement:
        return place(self.org, lat, lon, proximity_m=self.policy.escalation.boundary_proximity_m)

    # --- intake ---------------------------------------------------------------------------------

    async def submit_report(self, *, person: Person, report: dict[str, Any]) -> str:
        """Put the report on Kafka keyed by village, acked by the broker before the 202 (it is
        not lost); the reports consumer stores it with its batch, in one insert per fetch.

        The intake answers from the request alone, without a store round trip: one per report
        (first an insert; then, tried in its place, a read by `_id`: ~5 ms each under load) was
        the largest store cost of a report. So an id is settled by the consumer: the first
        report stored under it wins; a resend by its reporter changes nothing, and a report of
        another person under a taken id is dropped and counted (`_store_reports`)."""
        doc = {**report, "_id": report["id"]}
        del doc["id"]
        await self.publisher.publish(self._report_event(doc))
        return str(report["id"])

    def _report_event(self, doc: Document) -> ReportSubmitted:
        data = ReportSubmittedData(
            report_id=doc["_id"],
            type=doc["type"],
            lat=doc["lat"],
            lon=doc["lon"],
            observed_at=as_utc(doc["observed_at"]),
            received_at=as_utc(doc["received_at"]),
            reporter_id=doc.get("reporter_id"),
            reporter_role=doc["reporter_role"],
            source=doc.get("source", "app"),
            village=doc["village"],
            township=doc["township"],
            district=doc["district"],
            description=doc.get("description"),
            photos=tuple(doc.get("photos", ())),
            details=doc.get("details", {}),
            pixels=doc.get("pixels"),
        )
        return ReportSubmitted.new(
            data,
            key=doc["village"],
            producer=self.settings.service,
            event_id=report_event_id(doc["_id"]),
        )

    async def ingest_hotspots(self, parsed: ParsedHotspots) -> dict[str, Any]:
        """Drop low-confidence rows, cluster the rest, publish one satellite report per cluster
        inside the district (the reports consumer stores them). Re-uploading a file makes the
        same report ids (idempotent)."""
        from services.incidents.domain.hotspots import cluster

        kept = [r for r in parsed.rows if not is_low_confidence(r, self.policy)]
        dropped = len(parsed.rows) - len(kept)
        now = self.clock.now()
        docs: list[Document] = []
        outside = 0
        clusters: list[Cluster] = cluster(kept)
        for c in clusters:
            try:
                where = self.place(c.lat, c.lon)
            except OutsideDistrict:
                outside += c.pixels
                continue
            docs.append(
                {
                    "_id": c.report_id,
                    "type": "hotspot",
                    "lat": c.lat,
                    "lon": c.lon,
                    "observed_at": c.observed_at,
                    "received_at": now,
                    "reporter_id": None,
                    "reporter_role": "satellite",
                    "source": "satellite",
                    "village": where.village,
                    "township": where.township,
                    "district": where.district,
                    "description": f"{c.pixels} FIRMS pixel(s), {c.rows[0].satellite}",
                    "photos": [],
                    "details": c.details(),
                    "pixels": c.pixels,
                }
            )
        await self.publisher.publish_many([self._report_event(d) for d in docs])
        return {
            "accepted": len(kept) - outside,
            "reports": [d["_id"] for d in docs],
            "dropped_low_confidence": dropped,
            "outside_district": outside,
            "rejected": [{"row": r.row, "reason": r.reason} for r in parsed.rejected],
        }

    async def get_report(self, *, person: Person, report_id: str) -> dict[str, Any]:
        doc = await self.repo.get_report(report_id)
        if doc is None:
            raise NotFound("report not found")
        own = doc.get("reporter_id") == person.id
        if not own and not in_scope(self.org, person, doc["village"]):
            raise NotFound("report not found")
        out = {k: v for k, v in doc.items() if k != "_id"}
        out["id"] = doc["_id"]
        out["incident_id"] = await self.repo.get_link(report_id)
        return out

    # --- reports consumer -----------------------------------------------------------------------

    async def on_reports(self, events: Sequence[ReportSubmitted]) -> None:
        """One partition's batch: each report joins or opens an incident.

        Reports that could merge with each other (same family, overlapping merge cells) are
        decided one after another in their order; the rest at the same time. A report joining
        a stored incident changes it at once; the incidents the batch opens (with what later
        reports of the batch added to them) are stored together at the end, in a few bulk
        writes, and their events published together: FerretDB's SQLite takes one write at a
        time, so per-report writes turned a burst into a queue.

        Idempotent: a redelivered report finds the incident it opened or joined among the
        candidates (merging it again changes nothing), and opening twice loses the claim of
        version 0 of the incident derived from the report id."""

        def cells_of(batch: Sequence[ReportSubmitted]) -> list[list[str]]:
            return [
                merging.cells_within(
                    self.policy.family_of(e.data.type),
                    e.data.lat,
                    e.data.lon,
                    self.policy.window_for(e.data.type)[0],
                )
                for e in batch
            ]

        # Storing the reports and reading their merge cells are independent: at the same time.
        cells = cells_of(events)
        (kept, as_sent), read = await asyncio.gather(
            self._store_reports(events), self.repo.cells([k for keys in cells for k in keys])
        )
        if not as_sent:  # a report was dropped, or is handled as stored before: read for those
            events, cells = kept, cells_of(kept)
            read = await self.repo.cells([k for keys in cells for k in keys])
        batch: dict[str, _Change] = {}
        reads = _BatchReads(read, self.repo)

        async def in_order(group: list[int]) -> None:
            async with self._report_groups:
                for i in group:
                    await self._take_report(report_facts(events[i]), batch, reads)

        groups = merging.independent_groups(cells)
        # Every group finishes before a failure is raised: the runner retries the batch, and a
        # group still running then would race its own retry.
        results = await asyncio.gather(*(in_order(g) for g in groups), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        if batch:
            await self._changes_lane.run(list(batch.values()))

    async def _store_reports(
        self, events: Sequence[ReportSubmitted]
    ) -> tuple[list[ReportSubmitted], bool]:
        """Store the batch's reports (with the other partitions' of this fetch, in one insert);
        returns the events to handle, and whether they are the events as sent. An id stored
        already (a resend, a redelivery) is handled as stored: the first report of an id wins.
        One whose id holds another reporter's report is dropped and counted."""
        items = [_Report(report_doc(e)) for e in events]
        await self._reports_lane.run(items)
        again = {str(i.doc["_id"]) for i in items if not i.inserted}
        if not again:
            return list(events), True
        stored = await self.repo.get_reports(sorted(again))
        out: list[ReportSubmitted] = []
        for event, item in zip(events, items, strict=True):
            if item.inserted:
                out.append(event)
                continue
            doc = stored.get(event.data.report_id)
            if doc is None:  # cannot be: the insert raises unless the id is stored
                raise RuntimeError(f"report {event.data.report_id} is not stored")
            if doc.get("reporter_id") != event.data.reporter_id:
                log.warning(
                    "report id holds another reporter's report; dropped",
                    extra={"report_id": event.data.report_id, "event_id": str(event.id)},
                )
                reports_dropped_total.inc()
                continue
            out.append(self._report_event(doc))
        return out, False

    async def _insert_reports(self, items: list[_Report]) -> None:
        """The reports lane's flush: one insert of every id's first report; idempotent."""
        first: dict[str, _Report] = {}
        for item in items:
            first.setdefault(str(item.doc["_id"]), item)
        inserted = await self.repo.insert_reports([i.doc for i in first.values()])
        for item in items:
            key = str(item.doc["_id"])
            item.inserted = first[key] is item and key in inserted

    async def _take_report(
        self, report: ReportFacts, batch: dict[str, _Change], reads: _BatchReads
    ) -> None:
        """Decide one report: join an incident (stored, or one this batch opens or joined
        already) in memory, or open one; the batch stores what changed at the end. Reports of
        one incident are decided one after another (one group), so a burst of reports on one
        fire costs one claim and one write of the incident, not three writes per report."""
        candidates = await self._candidates(report, reads, batch)
        target = merging.find_merge_target(candidates, report, self.policy)
        if target is not None and target.id not in batch:
            batch[target.id] = _Change(target, [], [], base=target.version)
        if target is not None:
            change = batch[target.id]
            outcome = merging.merge_into(
                change.incident, report, policy=self.policy, now=self.clock.now()
            )
            if outcome.changed:
                version = change.incident.version + 1
                change.incident = outcome.incident.model_copy(update={"version": version})
                producer = self.settings.service
                change.events += [event_for(n, change.incident, producer) for n in outcome.notices]
            change.reports.append(report)
            return
        own_id = incident_id_for(report.id)
        if own_id in batch:  # the same report twice in one batch
            batch[own_id].reports.append(report)
            return
        batch[own_id] = await self._open(report, own_id, reads)

    def _merge(self, incident: Incident, report: ReportFacts) -> Outcome:
        if not incident.is_open:
            raise _NotOpen
        return merging.merge_into(incident, report, policy=self.policy, now=self.clock.now())

    async def _open(self, report: ReportFacts, incident_id: str, reads: _BatchReads) -> _Change:
        now = self.clock.now()
        placement = self._placement_of(report)
        nearest = None
        if not report.verifies:
            nearest = nearest_ranger(
                [
                    RangerPosition(p["_id"], p["lat"], p["lon"], p["t"], p.get("on_patrol", True))
                    for p in await reads.positions()
                ],
                report.lat,
                report.lon,
                now=now,
                max_age_s=self.settings.position_max_age_s,
            )
        outcome = lifecycle.open_incident(
            report,
            incident_id=incident_id,
            placement=placement,
            policy=self.policy,
            now=now,
            nearest_ranger_id=nearest,
        )
        incident = outcome.incident.model_copy(update={"version": 1})
        events = [event_for(n, incident, self.settings.service) for n in outcome.notices]
        return _Change(incident, events, [report])

    async def _store_changes(self, changes: list[_Change]) -> None:
        """Store what batches opened and joined (those of the partitions handled at the same
        time, together): claim the base version of each changed incident, write, publish, file
        each opened one in its merge cell, link the reports. Bulk writes: FerretDB's SQLite
        takes one write at a time.

        An opening already claimed was opened before (a redelivery after a crash): the relay
        publishes what was left, and the cell and links are idempotent. A join whose claim is
        lost (someone changed the incident since the batch read it: an escalation, an
        acknowledgement, another partition's batch), or whose read is too old to trust, is
        done again report by report on a fresh read (`_rejoin`)."""
        if not changes:
            return
        now = self.clock.now()
        first: dict[str, _Change] = {}
        again: list[_Change] = []
        stale = time.monotonic() - self.settings.change_retention_s / 2
        for c in changes:
            if c.incident.id in first or (not c.opens and c.read_at < stale):
                again.append(c)  # two partitions' batches on one incident: the first goes now
            else:
                first[c.incident.id] = c
        kept = list(first.values())
        to_commit = [c for c in kept if c.changed]
        won = await self.repo.commit_many(
            [
                (
                    c.base,
                    to_doc(c.incident, self.policy),
                    [e.model_dump(mode="json") for e in c.events],
                )
                for c in to_commit
            ],
            at=now,
        )
        mine = [c for c in to_commit if c.change_id in won]
        again += [c for c in to_commit if not c.opens and c.change_id not in won]
        for c in kept:
            if c.change_id in won or not c.changed:
                self.timers.schedule(
                    c.incident.id, escalation.next_timer_at(self.policy, c.incident)
                )

        async def publish() -> None:
            try:
                await self.publisher.publish_many([e for c in mine for e in c.events])
            except Exception:
                log.warning("publish failed; the relay will retry", exc_info=True)
            else:
                self._forget_published([c.change_id for c in mine])

        linked = [c for c in kept if c not in again]
        # Independent writes, at the same time: the batch (and the reports behind it) waits for
        # the slowest of them, not for their sum.
        results = await asyncio.gather(
            publish(),
            self.repo.file_in_cells(
                [
                    (
                        merging.cell_of(c.incident.family, c.incident.lat, c.incident.lon),
                        c.incident.id,
                        c.incident.lat,
                        c.incident.lon,
                    )
                    for c in kept
                    if c.opens
                ]
            ),
            self.repo.link_reports([(r.id, c.incident.id) for c in linked for r in c.reports], now),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
        await self._rejoin(again)

    async def _rejoin(self, changes: list[_Change]) -> None:
        """The reports of joins that could not be stored as decided, each again on a fresh read
        of its incident (merging a report twice changes nothing); one whose incident closed
        meanwhile opens its own."""
        for change in changes:
            for report in change.reports:
                try:
                    outcome = await self._mutate(
                        change.incident.id, lambda inc, r=report: self._merge(inc, r)
                    )
                except _NotOpen:
                    fresh = _BatchReads({}, self.repo)
                    opened = await self._open(report, incident_id_for(report.id), fresh)
                    await self._store_changes([opened])
                    continue
                await self.repo.link_report(report.id, outcome.incident.id, self.clock.now())

    def _placement_of(self, report: ReportFacts) -> Placement:
        """The village the intake placed the report in; neighbours from the org directory."""
        try:
            return self.place(report.lat, report.lon)
        except OutsideDistrict:
            m = self.policy.escalation.boundary_proximity_m
            return Placement(
                village=report.village,
                township=report.township,
                district=report.district,
                neighbour_units=tuple(
                    u.code for u in self.org.neighbour_units(report.lat, report.lon, m)
                ),
                near_district_boundary=True,
            )

    async def _candidates(
        self, report: ReportFacts, reads: _BatchReads, batch: dict[str, _Change]
    ) -> list[Incident]:
        """The open incidents the report could join: those filed in its merge cells within its
        distance (read now, unless the batch holds them) and every one the batch holds, as the
        batch left it."""
        family = self.policy.family_of(report.type)
        distance_m, _ = self.policy.window_for(report.type)
        members = reads.members(merging.cells_within(family, report.lat, report.lon, distance_m))
        from shared.geo import haversine_m

        near = [
            iid
            for iid, m in members.items()
            if iid not in batch
            and haversine_m(report.lat, report.lon, m["lat"], m["lon"]) <= distance_m
        ]
        docs = await asyncio.gather(*(self.repo.get_incident(i) for i in near))
        out: list[Incident] = [c.incident for c in batch.values()]
        for iid, doc in zip(near, docs, strict=True):
            if doc is None:
                continue
            incident = from_doc(doc)
            if incident.is_open:
                out.append(incident)
            else:
                await self.repo.remove_from_cell(
                    merging.cell_of(family, incident.lat, incident.lon), iid
                )
        return out

    # --- patrol consumer ------------------------------------------------------------------------

    async def on_position(self, event: PositionUpdated) -> None:
        d = event.data
        await self.repo.save_position(
            {
                "_id": d.ranger_id,
                "patrol_id": d.patrol_id,
                "village": d.village,
                "lat": d.lat,
                "lon": d.lon,
                "t": d.t,
                "on_patrol": d.on_patrol,
            }
        )

    async def on_patrol_finished(self, event: PatrolFinished) -> None:
        await self.repo.end_patrol(event.data.ranger_id, event.data.patrol_id)

    # --- commands -------------------------------------------------------------------------------

    async def load_in_scope(self, person: Person, incident_id: str) -> Incident:
        doc = await self.repo.get_incident(incident_id)
        if doc is None or not in_scope(self.org, person, doc["village"]):
            raise NotFound("incident not found")
        return from_doc(doc)

    async def acknowledge(self, *, person: Person, incident_id: str, note: str | None) -> Incident:
        await self.load_in_scope(person, incident_id)
        actor = lifecycle.Actor(person.id, person.role.value)
        outcome = await self._mutate(
            incident_id,
            lambda inc: lifecycle.acknowledge(inc, actor=actor, now=self.clock.now(), note=note),
        )
        return outcome.incident

    async def transition(
        self,
        *,
        person: Person,
        incident_id: str,
        to: str,
        note: str | None,
        evidence: dict[str, Any] | None,
    ) -> Incident:
        await self.load_in_scope(person, incident_id)
        actor = lifecycle.Actor(person.id, person.role.value)
        if to.startswith("pest_step:"):
            ev = dict(evidence or {})
            result = ev.pop("result", None)
            return await self.pest_step(
                person=person,
                incident_id=incident_id,
                step=to.split(":", 1)[1],
                evidence=ev,
                result=result,
                note=note,
            )
        outcome = await self._mutate(
            incident_id,
            lambda inc: lifecycle.transition(
                inc,
                to=to,
                actor=actor,
                now=self.clock.now(),
                policy=self.policy,
                note=note,
                evidence=evidence,
            ),
        )
        return outcome.incident

    async def pest_step(
        self,
        *,
        person: Person,
        incident_id: str,
        step: str,
        evidence: dict[str, Any],
        result: str | None,
        note: str | None,
    ) -> Incident:
        await self.load_in_scope(person, incident_id)
        actor = lifecycle.Actor(person.id, person.role.value)
        outcome = await self._mutate(
            incident_id,
            lambda inc: pest_loop.record_step(
                inc,
                step=step,
                evidence=evidence,
                actor=actor,
                now=self.clock.now(),
                policy=self.policy,
                result=result,
                note=note,
            ),
        )
        return outcome.incident

    # --- queries --------------------------------------------------------------------------------

    async def get_incident(self, *, person: Person, incident_id: str) -> dict[str, Any]:
        doc = await self.repo.get_incident(incident_id)
        if doc is None or not in_scope(self.org, person, doc["village"]):
            raise NotFound("incident not found")
        return public_view(doc)

    async def list_incidents(
        self,
        *,
        person: Person,
        status: str | None,
        type_: str | None,
        unit: str | None,
        since: datetime | None,
        limit: int,
        cursor: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of incidents in the unit (or the person's), and the cursor of the next."""
        if person.role == Role.PUBLIC:
            return [], None
        root = unit or person.unit
        if not in_scope(self.org, person, root):
            raise NotFound("unit not found")
        page = await self.repo.incidents_in(
            root, status=status, type_=type_, since=since, limit=limit, cursor=cursor
        )
        return [public_view(d) for d in page.incidents], page.next

    # --- storing and publishing -----------------------------------------------------------------

    async def _mutate(
        self, incident_id: str, change: Callable[[Incident], Outcome], *, attempts: int = 20
    ) -> Outcome:
        """Read, decide, claim the change of that version, store, publish. If someone else
        changed the incident in between, read again and decide again."""
        for attempt in range(attempts):
            read_at = time.monotonic()
            doc = await self.repo.get_incident(incident_id)
            if doc is None:
                raise NotFound("incident not found")
            current = from_doc(doc)
            outcome = change(current)
            if outcome.incident == current:
                self.timers.schedule(incident_id, escalation.next_timer_at(self.policy, current))
                return outcome
            if time.monotonic() - read_at > self.settings.change_retention_s / 2:
                continue  # a read this old may predate a swept claim: read again
            new = outcome.incident.model_copy(update={"version": current.version + 1})
            if await self._commit(current.version, new, outcome.notices):
                return Outcome(new, outcome.notices)
            await asyncio.sleep(0.01 * (attempt + 1))
        raise Conflict("the incident is being changed by others; try again", field="id")

    async def _commit(
        self, base_version: int, incident: Incident, notices: Sequence[Notice]
    ) -> bool:
        events = [event_for(n, incident, self.settings.service) for n in notices]
        change_id = await self.repo.commit(
            base_version=base_version,
            doc=to_doc(incident, self.policy),
            events=[e.model_dump(mode="json") for e in events],
            at=self.clock.now(),
        )
        if change_id is None:
            return False
        self.timers.schedule(incident.id, escalation.next_timer_at(self.policy, incident))
        try:
            await self.publisher.publish_many(events)
        except Exception:
            log.warning("publish failed; the relay will retry", exc_info=True)
            return True
        self._forget_published([change_id])
        return True

    def _forget_published(self, change_ids: list[str]) -> None:
        """Take published changes out of the outbox in the background: neither a batch of
        reports nor an escalation waits for the delete (a store write). If it never happens
        (a crash, the store away), the relay publishes the change again after its grace, with
        the same event ids, which every consumer drops as seen."""
        if not change_ids:
            return
        task = asyncio.create_task(self._published_lane.run(change_ids), name="outbox-tidy")
        self._tidying.add(task)
        task.add_done_callback(self._tidied)

    def _tidied(self, task: asyncio.Task[None]) -> None:
        self._tidying.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning(
                "could not take published changes out of the outbox; the relay will",
                exc_info=task.exception(),
            )

    # --- the escalation engine ------------------------------------------------------------------

    async def run_due(self) -> int:
        """Fire every due timer (in batches while there is a backlog); returns how many fired."""
        fired = 0
        while True:
            due = self.timers.pop_due(self.clock.now(), self.settings.escalation_batch)
            if not due:
                return fired
            await asyncio.gather(*(self._fire(i) for i in due))
            fired += len(due)

    async def _fire(self, incident_id: str) -> None:
        async with self._fire_limit:
            try:
                await self._mutate(
                    incident_id,
                    lambda inc: escalation.on_timer(self.policy, inc, now=self.clock.now()),
                )
            except NotFound:
                self.timers.schedule(incident_id, None)
            except Exception:
                log.exception("escalation failed; retrying soon", extra={"incident": incident_id})
                self.timers.schedule(incident_id, self.clock.now() + timedelta(seconds=1))

    async def rescan_timers(self) -> None:
        """Reload timers from the store: all of them the first time (at start-up, so timers stored
        before a restart fire), then one shard per call, so that no call stalls the store (a
        full reload of 10,000 incidents costs FerretDB seconds); the app calls it every
        `timer_rescan_s / incident_shards` seconds."""
        shard = self._next_rescan_shard
        for incident_id, at in await self.repo.timers(shard):
            self.timers.schedule(incident_id, at)
        self._next_rescan_shard = 0 if shard is None else (shard + 1) % self.repo.shards

    async def relay(self) -> int:
        """Publish changes whose writer died before publishing (replaying the document first if
        it never reached the incident); drop staged changes that were never claimed."""
        now = self.clock.now()
        before = now - timedelta(seconds=self.settings.relay_grace_s)
        abandoned = now - timedelta(seconds=4 * self.settings.relay_grace_s)
        pending = await self.repo.pending_changes(before=before, limit=500)
        handled = 0
        for change in pending:
            if not await self.repo.is_claimed(change["_id"]):
                # Staged, never claimed: its writer died in between (or lost the claim and then
                # died). Nothing changed; after a long grace the stage is dropped.
                if as_utc(change["at"]) <= abandoned:
                    await self.repo.mark_published([change["_id"]])
                continue
            doc = change.get("doc")
            if doc is not None:
                current = await self.repo.get_incident(change["incident_id"])
                if current is None or current.get("version", 0) <= change["base_version"]:
                    await self.repo.apply(doc)
                    self.timers.schedule(doc["_id"], doc.get("next_timer_at"))
            events: list[Event] = []
            for raw in change.get("events", []):
                try:
                    events.append(parse_event(raw))
                except (ValidationError, ValueError):
                    log.error("unpublishable event in change %s", change["_id"])
            await self.publisher.publish_many(events)
            await self.repo.mark_published([change["_id"]])
            handled += 1
        return handled

    async def sweep(self) -> None:
        before = self.clock.now() - timedelta(seconds=self.settings.change_retention_s)
        await self.repo.sweep_changes(before=before)
