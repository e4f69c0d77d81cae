"""Incident events on `hulin.incidents`, keyed by incident id: each carries a snapshot of the
incident so notify can route and word a message without reading incidents' collections."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, Field

from shared.events.base import Event, EventData
from shared.topics import INCIDENTS


class IncidentSnapshot(EventData):
    id: str
    type: str
    family: str
    status: str
    severity: str  # e.g. fire grade: general/large/major/extraordinary
    verified: bool
    village: str
    township: str
    district: str
    lat: float
    lon: float
    report_ids: tuple[str, ...]
    escalation_level: int
    next_escalation_at: AwareDatetime | None = None
    opened_at: AwareDatetime
    observed_at: AwareDatetime
    neighbour_units: tuple[str, ...] = ()  # other units within the boundary distance
    police: bool = False  # 四乱: the township police is in the chain
    nearest_ranger_id: str | None = None  # named for verification of unverified incidents
    reporter_id: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class IncidentChangeData(EventData):
    incident: IncidentSnapshot
    reason: str = ""
    actor: str | None = None
    report_id: str | None = None  # the report that caused the change, if any


class IncidentOpened(Event):
    topic = INCIDENTS
    type: Literal["incident.opened"] = "incident.opened"
    data: IncidentChangeData


class IncidentUpdated(Event):
    """A merged report, a verification, a new grade: the chain hears once, not as a new alarm."""

    topic = INCIDENTS
    type: Literal["incident.updated"] = "incident.updated"
    data: IncidentChangeData


class IncidentEscalatedData(IncidentChangeData):
    from_level: int
    to_level: int
    at: AwareDatetime


class IncidentEscalated(Event):
    topic = INCIDENTS
    type: Literal["incident.escalated"] = "incident.escalated"
    data: IncidentEscalatedData


class IncidentAcknowledgedData(IncidentChangeData):
    at: AwareDatetime


class IncidentAcknowledged(Event):
    topic = INCIDENTS
    type: Literal["incident.acknowledged"] = "incident.acknowledged"
    data: IncidentAcknowledgedData


class IncidentStatusChangedData(IncidentChangeData):
    from_status: str
    to_status: str
    at: AwareDatetime
    note: str | None = None


class IncidentStatusChanged(Event):
    topic = INCIDENTS
    type: Literal["incident.status_changed"] = "incident.status_changed"
    data: IncidentStatusChangedData
