"""How a batch of reports (one partition's fetch) is decided: each report joins an open incident
near it or opens one; a join whose version was taken meanwhile is done again on a fresh read.
Idempotent under redelivery; the merging rules themselves are the domain's."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from prometheus_client import Counter

from services.incidents.domain import lifecycle, merging
from services.incidents.domain.incident import Incident, Outcome, ReportFacts
from services.incidents.domain.placement import OutsideDistrict, Placement, place
from services.incidents.domain.verification import RangerPosition, nearest_ranger
from services.incidents.settings import IncidentsSettings
from services.incidents.store import CellEntry, Change, IncidentStore, Position, change_id_of
from services.incidents.usecases.changes import ChangeWriter
from services.incidents.usecases.events import events_for, incident_id_for, report_facts
from services.incidents.usecases.timers import TimerIndex
from shared.clock import Clock
from shared.events import Event, ReportSubmitted
from shared.geo import haversine_m
from shared.lane import Lane
from shared.org import OrgDirectory
from shared.policy import Policy

log = logging.getLogger(__name__)

reports_dropped_total = Counter(
    "hulin_reports_dropped_total",
    "Reports the consumer dropped because their id holds another reporter's stored report",
)


@dataclass(eq=False)
class _Report:
    """A report of a batch on its way to the store; `inserted` when this batch stored it."""

    report: ReportFacts
    inserted: bool = False


@dataclass
class _Decided:
    """An incident a batch of reports opens (`base` 0) or joins (`base`: the stored version it
    read), as it stands after the batch's later reports; stored with the batch, in one commit
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
        return change_id_of(self.incident.id, self.base)


class _BatchReads:
    """What a batch of reports reads once instead of once per report: the merge cells its
    reports reach (all read together at the start) and the rangers' positions (read when the
    first opening needs them)."""

    def __init__(self, cells: dict[str, list[CellEntry]], store: IncidentStore) -> None:
        self.cells = cells
        self._store = store
        self._positions: asyncio.Task[list[Position]] | None = None

    def members(self, keys: Sequence[str]) -> dict[str, CellEntry]:
        return {e.incident_id: e for key in keys for e in self.cells.get(key, [])}

    async def positions(self) -> list[Position]:
        if self._positions is None:
            self._positions = asyncio.create_task(self._store.positions_on_patrol())
        return await asyncio.shield(self._positions)


class _NotOpen(Exception):
    """The merge target closed in the meantime: open a new incident instead."""


