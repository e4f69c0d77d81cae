"""Which topic and event type go to which use case in the notify service. Never decides anything:
routing, and merging the batches of partitions handled at the same time into one store round."""

from __future__ import annotations

from collections.abc import Sequence

from services.notify.domain.alerts import Plan
from services.notify.usecases.chain import ChainNotifications
from shared.events import Event
from shared.kafka import ConsumerRunner
from shared.lane import Lane
from shared.runtime import Runtime
from shared.topics import INCIDENTS, PATROL

EVENT_TYPES = (
    "incident.opened",
    "incident.updated",
    "incident.escalated",
    "incident.acknowledged",
    "incident.status_changed",
    "patrol.overdue",
)


def build_consumers(runtime: Runtime, chain: ChainNotifications) -> list[ConsumerRunner]:
    # The store pays per round trip: the partitions of one fetch, handled at the same time, are
    # stored as one batch (each partition's events stay in their order).
    lane: Lane[tuple[Event, Plan]] = Lane(chain.apply)

    async def on_events(events: Sequence[Event]) -> None:
        await lane.run([(e, chain.plan(e)) for e in events])

    return [
        # One batch handler for every type: an incident's opened/updated/escalated/acknowledged
        # events interleave on a partition, and the runner hands it each run of them in order.
        ConsumerRunner(
            runtime.settings,
            name="alerts",
            topics=[INCIDENTS, PATROL],
            handlers={},
            batch_handlers=dict.fromkeys(EVENT_TYPES, on_events),
            publisher=runtime.publisher,
        )
    ]
