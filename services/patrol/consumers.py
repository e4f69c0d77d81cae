"""Which topic and event type go to which handler in the patrol service.

patrol consumes only its own `hulin.patrol.points` (batches the points endpoint accepted); a run of
consecutive batches from one partition is stored in one go (grouped by patrol).
"""

from __future__ import annotations

from collections.abc import Sequence

from services.patrol.handlers import PatrolService
from shared.events import PatrolPointsReceived
from shared.kafka import ConsumerRunner
from shared.runtime import Runtime
from shared.topics import PATROL_POINTS


def build_consumers(runtime: Runtime, service: PatrolService) -> list[ConsumerRunner]:
    async def on_points_received(events: Sequence[PatrolPointsReceived]) -> None:
        await service.store_batches([e.data for e in events])

    return [
        ConsumerRunner(
            runtime.settings,
            name="points",
            topics=[PATROL_POINTS],
            handlers={},
            batch_handlers={"patrol.points_received": on_points_received},
            publisher=runtime.publisher,
            max_records=50,
        )
    ]
