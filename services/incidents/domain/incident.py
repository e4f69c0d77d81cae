"""The incident aggregate as the domain sees it: its state, its timeline, and the notices a change
wants published. Pure data (no I/O); the handlers turn notices into Kafka events after storing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Status(StrEnum):
    """Where an incident stands in its lifecycle (DESIGN.md); the values are the contract's."""

    REPORTED = "reported"  # 已报告
    ACKNOWLEDGED = "acknowledged"  # 已确认收到
    RESPONDING = "responding"  # 处置中
    RESOLVED = "resolved"  # 已处置
    CLOSED = "closed"  # 已办结
    FALSE_ALARM = "false_alarm"  # 误报


STATUSES: tuple[Status, ...] = tuple(Status)
OPEN_STATUSES: frozenset[Status] = frozenset(
    {Status.REPORTED, Status.ACKNOWLEDGED, Status.RESPONDING}
)
TERMINAL_STATUSES: frozenset[Status] = frozenset({Status.CLOSED, Status.FALSE_ALARM})

NoticeKind = Literal["opened", "updated", "escalated", "acknowledged", "status_changed"]


class TimelineEntry(BaseModel):
    """One hop of an incident's history; appended, never rewritten (森林防火条例 art. 47)."""

    model_config = ConfigDict(frozen=True)

    at: datetime
    event: str
    actor: str | None = None
    note: str = ""


class PestStepRecord(BaseModel):
    """A completed step of the pest closed loop, with the evidence that allowed it."""

    model_config = ConfigDict(frozen=True)

    name: str
    at: datetime
    actor: str | None
    evidence: dict[str, Any] = Field(default_factory=dict)
    result: str | None = None  # "positive"/"negative" for test steps
    note: str = ""


class NeighbourAck(BaseModel):
    """A neighbour chain's acknowledgement that it knows of a boundary incident shared with it
    (DESIGN.md: sent to the neighbour unit's chain). Not the owning chain's acknowledgement: it
    changes neither the status nor the escalation deadline."""

    model_config = ConfigDict(frozen=True)

    unit: str  # the acknowledging person's unit
    person: str
    at: datetime
    note: str = ""


class Incident(BaseModel):
    """State of one incident. Changed only through the domain functions, which return a new one."""

    model_config = ConfigDict(frozen=True)

    id: str
    type: str
    family: str
    status: Status = Status.REPORTED
    severity: str = "general"
    verified: bool
    village: str
    township: str
    district: str
    lat: float
    lon: float
    report_ids: tuple[str, ...]
    escalation_level: int = 0
    next_escalation_at: datetime | None = None
    level_reached_at: datetime
    opened_at: datetime
    observed_at: datetime
    last_observed_at: datetime
    updated_at: datetime
    neighbour_units: tuple[str, ...] = ()
    near_district_boundary: bool = False
    police: bool = False
    nearest_ranger_id: str | None = None
    reporter_id: str | None = None
    reporter_role: str = "ranger"
    source: str = "app"
    pixels: int | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    area_band_ha: float = 0.0  # highest re-escalation area band already crossed
    flame_checks_done: tuple[float, ...] = ()  # "flame not out after h hours" checks fired
    pest_steps: tuple[PestStepRecord, ...] = ()
    pest_outcome: str | None = None  # "negative" or "complete": the closed loop is finished
    pest_deadlines_missed: tuple[str, ...] = ()  # steps whose deadline passed (escalated once)
    neighbour_acks: tuple[NeighbourAck, ...] = ()  # one per person of a neighbour chain
    timeline: tuple[TimelineEntry, ...] = ()
    version: int = 0

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


@dataclass(frozen=True)
class Notice:
    """Something the chain must hear about; becomes one incident.* event after the store write."""

    kind: NoticeKind
    at: datetime
    reason: str = ""
    actor: str | None = None
    report_id: str | None = None
    from_level: int | None = None
    to_level: int | None = None
    from_status: str | None = None
    to_status: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class Outcome:
    """A new incident state and the notices it produced (empty: nothing changed)."""

    incident: Incident
    notices: tuple[Notice, ...] = field(default_factory=tuple)

    @property
    def changed(self) -> bool:
        return bool(self.notices)


@dataclass(frozen=True)
class ReportFacts:
    """What the domain needs from a report (app or satellite), already placed in its village."""

    id: str
    type: str
    lat: float
    lon: float
    observed_at: datetime
    received_at: datetime
    reporter_id: str | None
    reporter_role: str
    source: str
    village: str
    township: str
    district: str
    description: str | None = None
    photos: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    pixels: int | None = None

    @property
    def verifies(self) -> bool:
        """A report from the field staff (not the public, not a satellite) verifies an incident."""
        return self.source != "satellite" and self.reporter_role not in ("public", "satellite")


def add_timeline(incident: Incident, *entries: TimelineEntry) -> tuple[TimelineEntry, ...]:
    """The timeline with entries appended (never reordered or rewritten)."""
    return incident.timeline + tuple(entries)
