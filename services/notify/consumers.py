"""Which topic and event type go to which handler in the notify service."""

from __future__ import annotations

from services.notify.handlers import NotifyHandlers
from shared.kafka import ConsumerRunner
from shared.runtime import Runtime
from shared.topics import INCIDENTS, PATROL


def build_consumers(runtime: Runtime, handlers: NotifyHandlers) -> list[ConsumerRunner]:
    return [
        ConsumerRunner(
            runtime.settings,
            name="alerts",
            topics=[INCIDENTS, PATROL],
            handlers={
                "incident.opened": handlers.on_incident_opened,
                "incident.updated": handlers.on_incident_updated,
                "incident.escalated": handlers.on_incident_escalated,
                "incident.acknowledged": handlers.on_incident_acknowledged,
                "incident.status_changed": handlers.on_incident_status_changed,
                "patrol.overdue": handlers.on_patrol_overdue,
            },
            batch_handlers={
                "incident.opened": handlers.on_incident_opened_batch,
                "incident.escalated": handlers.on_incident_escalated_batch,
                "patrol.overdue": handlers.on_patrol_overdue_batch,
            },
            publisher=runtime.publisher,
        )
    ]
