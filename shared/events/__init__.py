"""Every event type that crosses Kafka, and the parser consumers use (a discriminated union on
`type`; unknown types are returned as None so a consumer can skip them)."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from pydantic import Field, TypeAdapter

from shared.events.base import Event, EventData
from shared.events.incidents import (
    IncidentAcknowledged,
    IncidentAcknowledgedData,
    IncidentChangeData,
    IncidentEscalated,
    IncidentEscalatedData,
    IncidentOpened,
    IncidentSnapshot,
    IncidentStatusChanged,
    IncidentStatusChangedData,
    IncidentUpdated,
)
from shared.events.notifications import (
    DeadLetterData,
    MessageDeadLettered,
    NotificationCreated,
    NotificationCreatedData,
    WebhookDeadLettered,
    WebhookDeadLetteredData,
)
from shared.events.patrol import (
    PatrolFinished,
    PatrolFinishedData,
    PatrolOverdue,
    PatrolOverdueData,
    PatrolPointsReceived,
    PatrolStarted,
    PatrolStartedData,
    PointsReceivedData,
    PositionUpdated,
    PositionUpdatedData,
    TrackPoint,
)
from shared.events.reports import REPORT_TYPES, ReportSubmitted, ReportSubmittedData

EVENT_TYPES: tuple[type[Event], ...] = (
    PatrolPointsReceived,
    PatrolStarted,
    PatrolFinished,
    PositionUpdated,
    PatrolOverdue,
    ReportSubmitted,
    IncidentOpened,
    IncidentUpdated,
    IncidentEscalated,
    IncidentAcknowledged,
    IncidentStatusChanged,
    NotificationCreated,
    MessageDeadLettered,
    WebhookDeadLettered,
)
BY_TYPE: dict[str, type[Event]] = {cls.model_fields["type"].default: cls for cls in EVENT_TYPES}

AnyEvent = Annotated[
    PatrolPointsReceived
    | PatrolStarted
    | PatrolFinished
    | PositionUpdated
    | PatrolOverdue
    | ReportSubmitted
    | IncidentOpened
    | IncidentUpdated
    | IncidentEscalated
    | IncidentAcknowledged
    | IncidentStatusChanged
    | NotificationCreated
    | MessageDeadLettered
    | WebhookDeadLettered,
    Field(discriminator="type"),
]
_adapter: TypeAdapter[Any] = TypeAdapter(AnyEvent)


class UnknownEventType(Exception):
    """The message is an envelope of a type this build does not know: skip it."""


def parse_event(raw: bytes | str | dict[str, Any]) -> Event:
    """Parse a message into its event model; raises UnknownEventType for a type we don't know,
    and pydantic.ValidationError / ValueError for a malformed message (a poison message)."""
    obj = orjson.loads(raw) if isinstance(raw, bytes | str) else raw
    if not isinstance(obj, dict):
        raise ValueError("message is not a JSON object")
    if obj.get("type") not in BY_TYPE:
        raise UnknownEventType(str(obj.get("type")))
    event: Event = _adapter.validate_python(obj)
    return event


__all__ = [
    "AnyEvent",
    "BY_TYPE",
    "EVENT_TYPES",
    "Event",
    "EventData",
    "REPORT_TYPES",
    "UnknownEventType",
    "parse_event",
    "PatrolPointsReceived",
    "PointsReceivedData",
    "TrackPoint",
    "PatrolStarted",
    "PatrolStartedData",
    "PatrolFinished",
    "PatrolFinishedData",
    "PositionUpdated",
    "PositionUpdatedData",
    "PatrolOverdue",
    "PatrolOverdueData",
    "ReportSubmitted",
    "ReportSubmittedData",
    "IncidentSnapshot",
    "IncidentChangeData",
    "IncidentOpened",
    "IncidentUpdated",
    "IncidentEscalated",
    "IncidentEscalatedData",
    "IncidentAcknowledged",
    "IncidentAcknowledgedData",
    "IncidentStatusChanged",
    "IncidentStatusChangedData",
    "NotificationCreated",
    "NotificationCreatedData",
    "MessageDeadLettered",
    "DeadLetterData",
    "WebhookDeadLettered",
    "WebhookDeadLetteredData",
]
