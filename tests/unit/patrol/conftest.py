"""A patrol service on fakes for use-case tests: the in-memory store, a recording publisher and a
clock moved by hand, with the points pipeline (endpoint → Kafka → consumer) run in-process."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.patrol.consumers import FixesReceived, parse_message
from services.patrol.settings import PatrolSettings
from services.patrol.usecases import PatrolUseCases
from services.patrol.usecases.intake import PointIn
from services.patrol.usecases.storing import ReceivedFixes
from shared.clock import FakeClock
from shared.org import OrgDirectory, Person, load_org
from shared.policy import Policy, load_policy
from tests.fakes.patrol_store import InMemoryPatrolStore
from tests.fakes.publisher import RecordingPublisher

RANGER = "rg-500114001001-1"
RANGER_2 = "rg-500114001001-2"
VILLAGE = "500114001001"
VILLAGE_CHIEF = "vc-500114001001"
OTHER_VILLAGE_CHIEF = "vc-500114001002"
TOWNSHIP_CHIEF = "tc-500114001"
HOME = (29.435, 108.648)  # well inside 枫香村 (500114001001)
NOW = datetime(2026, 3, 15, 8, tzinfo=UTC)

_SETTINGS = PatrolSettings(env="test")
_ORG = load_org(_SETTINGS.org_file)
_POLICY = load_policy(_SETTINGS.policy_file)


@dataclass
class Patrols:
    """The use cases and their fakes; `deliver()` plays the points consumer."""

    store: InMemoryPatrolStore
    publisher: RecordingPublisher
    clock: FakeClock
    org: OrgDirectory
    policy: Policy
    use: PatrolUseCases
    delivered: int = 0
    redeliver: list[bytes] = field(default_factory=list)

    def person(self, person_id: str) -> Person:
        found = self.org.person(person_id)
        assert found is not None
        return found

    async def deliver(self) -> int:
        """Hand every batch the endpoint published since the last call to the consumer's use
        case, as one poll would; how many batches."""
        raws = [value for _topic, value, _key in self.publisher.raw[self.delivered :]]
        self.delivered = len(self.publisher.raw)
        events = [parse_message(raw) for raw in raws]
        batches = [
            ReceivedFixes(e.data.patrol_id, e.data.received_at, e.data.fixes)
            for e in events
            if isinstance(e, FixesReceived)
        ]
        await self.use.storing.store_batches(batches)
        return len(batches)

    async def send(self, ranger: str, patrol_id: str, points: list[PointIn]) -> tuple[int, int]:
        result = await self.use.intake.ingest(self.person(ranger), patrol_id, points, "wgs84")
        await self.deliver()
        return result


@pytest.fixture
def patrols() -> Patrols:
    store, publisher, clock = InMemoryPatrolStore(), RecordingPublisher(), FakeClock(NOW)
    settings = _SETTINGS.model_copy(update={"patrol_ingest_cache_s": 0.0})
    use = PatrolUseCases.wire(
        store=store, publisher=publisher, clock=clock, org=_ORG, policy=_POLICY, settings=settings
    )
    return Patrols(store, publisher, clock, _ORG, _POLICY, use)


def walk(
    start: datetime, n: int, *, seq0: int = 0, step_s: float = 15.0, step_deg: float = 0.0001
) -> list[PointIn]:
    """n fixes, one every step_s seconds, walking north from HOME (≈ 0.7 m/s)."""
    out: list[PointIn] = []
    for i in range(n):
        k = seq0 + i
        out.append(
            {
                "seq": k,
                "t": (start + timedelta(seconds=k * step_s)).isoformat(),
                "lat": HOME[0] + k * step_deg,
                "lon": HOME[1],
                "accuracy_m": 5.0,
            }
        )
    return out


def points_of(track: list[dict[str, Any]]) -> list[PointIn]:
    """tests/unit/patrol/tracks.py fixes as the app sends them (RFC 3339 times)."""
    return [{**p, "t": p["t"].isoformat()} for p in track]  # type: ignore[misc]
