"""Builders for the incidents service's unit tests: domain values (no I/O), and the use cases
wired on fakes (`world`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from services.incidents.domain.incident import Incident, ReportFacts
from services.incidents.domain.lifecycle import open_incident
from services.incidents.domain.placement import Placement
from services.incidents.settings import IncidentsSettings
from services.incidents.usecases import UseCases, build_usecases
from services.incidents.usecases.events import report_event
from shared.clock import FakeClock
from shared.events import ReportSubmitted
from shared.org import load_org
from shared.policy import Policy
from tests.fakes.incidents_store import InMemoryIncidentStore
from tests.fakes.publisher import RecordingPublisher

ORG = load_org(None)
VILLAGE = "500114001001"

T0 = FakeClock().now()
LAT, LON = 29.45, 108.65


def report(
    type_: str = "fire",
    *,
    id_: str = "r1",
    lat: float = LAT,
    lon: float = LON,
    at: datetime = T0,
    role: str = "ranger",
    source: str = "app",
    details: dict[str, Any] | None = None,
    pixels: int | None = None,
    photos: tuple[str, ...] = (),
) -> ReportFacts:
    return ReportFacts(
        id=id_,
        type=type_,
        lat=lat,
        lon=lon,
        observed_at=at,
        received_at=at,
        reporter_id=None if source == "satellite" else f"{role}-1",
        reporter_role=role,
        source=source,
        village="500114001001",
        township="500114001",
        district="500114",
        details=details or {},
        pixels=pixels,
        photos=photos,
    )


PLACE = Placement("500114001001", "500114001", "500114", (), False)


def opened(r: ReportFacts, policy: Policy, now: datetime = T0, **place: Any) -> Incident:
    placement = Placement(**{**PLACE.__dict__, **place})
    return open_incident(r, incident_id="i1", placement=placement, policy=policy, now=now).incident


def near_edge(own: str, neighbour: str, *, inside_m: float = 300.0) -> tuple[float, float]:
    """A point in `own`, about `inside_m` from the edge it shares with `neighbour`."""
    edge = ORG.unit(own).boundary.intersection(ORG.unit(neighbour).boundary)
    mid = edge.interpolate(0.5, normalized=True)
    step = inside_m / 111_195
    for lat, lon in ((mid.y + step, mid.x), (mid.y - step, mid.x), (mid.y, mid.x + step),
                     (mid.y, mid.x - step)):  # fmt: skip
        located = ORG.locate(lat, lon)
        if located is not None and located.code == own:
            return lat, lon
    raise AssertionError(f"no point of {own} near its edge with {neighbour}")


@pytest.fixture
def policy() -> Policy:
    return Policy()


def later(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@dataclass
class World:
    """The incidents use cases on fakes: the in-memory store, a recording publisher, a clock
    that moves only when told to. No Kafka, no FerretDB."""

    store: InMemoryIncidentStore
    publisher: RecordingPublisher
    clock: FakeClock
    policy: Policy
    settings: IncidentsSettings
    uc: UseCases

    def restart(self) -> World:
        """A fresh process on the same store (its in-memory timers gone)."""
        return world_on(self.store, self.publisher, self.clock)

    def report(
        self,
        type_: str = "fire",
        *,
        village: str = VILLAGE,
        north_m: float = 0.0,
        role: str = "ranger",
        reporter: str | None = None,
        id_: str | None = None,
        photos: tuple[str, ...] = (),
        details: dict[str, Any] | None = None,
        at: tuple[float, float] | None = None,
    ) -> ReportSubmitted:
        """A report placed in the village, `north_m` north of its inner point (or `at`), seen a
        minute ago."""
        lat, lon = at or ORG.unit(village).point
        lat += north_m / 111_195
        now = self.clock.now()
        where = self.uc.intake.place(lat, lon)
        facts = ReportFacts(
            id=id_ or str(uuid.uuid4()),
            type=type_,
            lat=lat,
            lon=lon,
            observed_at=now - timedelta(minutes=1),
            received_at=now,
            reporter_id=reporter or (f"rg-{village}-1" if role == "ranger" else f"{role}-1"),
            reporter_role=role,
            source="app",
            village=where.village,
            township=where.township,
            district=where.district,
            photos=photos,
            details=details or {},
        )
        return report_event(facts, "incidents")

    async def settled(self) -> None:
        await self.uc.writer.settle()


def world_on(
    store: InMemoryIncidentStore, publisher: RecordingPublisher, clock: FakeClock
) -> World:
    policy = Policy()
    settings = IncidentsSettings(env="test")
    uc = build_usecases(
        store=store,
        publisher=publisher,  # type: ignore[arg-type]
        org=ORG,
        policy=policy,
        settings=settings,
        clock=clock,
    )
    return World(store, publisher, clock, policy, settings, uc)


@pytest.fixture
def world() -> World:
    return world_on(InMemoryIncidentStore(), RecordingPublisher(), FakeClock())
