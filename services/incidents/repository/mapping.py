"""Stored documents ↔ domain models of the incidents store, mapped here once; nothing above the
adapter sees a document. Knows the stored layout, never a rule of the domain."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from services.incidents.domain.incident import Incident, ReportFacts
from services.incidents.store import Position

Document = dict[str, Any]


def to_doc(incident: Incident, timer_at: datetime | None) -> Document:
    """The stored incident: its fields, `_id` for its id, and its next escalation timer."""
    doc = incident.model_dump(mode="python")
    doc["_id"] = doc.pop("id")
    doc["status"] = str(incident.status)
    doc["report_ids"] = list(incident.report_ids)
    doc["next_timer_at"] = timer_at
    return doc


def from_doc(doc: Document) -> Incident:
    data = {k: v for k, v in doc.items() if k not in ("_id", "next_timer_at")}
    data["id"] = doc["_id"]
    return Incident.model_validate(data)


def report_to_doc(report: ReportFacts) -> Document:
    doc = asdict(report)
    doc["_id"] = doc.pop("id")
    doc["photos"] = list(report.photos)
    return doc


def report_from_doc(doc: Document) -> ReportFacts:
    return ReportFacts(
        id=str(doc["_id"]),
        type=doc["type"],
        lat=doc["lat"],
        lon=doc["lon"],
        observed_at=doc["observed_at"],
        received_at=doc["received_at"],
        reporter_id=doc.get("reporter_id"),
        reporter_role=doc["reporter_role"],
        source=doc.get("source", "app"),
        village=doc["village"],
        township=doc["township"],
        district=doc["district"],
        description=doc.get("description"),
        photos=tuple(doc.get("photos", ())),
        details=dict(doc.get("details", {})),
        pixels=doc.get("pixels"),
    )


def position_to_doc(position: Position) -> Document:
    doc = asdict(position)
    doc["_id"] = doc.pop("ranger_id")
    return doc


def position_from_doc(doc: Document) -> Position:
    return Position(
        ranger_id=str(doc["_id"]),
        patrol_id=doc.get("patrol_id", ""),
        village=doc.get("village", ""),
        lat=doc["lat"],
        lon=doc["lon"],
        t=doc["t"],
        on_patrol=doc.get("on_patrol", True),
    )
