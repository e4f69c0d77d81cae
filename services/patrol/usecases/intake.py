"""Fix intake (轨迹上传): a ranger's batch of fixes is checked against the patrol and handed to
Kafka (`hulin.patrol.points`); the points consumer stores it (`storing.py`). Never writes the
store: the answer is "the broker has it", which is what lets the endpoint carry the volume.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NotRequired

import orjson
from typing_extensions import TypedDict

from services.patrol.domain import patrol as lifecycle
from services.patrol.domain.coords import gcj02_to_wgs84
from services.patrol.domain.patrol import Patrol
from services.patrol.domain.track import count_known
from services.patrol.settings import PatrolSettings
from services.patrol.store import PatrolStore
from services.patrol.usecases.common import Access, ingest_rules
from shared import metrics
from shared.clock import Clock
from shared.errors import Forbidden, InvalidInput, NotFound
from shared.events.patrol import PatrolPointsReceived
from shared.kafka import Publisher
from shared.logging import current_correlation_id
from shared.org import OrgDirectory, Person
from shared.policy import Policy
from shared.topics import PATROL_POINTS

POINTS_TYPE: str = PatrolPointsReceived.model_fields["type"].default


class PointIn(TypedDict):
    """A fix as the app sent it, already validated for shape and ranges by the route (a plain
    dict: it goes into the event as it is, without copying); `t` is its RFC 3339 text."""

    seq: int
    t: str
    lat: float
    lon: float
    accuracy_m: NotRequired[float | None]


@dataclass(frozen=True)
class _Known:
    patrol: Patrol
    seq_ranges: tuple[tuple[int, int], ...]
    read_at: float


class IngestCache:
    """What the points endpoint read about a patrol (owner, start, finish, stored seqs), reused
    for `ttl_s` so a phone's run of batches costs one store read, not one each."""

    MAX_ENTRIES = 10000

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._known: dict[str, _Known] = {}

    def get(self, patrol_id: str) -> _Known | None:
        known = self._known.get(patrol_id)
        if known is None or time.monotonic() - known.read_at >= self.ttl_s:
            return None
        return known

    def put(self, patrol: Patrol, seq_ranges: tuple[tuple[int, int], ...]) -> _Known:
        known = _Known(patrol, seq_ranges, time.monotonic())
        if self.ttl_s > 0:
            if len(self._known) > self.MAX_ENTRIES:
                self._known.clear()
            self._known[patrol.id] = known
        return known

    def forget(self, patrol_id: str) -> None:
        self._known.pop(patrol_id, None)


class FixIntake:
    def __init__(
        self,
        *,
        store: PatrolStore,
        publisher: Publisher,
        clock: Clock,
        org: OrgDirectory,
        policy: Policy,
        settings: PatrolSettings,
        cache: IngestCache | None = None,
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.clock = clock
        self.access = Access(org)
        self.rules = ingest_rules(policy)
        self.producer = settings.service
        self.cache = cache or IngestCache(settings.patrol_ingest_cache_s)
        self.topic = settings.topic(PATROL_POINTS)

    async def _known(self, patrol_id: str) -> _Known | None:
        known = self.cache.get(patrol_id)
        if known is not None:
            return known
        patrol = await self.store.patrol(patrol_id)
        if patrol is None:
            return None
        return self.cache.put(patrol, await self.store.seq_ranges(patrol_id))

    async def ingest(
        self, person: Person, patrol_id: str, points: Sequence[PointIn], coord_system: str
    ) -> tuple[int, int]:
        """Validate a batch and hand it to Kafka; (accepted, duplicates) once the broker has it.

        `duplicates` counts fixes of this batch whose seq was already stored for the patrol when
        the request was read (as far as the stored summary knew, up to patrol_ingest_cache_s
        old) or that repeat a seq earlier in the same batch. A resend racing its first copy
        through the pipeline may count 0; it is still stored once.
        """
        rules = self.rules
        if len(points) > rules.max_points_per_batch:
            raise InvalidInput(
                f"at most {rules.max_points_per_batch} points per batch, got {len(points)}",
                field="points",
            )
        known = await self._known(patrol_id)
        if known is None:
            raise NotFound("patrol not found", field="id")
        patrol = known.patrol
        if patrol.ranger_id != person.id:
            if self.access.can_see(person, patrol):
                raise Forbidden("only the patrol's ranger sends its points", field="id")
            raise NotFound("patrol not found", field="id")
        now = self.clock.now()
        lifecycle.check_batch_open(
            ended_at=patrol.ended_at, finished_at=patrol.finished_at, now=now, rules=rules
        )
        if not points:
            return 0, 0
        times = lifecycle.fix_times([p["t"] for p in points])
        lifecycle.check_times(times, started_at=patrol.started_at, now=now, rules=rules)
        if coord_system == "gcj02":
            lats, lons = gcj02_to_wgs84([p["lat"] for p in points], [p["lon"] for p in points])
            points = [
                {**p, "lat": la, "lon": lo} for p, la, lo in zip(points, lats, lons, strict=True)
            ]
        seqs = [p["seq"] for p in points]
        unique = set(seqs)
        duplicates = (len(seqs) - len(unique)) + count_known(known.seq_ranges, unique)
        envelope = {
            "id": str(uuid.uuid4()),
            "type": POINTS_TYPE,
            "version": 1,
            "occurred_at": now,
            "producer": self.producer,
            "key": patrol.ranger_id,
            "correlation_id": current_correlation_id(),
            "data": {
                "patrol_id": patrol_id,
                "ranger_id": patrol.ranger_id,
                "village": patrol.village,
                "received_at": now,
                "coord_system": coord_system,
                "points": points,
            },
        }
        # Serialised once, straight from plain values: the model validates it on the way out
        # in tests (test_points_event_matches_contract), not on every request.
        value = orjson.dumps(envelope)
        start = time.perf_counter()
        await self.publisher.send_raw(
            self.topic,
            value,
            key=patrol.ranger_id.encode(),
            headers=[
                ("correlation_id", str(envelope["correlation_id"]).encode()),
                ("type", POINTS_TYPE.encode()),
            ],
        )
        metrics.publish_seconds.labels(self.producer, self.topic).observe(
            time.perf_counter() - start
        )
        metrics.events_published_total.labels(self.producer, self.topic, POINTS_TYPE).inc()
        return len(points), duplicates