class ReportBatches:
    def __init__(
        self,
        *,
        store: IncidentStore,
        writer: ChangeWriter,
        timers: TimerIndex,
        org: OrgDirectory,
        policy: Policy,
        settings: IncidentsSettings,
        clock: Clock,
    ) -> None:
        self.store = store
        self.writer = writer
        self.timers = timers
        self.org = org
        self.policy = policy
        self.settings = settings
        self.clock = clock
        self._groups = asyncio.Semaphore(settings.report_concurrency)
        # the incidents the partitions of one fetch open or join, stored in one set of bulk writes
        self._changes_lane: Lane[_Decided] = Lane(self._store_decided)
        # the reports of one fetch's partitions, stored in one insert
        self._reports_lane: Lane[_Report] = Lane(self._insert_reports)

    def _cells_of(self, reports: Sequence[ReportFacts]) -> list[list[str]]:
        return [
            merging.cells_within(
                self.policy.family_of(r.type), r.lat, r.lon, self.policy.window_for(r.type)[0]
            )
            for r in reports
        ]

    async def on_reports(self, events: Sequence[ReportSubmitted]) -> None:
        """One partition's batch: each report joins or opens an incident.

        Reports that could merge with each other (same family, overlapping merge cells) are
        decided one after another in their order; the rest at the same time. The incidents the
        batch opens or joins (with what later reports of the batch added to them) are stored
        together at the end, and their events published together.

        Idempotent: a redelivered report finds the incident it opened or joined among the
        candidates (merging it again changes nothing), and opening twice loses the commit of
        version 0 of the incident derived from the report id."""
        reports = [report_facts(e) for e in events]
        # Storing the reports and reading their merge cells are independent: at the same time.
        cells = self._cells_of(reports)
        (kept, as_sent), read = await asyncio.gather(
            self._store_reports(reports),
            self.store.cells_near([k for keys in cells for k in keys]),
        )
        if not as_sent:  # a report was dropped, or is handled as stored before: read for those
            reports, cells = kept, self._cells_of(kept)
            read = await self.store.cells_near([k for keys in cells for k in keys])
        batch: dict[str, _Decided] = {}
        reads = _BatchReads(read, self.store)

        async def in_order(group: list[int]) -> None:
            async with self._groups:
                for i in group:
                    await self._take_report(reports[i], batch, reads)

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
        self, reports: Sequence[ReportFacts]
    ) -> tuple[list[ReportFacts], bool]:
        """Store the batch's reports (with the other partitions' of this fetch, in one insert);
        returns the reports to handle, and whether they are the reports as sent. An id stored
        already (a resend, a redelivery) is handled as stored: the first report of an id wins.
        One whose id holds another reporter's report is dropped and counted."""
        items = [_Report(r) for r in reports]
        await self._reports_lane.run(items)
        again = {i.report.id for i in items if not i.inserted}
        if not again:
            return list(reports), True
        stored = await self.store.reports(sorted(again))
        out: list[ReportFacts] = []
        for item in items:
            if item.inserted:
                out.append(item.report)
                continue
            first = stored.get(item.report.id)
            if first is None:  # cannot be: the insert raises unless the id is stored
                raise RuntimeError(f"report {item.report.id} is not stored")
            if first.reporter_id != item.report.reporter_id:
                log.warning(
                    "report id holds another reporter's report; dropped",
                    extra={"report_id": item.report.id},
                )
                reports_dropped_total.inc()
                continue
            out.append(first)
        return out, False

    async def _insert_reports(self, items: list[_Report]) -> None:
        """The reports lane's flush: one insert of every id's first report; idempotent."""
        first: dict[str, _Report] = {}
        for item in items:
            first.setdefault(item.report.id, item)
        inserted = await self.store.insert_reports([i.report for i in first.values()])
        for item in items:
            key = item.report.id
            item.inserted = first[key] is item and key in inserted

    async def _take_report(
        self, report: ReportFacts, batch: dict[str, _Decided], reads: _BatchReads
    ) -> None:
        """Decide one report: join an incident (stored, or one this batch opens or joined
        already) in memory, or open one; the batch stores what changed at the end."""
        candidates = await self._candidates(report, reads, batch)
        target = merging.find_merge_target(candidates, report, self.policy)
        if target is not None and target.id not in batch:
            batch[target.id] = _Decided(target, [], [], base=target.version)
        if target is not None:
            decided = batch[target.id]
            outcome = merging.merge_into(
                decided.incident, report, policy=self.policy, now=self.clock.now()
            )
            if outcome.changed:
                version = decided.incident.version + 1
                decided.incident = outcome.incident.model_copy(update={"version": version})
                producer = self.settings.service
                decided.events += events_for(outcome.notices, decided.incident, producer)
            decided.reports.append(report)
            return
        own_id = incident_id_for(report.id)
        if own_id in batch:  # the same report twice in one batch
            batch[own_id].reports.append(report)
            return
        batch[own_id] = await self._open(report, own_id, reads)

    def _merging(self, report: ReportFacts) -> Callable[[Incident], Outcome]:
        def merge(incident: Incident) -> Outcome:
            if not incident.is_open:
                raise _NotOpen
            return merging.merge_into(incident, report, policy=self.policy, now=self.clock.now())

        return merge

    async def _open(self, report: ReportFacts, incident_id: str, reads: _BatchReads) -> _Decided:
        now = self.clock.now()
        nearest = None
        if not report.verifies:
            nearest = nearest_ranger(
                [
                    RangerPosition(p.ranger_id, p.lat, p.lon, p.t, p.on_patrol)
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
            placement=self._placement_of(report),
            policy=self.policy,
            now=now,
            nearest_ranger_id=nearest,
        )
        incident = outcome.incident.model_copy(update={"version": 1})
        return _Decided(
            incident, list(events_for(outcome.notices, incident, self.settings.service)), [report]
        )

    async def _store_decided(self, decided: list[_Decided]) -> None:
        """Store what batches opened and joined (those of the partitions handled at the same
        time, together): commit each changed incident over the version it read, publish, file
        each opened one in its merge cell, link the reports.

        An opening committed already was opened before (a redelivery after a crash): the relay
        publishes what was left, and the cell and links are idempotent. A join whose commit is
        lost (someone changed the incident since the batch read it), or whose read is too old
        to trust, is done again report by report on a fresh read (`_rejoin`)."""
        if not decided:
            return
        now = self.clock.now()
        first: dict[str, _Decided] = {}
        again: list[_Decided] = []
        stale = time.monotonic() - self.settings.change_retention_s / 2
        for d in decided:
            if d.incident.id in first or (not d.opens and d.read_at < stale):
                again.append(d)  # two partitions' batches on one incident: the first goes now
            else:
                first[d.incident.id] = d
        kept = list(first.values())
        changes = {
            d.change_id: Change(
                d.base, d.incident, tuple(d.events), self.writer.timer_of(d.incident)
            )
            for d in kept
            if d.changed
        }
        won = await self.store.commit_many(list(changes.values()), at=now)
        mine = [changes[i] for i in changes if i in won]
        again += [d for d in kept if d.changed and not d.opens and d.change_id not in won]
        for d in kept:
            if d.change_id in won or not d.changed:
                self.timers.schedule(d.incident.id, self.writer.timer_of(d.incident))
        linked = [d for d in kept if d not in again]
        # Independent writes, at the same time: the batch waits for the slowest, not the sum.
        results = await asyncio.gather(
            self.writer.publish(mine),
            self.store.file_in_cells(
                [
                    CellEntry(
                        merging.cell_of(d.incident.family, d.incident.lat, d.incident.lon),
                        d.incident.id,
                        d.incident.lat,
                        d.incident.lon,
                    )
                    for d in kept
                    if d.opens
                ]
            ),
            self.store.link_reports(
                [(r.id, d.incident.id) for d in linked for r in d.reports], at=now
            ),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
        await self._rejoin(again)

    async def _rejoin(self, decided: list[_Decided]) -> None:
        """The reports of joins that could not be stored as decided, each again on a fresh read
        of its incident (merging a report twice changes nothing); one whose incident closed
        meanwhile opens its own."""
        for d in decided:
            for report in d.reports:
                try:
                    outcome = await self.writer.mutate(d.incident.id, self._merging(report))
                except _NotOpen:
                    fresh = _BatchReads({}, self.store)
                    opened = await self._open(report, incident_id_for(report.id), fresh)
                    await self._store_decided([opened])
                    continue
                await self.store.link_reports(
                    [(report.id, outcome.incident.id)], at=self.clock.now()
                )

    def _placement_of(self, report: ReportFacts) -> Placement:
        """The village the intake placed the report in; neighbours from the org directory."""
        m = self.policy.escalation.boundary_proximity_m
        try:
            return place(self.org, report.lat, report.lon, proximity_m=m)
        except OutsideDistrict:
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
        self, report: ReportFacts, reads: _BatchReads, batch: dict[str, _Decided]
    ) -> list[Incident]:
        """The open incidents the report could join: those filed in its merge cells within its
        distance (read now, unless the batch holds them) and every one the batch holds, as the
        batch left it."""
        family = self.policy.family_of(report.type)
        distance_m, _ = self.policy.window_for(report.type)
        members = reads.members(merging.cells_within(family, report.lat, report.lon, distance_m))
        near = [
            iid
            for iid, m in members.items()
            if iid not in batch and haversine_m(report.lat, report.lon, m.lat, m.lon) <= distance_m
        ]
        found = await asyncio.gather(*(self.store.get(i) for i in near))
        out: list[Incident] = [d.incident for d in batch.values()]
        for iid, incident in zip(near, found, strict=True):
            if incident is None:
                continue
            if incident.is_open:
                out.append(incident)
            else:
                await self.store.remove_from_cell(
                    merging.cell_of(family, incident.lat, incident.lon), iid
                )
        return out
