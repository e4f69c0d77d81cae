"""Reports in: an app's report or a FIRMS hotspot file becomes `report.submitted` on Kafka (the
reports consumer stores and decides them), and a stored report is read back in scope. Never
decides an incident here: that is the report batches' job."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from services.incidents.domain.hotspots import ParsedHotspots, cluster, is_low_confidence
from services.incidents.domain.incident import ReportFacts
from services.incidents.domain.placement import OutsideDistrict, Placement, place
from services.incidents.settings import IncidentsSettings
from services.incidents.store import Reports
from services.incidents.usecases.events import report_event
from shared.auth import in_scope
from shared.clock import Clock
from shared.errors import NotFound, RateLimited
from shared.kafka import Publisher
from shared.org import OrgDirectory, Person
from shared.policy import Policy
from shared.ratelimit import RateLimiter


class Intake:
    def __init__(
        self,
        *,
        store: Reports,
        publisher: Publisher,
        org: OrgDirectory,
        policy: Policy,
        settings: IncidentsSettings,
        clock: Clock,
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.org = org
        self.policy = policy
        self.settings = settings
        self.clock = clock
        self.limiter = RateLimiter(clock)

    def admit(self, person: Person) -> None:
        """A person's reports per minute stay within the policy's budget for their role: one
        token cannot flood the chain (and, for a fire with casualties, HQ and its webhooks)."""
        per_minute = self.policy.limits.reports_for(person.role.value)
        wait = self.limiter.take(f"report|{person.id}", per_minute)
        if wait is not None:
            raise RateLimited(
                f"at most {per_minute} reports a minute for a {person.role.value}; "
                f"retry in {wait:.0f} s",
                retry_after_s=wait,
                field="id",
            )

    def place(self, lat: float, lon: float) -> Placement:
        return place(self.org, lat, lon, proximity_m=self.policy.escalation.boundary_proximity_m)

    async def submit_report(self, *, report: ReportFacts) -> str:
        """Put the report on Kafka keyed by village, acked by the broker before the 202 (it is
        not lost); the reports consumer stores it with its batch. The intake answers from the
        request alone, without a store round trip: the first report stored under an id wins; a
        resend by its reporter changes nothing, and a report of another person under a taken id
        is dropped and counted by the consumer."""
        await self.publisher.publish(report_event(report, self.settings.service))
        return report.id

    async def ingest_hotspots(self, parsed: ParsedHotspots) -> dict[str, Any]:
        """Drop low-confidence rows, cluster the rest, publish one satellite report per cluster
        inside the district (the reports consumer stores them). Re-uploading a file makes the
        same report ids (idempotent): a report already stored is named as such and not sent
        again; an id held by a report of another source is refused, never said accepted."""
        kept = [r for r in parsed.rows if not is_low_confidence(r, self.policy)]
        dropped = len(parsed.rows) - len(kept)
        now = self.clock.now()
        reports: list[ReportFacts] = []
        outside = 0
        for c in cluster(kept):
            try:
                where = self.place(c.lat, c.lon)
            except OutsideDistrict:
                outside += c.pixels
                continue
            reports.append(
                ReportFacts(
                    id=c.report_id,
                    type="hotspot",
                    lat=c.lat,
                    lon=c.lon,
                    observed_at=c.observed_at,
                    received_at=now,
                    reporter_id=None,
                    reporter_role="satellite",
                    source="satellite",
                    village=where.village,
                    township=where.township,
                    district=where.district,
                    description=f"{c.pixels} FIRMS pixel(s), {c.rows[0].satellite}",
                    details=c.details(),
                    pixels=c.pixels,
                )
            )
        stored = await self.store.reports([r.id for r in reports])
        new = [r for r in reports if r.id not in stored]
        already = [r for r in reports if r.id in stored and stored[r.id].source == r.source]
        refused = [r for r in reports if r.id in stored and stored[r.id].source != r.source]
        producer = self.settings.service
        await self.publisher.publish_many([report_event(r, producer) for r in new])
        return {
            "accepted": len(kept) - outside - sum(r.pixels or 0 for r in refused),
            "reports": [r.id for r in new + already],
            "new_reports": [r.id for r in new],
            "already_stored": [r.id for r in already],
            "refused": [
                {"report_id": r.id, "reason": "the id holds a report of another source"}
                for r in refused
            ],
            "dropped_low_confidence": dropped,
            "outside_district": outside,
            "rejected": [{"row": r.row, "reason": r.reason} for r in parsed.rejected],
        }

    async def get_report(self, *, person: Person, report_id: str) -> dict[str, Any]:
        """The report, if the caller filed it or it lies in their scope, and its incident."""
        report = await self.store.report(report_id)
        if report is None:
            raise NotFound("report not found")
        own = report.reporter_id == person.id
        if not own and not in_scope(self.org, person, report.village):
            raise NotFound("report not found")
        return {**asdict(report), "incident_id": await self.store.incident_of(report_id)}
