"""What the patrol routes answer, as pydantic models (so /openapi.json describes each answer),
and how each is shaped from what a use case returns. Never holds a rule: figures arrive computed,
only rounded for the answer."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.patrol.domain import compliance as rules
from services.patrol.domain.track import TrackSummary, duration_s
from services.patrol.store import Position
from services.patrol.usecases.common import PatrolRead
from services.patrol.usecases.compliance import ComplianceReport, RangerReport
from services.patrol.usecases.reads import TrackRead


class Quality(BaseModel):
    """Track quality flags (轨迹质量): counts, and the first few seqs of each as evidence."""

    flags: list[str] = Field(description='raised flags, e.g. ["speed", "gap"]')
    speed: int
    jumps: int
    gaps: int
    gap_s_total: float
    outside_village: int
    examples: dict[str, list[int]]

    @classmethod
    def of(cls, summary: TrackSummary) -> Quality:
        f = summary.flags
        return cls(
            flags=f.names(),
            speed=f.speed,
            jumps=f.jumps,
            gaps=f.gaps,
            gap_s_total=f.gap_s_total,
            outside_village=f.outside,
            examples=f.examples,
        )


class PatrolOut(BaseModel):
    id: str
    ranger_id: str
    village: str
    started_at: datetime
    ended_at: datetime | None
    status: str
    points: int
    distance_m: float
    duration_s: float
    last_point_at: datetime | None
    quality: Quality
    overdue: bool

    @classmethod
    def of(cls, read: PatrolRead) -> PatrolOut:
        p, track = read.patrol, read.track
        summary = track.summary if track else TrackSummary()
        ended = p.ended_at.timestamp() if p.ended_at else None
        return cls(
            id=p.id,
            ranger_id=p.ranger_id,
            village=p.village,
            started_at=p.started_at,
            ended_at=p.ended_at,
            status=p.status,
            points=summary.points,
            distance_m=round(summary.distance_m, 2),
            duration_s=duration_s(p.started_at.timestamp(), ended, summary.last),
            last_point_at=track.last_point_at if track else None,
            quality=Quality.of(summary),
            overdue=read.overdue,
        )


class PatrolList(BaseModel):
    items: list[PatrolOut]
    count: int
    next: str | None = Field(
        default=None, description="the cursor of the next page (`?cursor=`); null on the last"
    )


class LineString(BaseModel):
    type: Literal["LineString"] = "LineString"
    coordinates: list[list[float]] = Field(description="[lon, lat] pairs (WGS-84), in time order")


class TrackProperties(BaseModel):
    patrol_id: str
    ranger_id: str
    village: str
    status: str
    distance_m: float
    duration_s: float
    points: int
    seqs: list[int]
    times: list[datetime]
    accuracy_m: list[float | None]
    quality: Quality


class TrackFeature(BaseModel):
    """The track as a GeoJSON Feature; `geometry` is null with fewer than two fixes."""

    type: Literal["Feature"] = "Feature"
    geometry: LineString | None
    properties: TrackProperties

    @classmethod
    def of(cls, track: TrackRead) -> TrackFeature:
        view = PatrolOut.of(track.read)
        fixes = track.fixes
        coords = [[f.lon, f.lat] for f in fixes]
        return cls(
            geometry=LineString(coordinates=coords) if len(coords) >= 2 else None,
            properties=TrackProperties(
                patrol_id=view.id,
                ranger_id=view.ranger_id,
                village=view.village,
                status=view.status,
                distance_m=view.distance_m,
                duration_s=view.duration_s,
                points=len(fixes),
                seqs=[f.seq for f in fixes],
                times=[datetime.fromtimestamp(f.t, UTC) for f in fixes],
                accuracy_m=[f.accuracy_m for f in fixes],
                quality=view.quality,
            ),
        )


class PositionOut(BaseModel):
    ranger_id: str
    patrol_id: str
    village: str
    lat: float
    lon: float
    t: datetime
    accuracy_m: float | None

    @classmethod
    def of(cls, p: Position) -> PositionOut:
        return cls(
            ranger_id=p.ranger_id,
            patrol_id=p.patrol_id,
            village=p.village,
            lat=p.lat,
            lon=p.lon,
            t=p.t,
            accuracy_m=p.accuracy_m,
        )


class PositionList(BaseModel):
    items: list[PositionOut]
    count: int


class ShortfallOut(BaseModel):
    code: str = Field(description='"valid_days" or "dekad"')
    month: str
    dekad: int | None
    required: int
    actual: int
    zh: str
    en: str


class MonthOut(BaseModel):
    month: str
    fire_season: bool
    covered_days: int
    required: int
    valid_days: int
    dekad_valid_days: list[int]
    dekad_required: int | None
    dekads_checked: list[int]


class DayOut(BaseModel):
    date: date
    distance_m: float
    duration_s: float
    inside_distance_m: float
    inside_duration_s: float
    valid: bool


class RangerComplianceOut(BaseModel):
    ranger_id: str
    name: str
    village: str
    patrols: int
    days_patrolled: int
    valid_days: int
    distance_m: float
    duration_s: float
    inside_distance_m: float
    inside_duration_s: float
    rule: dict[str, Any] = Field(description="the village's patrol rule (org file)")
    compliant: bool
    shortfalls: list[ShortfallOut]
    months: list[MonthOut]
    days: list[DayOut]

    @classmethod
    def of(cls, report: RangerReport) -> RangerComplianceOut:
        res: rules.RangerCompliance = report.result
        return cls(
            ranger_id=res.ranger_id,
            name=report.ranger.name,
            village=res.village,
            patrols=res.patrols,
            days_patrolled=res.days_patrolled,
            valid_days=res.valid_days,
            distance_m=round(res.distance_m, 1),
            duration_s=round(res.duration_s, 1),
            inside_distance_m=round(res.inside_distance_m, 1),
            inside_duration_s=round(res.inside_duration_s, 1),
            rule=report.rule,
            compliant=res.compliant,
            shortfalls=[
                ShortfallOut(
                    code=s.code,
                    month=s.month,
                    dekad=s.dekad,
                    required=s.required,
                    actual=s.actual,
                    zh=s.zh,
                    en=s.en,
                )
                for s in res.shortfalls
            ],
            months=[
                MonthOut(
                    month=m.month,
                    fire_season=m.fire_season,
                    covered_days=m.covered_days,
                    required=m.required,
                    valid_days=m.valid_days,
                    dekad_valid_days=list(m.dekad_valid_days),
                    dekad_required=m.dekad_required,
                    dekads_checked=list(m.dekads_checked),
                )
                for m in res.months
            ],
            days=[
                DayOut(
                    date=d.day,
                    distance_m=round(d.distance_m, 1),
                    duration_s=round(d.duration_s, 1),
                    inside_distance_m=round(d.inside_distance_m, 1),
                    inside_duration_s=round(d.inside_duration_s, 1),
                    valid=d.valid,
                )
                for d in res.days
            ],
        )


class ComplianceOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    unit: str
    from_: date = Field(alias="from")
    to: date
    rangers: list[RangerComplianceOut]

    @classmethod
    def of(cls, report: ComplianceReport) -> ComplianceOut:
        return cls(
            unit=report.unit,
            from_=report.start,
            to=report.end,
            rangers=[RangerComplianceOut.of(r) for r in report.rangers],
        )
