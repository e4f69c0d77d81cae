"""The shapes the incidents routes answer, declared so `/openapi.json` says what comes back. They
must never drop a field the answers carried (tests/unit/incidents/test_route_answers.py); times
are written as the service always wrote them (RFC 3339 with `+00:00`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from services.incidents.domain.incident import Status


def _rfc3339(at: datetime) -> str:
    return at.isoformat()


Time = Annotated[datetime, PlainSerializer(_rfc3339, return_type=str, when_used="json")]


class Answer(BaseModel):
    # Open-ended: a field a use case adds later is passed on, not filtered out.
    model_config = ConfigDict(extra="allow")


class TimelineEntryOut(Answer):
    at: Time
    event: str
    actor: str | None = None
    note: str = ""


class PestStepOut(Answer):
    name: str
    at: Time
    actor: str | None
    evidence: dict[str, Any]
    result: str | None = None
    note: str = ""


class NeighbourAckOut(Answer):
    """A neighbour chain's acknowledgement of a boundary incident shared with it."""

    unit: str
    person: str
    at: Time
    note: str = ""


class IncidentOut(Answer):
    """One incident as DESIGN.md names it, with the additive fields the service always sent."""

    id: str
    type: str
    family: str
    status: Status
    severity: str
    verified: bool
    village: str
    township: str
    district: str
    lat: float
    lon: float
    report_ids: list[str]
    escalation_level: int
    next_escalation_at: Time | None
    level_reached_at: Time
    opened_at: Time
    observed_at: Time
    last_observed_at: Time
    updated_at: Time
    neighbour_units: list[str]
    near_district_boundary: bool
    police: bool
    nearest_ranger_id: str | None
    reporter_id: str | None
    reporter_role: str
    source: str
    pixels: int | None
    details: dict[str, Any]
    acknowledged_at: Time | None
    acknowledged_by: str | None
    area_band_ha: float
    flame_checks_done: list[float]
    pest_steps: list[PestStepOut]
    pest_outcome: str | None
    pest_deadlines_missed: list[str]
    # who of a neighbour unit's chain acknowledged knowing of it (not the owner's ack); additive
    neighbour_acks: list[NeighbourAckOut] = Field(default_factory=list)
    timeline: list[TimelineEntryOut]  # empty in lists


class IncidentList(Answer):
    items: list[IncidentOut]
    next: str | None  # the cursor of the next page
    count: int  # this page's length


class ReportOut(Answer):
    """A stored report and the incident it joined, once assigned."""

    id: str
    type: str
    lat: float
    lon: float
    observed_at: Time
    received_at: Time
    reporter_id: str | None
    reporter_role: str
    source: str
    village: str
    township: str
    district: str
    description: str | None
    photos: list[str]
    details: dict[str, Any]
    pixels: int | None
    incident_id: str | None


class RejectedRow(Answer):
    row: int
    reason: str


class RefusedReport(Answer):
    report_id: str
    reason: str


class HotspotsAccepted(Answer):
    accepted: int  # pixels in the reports below: stored now or before
    reports: list[str]  # new_reports and already_stored
    dropped_low_confidence: int
    outside_district: int
    rejected: list[RejectedRow]
    new_reports: list[str] = Field(default_factory=list)  # sent to be stored now
    already_stored: list[str] = Field(default_factory=list)  # stored by an earlier upload
    refused: list[RefusedReport] = Field(default_factory=list)  # not stored: id taken
