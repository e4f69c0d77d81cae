"""Builders for pure domain tests of the incidents service (no I/O)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from services.incidents.domain.incident import Incident, ReportFacts
from services.incidents.domain.lifecycle import open_incident
from services.incidents.domain.placement import Placement
from shared.clock import FakeClock
from shared.policy import Policy

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


@pytest.fixture
def policy() -> Policy:
    return Policy()


def later(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)
