"""Report events on `hulin.reports`, keyed by village code so one village's duplicate detection
runs on one partition without locks."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, Field

from shared.events.base import Event, EventData
from shared.topics import REPORTS

ReportType = Literal[
    "fire",
    "smoke",
    "hotspot",
    "pest",
    "illegal_logging",
    "poaching",
    "illegal_digging",
    "land_occupation",
    "wildlife_damage",
    "sos",
    "other",
]
REPORT_TYPES: tuple[str, ...] = ReportType.__args__  # type: ignore[attr-defined]


class ReportSubmittedData(EventData):
    report_id: str
    type: ReportType
    lat: float
    lon: float
    observed_at: AwareDatetime
    received_at: AwareDatetime
    reporter_id: str | None  # None for a satellite report
    reporter_role: str  # a Role value, or "satellite"
    source: Literal["app", "satellite"] = "app"
    village: str
    township: str
    district: str
    description: str | None = None
    photos: tuple[str, ...] = ()
    details: dict[str, Any] = Field(default_factory=dict)
    pixels: int | None = None  # satellite cluster size (FIRMS rows)


class ReportSubmitted(Event):
    topic = REPORTS
    type: Literal["report.submitted"] = "report.submitted"
    data: ReportSubmittedData
