"""Which topic and event type go to which handler in the notify service. Never decides anything:
routing only."""

from __future__ import annotations

from services.notify.handlers import NotifyHandlers
from shared.kafka import ConsumerRunner
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


def build_consumers(runtime: Runtime, handlers: NotifyHandlers) -> list[ConsumerRunner]:
    return [
        # One batch handler for every type: an incident's opened/updated/escalated/acknowledged
        # events interleave on a partition, and the runner hands it each run of them in order
        # (the notify store pays per round trip; runs of one type alone were one or two long).
        ConsumerRunner(
            runtime.settings,
            name="alerts",
            topics=[INCIDENTS, PATROL],
            handlers={},
            batch_handlers=dict.fromkeys(EVENT_TYPES, handlers.on_events),
            publisher=runtime.publisher,
        )
    ]
