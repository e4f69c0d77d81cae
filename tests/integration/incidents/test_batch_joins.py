"""On the real store and broker: the reports of one consumer batch that join a stored incident are
merged in memory and stored in one claim of the version the batch read, with one event per
report in order; a join whose claim another writer took first (an acknowledgement between the
batch's read and its write) is done again on a fresh read, losing neither change."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from services.incidents.domain.incident import ReportFacts
from services.incidents.repository import IncidentsRepository
from services.incidents.settings import IncidentsSettings
from services.incidents.usecases import UseCases
from services.incidents.usecases.events import incident_id_for, report_event
from shared.events import IncidentUpdated, ReportSubmitted
from shared.org import load_org
from shared.topics import INCIDENTS
from tests.integration.incidents.conftest import VILLAGE, point_in
from tests.integration.incidents.test_change_claims import relay_setup
from tests.support.kafka import read_topic

ORG = load_org(None)
RANGER = f"rg-{VILLAGE}-1"
CHIEF = f"vc-{VILLAGE}"


def report(service: UseCases, n: int) -> ReportSubmitted:
    """A ranger's fire report in the village, `n` × 50 m north of its centre: all one fire."""
    lat, lon = point_in(VILLAGE)
    now = datetime.now(UTC)
    where = service.intake.place(lat + n * 0.00045, lon)
    facts = ReportFacts(
        id=str(uuid.uuid4()),
        type="fire",
        lat=lat + n * 0.00045,
        lon=lon,
        observed_at=now - timedelta(seconds=60 - n),
        received_at=now,
        reporter_id=RANGER,
        reporter_role="ranger",
        source="app",
        village=where.village,
        township=where.township,
        district=where.district,
        description=f"report {n}",
    )
    return report_event(facts, "incidents")


async def an_opened_incident(service: UseCases) -> tuple[ReportSubmitted, str]:
    """A first report, handled alone: it opens the incident the tests' later reports join."""
    first = report(service, 0)
    await service.batches.on_reports([first])
    return first, incident_id_for(first.data.report_id)


async def test_a_batch_joining_a_stored_incident_claims_its_version_once(
    settings_for: Callable[..., Any],
) -> None:
    s: IncidentsSettings = settings_for(IncidentsSettings)
    async with relay_setup(s) as (repo, service):
        first, incident_id = await an_opened_incident(service)
        stored = await repo.get_incident(incident_id)
        assert stored is not None
        base = stored["version"]

        later = [report(service, n) for n in (1, 2, 3)]
        await service.batches.on_reports(later)

        doc = await repo.get_incident(incident_id)
        assert doc is not None
        ids = [first.data.report_id, *(e.data.report_id for e in later)]
        assert doc["report_ids"] == ids
        assert doc["version"] == base + 3
        assert await repo.is_claimed(f"{incident_id}:{base}")
        assert not await repo.is_claimed(f"{incident_id}:{base + 1}")  # never stored
        for rid in ids:
            assert await repo.get_link(rid) == incident_id
        events = await read_topic(s, INCIDENTS, 4)
        merged = [e for e in events if isinstance(e, IncidentUpdated)]
        assert [e.data.reason for e in merged] == ["report_merged"] * 3
        assert [e.data.incident.report_ids for e in merged] == [
            tuple(ids[:2]),
            tuple(ids[:3]),
            tuple(ids),
        ]


async def _claim_after(repo: IncidentsRepository, service: UseCases, incident_id: str) -> list[str]:
    """Makes the next bulk commit of `repo` find its claim taken: a chief acknowledges the
    incident just before it. Returns a log the caller checks."""
    real = repo.commit_many
    happened: list[str] = []

    async def racing(changes: Any, *, at: datetime) -> set[str]:
        if not happened:
            happened.append("acknowledged")
            await service.commands.acknowledge(
                person=ORG.person(CHIEF), incident_id=incident_id, note=None
            )
        return await real(changes, at=at)

    repo.commit_many = racing  # type: ignore[method-assign]
    return happened


async def test_a_join_whose_claim_was_taken_is_done_again_on_a_fresh_read(
    settings_for: Callable[..., Any],
) -> None:
    s: IncidentsSettings = settings_for(IncidentsSettings)
    async with relay_setup(s) as (repo, service):
        first, incident_id = await an_opened_incident(service)

        happened = await _claim_after(repo, service, incident_id)
        later = [report(service, n) for n in (1, 2)]
        await service.batches.on_reports(later)

        assert happened == ["acknowledged"]
        doc = await repo.get_incident(incident_id)
        assert doc is not None
        assert doc["status"] == "acknowledged"  # the other writer's change stays
        ids = [first.data.report_id, *(e.data.report_id for e in later)]
        assert doc["report_ids"] == ids  # and so do the batch's reports
        for rid in ids:
            assert await repo.get_link(rid) == incident_id
