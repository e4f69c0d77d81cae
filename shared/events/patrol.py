"""Patrol events: what rangers' phones send (`hulin.patrol.points`) and what patrol tells others
(`hulin.patrol`). Keyed by ranger id so one ranger's track stays in order on one partition."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from shared.events.base import Event, EventData
from shared.topics import PATROL, PATROL_POINTS


class TrackPoint(EventData):
    seq: int = Field(ge=0)
    t: AwareDatetime
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    accuracy_m: float | None = None


class PointsReceivedData(EventData):
    patrol_id: str
    ranger_id: str
    village: str
    received_at: AwareDatetime
    points: tuple[TrackPoint, ...]
    # The system the app sent (points are always converted to WGS-84 before publishing).
    coord_system: Literal["wgs84", "gcj02"] = "wgs84"


class PatrolPointsReceived(Event):
    """A validated batch of GPS points from the app (WGS-84), to be stored by patrol's consumer."""

    topic = PATROL_POINTS
    type: Literal["patrol.points_received"] = "patrol.points_received"
    data: PointsReceivedData


class PatrolStartedData(EventData):
    patrol_id: str
    ranger_id: str
    village: str
    started_at: AwareDatetime


class PatrolStarted(Event):
    topic = PATROL
    type: Literal["patrol.started"] = "patrol.started"
    data: PatrolStartedData


class PatrolFinishedData(EventData):
    patrol_id: str
    ranger_id: str
    village: str
    started_at: AwareDatetime
    ended_at: AwareDatetime
    distance_m: float
    duration_s: float
    points: int
    # 0 when the patrol finished; > 0 when late points (offline sync) changed the summary after
    # the finish and patrol.finished is published again with the new figures.
    revision: int = 0


class PatrolFinished(Event):
    topic = PATROL
    type: Literal["patrol.finished"] = "patrol.finished"
    data: PatrolFinishedData


class PositionUpdatedData(EventData):
    ranger_id: str
    patrol_id: str
    village: str
    lat: float
    lon: float
    t: AwareDatetime
    accuracy_m: float | None = None
    on_patrol: bool = True


class PositionUpdated(Event):
    """A ranger's latest known position (at most one per stored batch); incidents uses it to name
    the nearest ranger on patrol, notify for SOS context."""

    topic = PATROL
    type: Literal["patrol.position_updated"] = "patrol.position_updated"
    data: PositionUpdatedData


class PatrolOverdueData(EventData):
    patrol_id: str
    ranger_id: str
    village: str
    started_at: AwareDatetime
    last_point_at: AwareDatetime | None
    overdue_since: AwareDatetime
    last_lat: float | None = None
    last_lon: float | None = None


class PatrolOverdue(Event):
    """A patrol started, not finished, silent for too long: the ranger may be hurt or out of
    coverage. Notify alerts the village chain."""

    topic = PATROL
    type: Literal["patrol.overdue"] = "patrol.overdue"
    data: PatrolOverdueData
