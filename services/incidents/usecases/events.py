"""Events of the incidents service made from domain models (and reports read back from their
event): derived ids, snapshots, one event per notice. Pure mapping, no I/O and no rule."""

from __future__ import annotations

import uuid
from typing import Any

from services.incidents.domain.incident import Incident, Notice, ReportFacts
from shared.clock import as_utc
from shared.events import (
    Event,
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
    ReportSubmitted,
    ReportSubmittedData,
)

INCIDENT_NAMESPACE = uuid.UUID("0b7d4c2e-5f61-4a8b-9c3d-2e1f0a9b8c7d")
REPORT_EVENT_NAMESPACE = uuid.UUID("a3c1e5f7-2b4d-4e6f-8a0c-1d3e5f7a9b2c")


def incident_id_for(report_id: str) -> str:
    """An incident opened by a report has an id derived from it: a redelivered report cannot
    open a second incident."""
    return str(uuid.uuid5(INCIDENT_NAMESPACE, report_id))


def report_event_id(report_id: str) -> uuid.UUID:
    return uuid.uuid5(REPORT_EVENT_NAMESPACE, report_id)


def snapshot(incident: Incident) -> IncidentSnapshot:
    return IncidentSnapshot(
        id=incident.id,
        type=incident.type,
        family=incident.family,
        status=incident.status,
        severity=incident.severity,
        verified=incident.verified,
        village=incident.village,
        township=incident.township,
        district=incident.district,
        lat=incident.lat,
        lon=incident.lon,
        report_ids=incident.report_ids,
        escalation_level=incident.escalation_level,
        next_escalation_at=(
            as_utc(incident.next_escalation_at) if incident.next_escalation_at else None
        ),
        opened_at=as_utc(incident.opened_at),
        observed_at=as_utc(incident.observed_at),
        neighbour_units=incident.neighbour_units,
        police=incident.police,
        nearest_ranger_id=incident.nearest_ranger_id,
        reporter_id=incident.reporter_id,
        details={k: v for k, v in incident.details.items() if k != "evidence"},
    )


def event_for(notice: Notice, incident: Incident, producer: str) -> Event:
    snap = snapshot(incident)
    common: dict[str, Any] = {
        "incident": snap,
        "reason": notice.reason,
        "actor": notice.actor,
        "report_id": notice.report_id,
    }
    at = as_utc(notice.at)
    kw: dict[str, Any] = {"key": incident.id, "producer": producer, "occurred_at": at}
    if notice.kind == "opened":
        return IncidentOpened.new(IncidentChangeData(**common), **kw)
    if notice.kind == "updated":
        return IncidentUpdated.new(IncidentChangeData(**common), **kw)
    if notice.kind == "escalated":
        assert notice.from_level is not None and notice.to_level is not None
        data = IncidentEscalatedData(
            **common, from_level=notice.from_level, to_level=notice.to_level, at=at
        )
        return IncidentEscalated.new(data, **kw)
    if notice.kind == "acknowledged":
        return IncidentAcknowledged.new(IncidentAcknowledgedData(**common, at=at), **kw)
    assert notice.from_status is not None and notice.to_status is not None
    changed = IncidentStatusChangedData(
        **common,
        from_status=notice.from_status,
        to_status=notice.to_status,
        at=at,
        note=notice.note,
    )
    return IncidentStatusChanged.new(changed, **kw)


def events_for(notices: tuple[Notice, ...], incident: Incident, producer: str) -> tuple[Event, ...]:
    return tuple(event_for(n, incident, producer) for n in notices)


def report_event(report: ReportFacts, producer: str) -> ReportSubmitted:
    """The `report.submitted` of a report, keyed by village, its id derived from the report's."""
    data = ReportSubmittedData(
        report_id=report.id,
        type=report.type,
        lat=report.lat,
        lon=report.lon,
        observed_at=as_utc(report.observed_at),
        received_at=as_utc(report.received_at),
        reporter_id=report.reporter_id,
        reporter_role=report.reporter_role,
        source=report.source,
        village=report.village,
        township=report.township,
        district=report.district,
        description=report.description,
        photos=tuple(report.photos),
        details=report.details,
        pixels=report.pixels,
    )
    return ReportSubmitted.new(
        data, key=report.village, producer=producer, event_id=report_event_id(report.id)
    )


def report_facts(event: ReportSubmitted) -> ReportFacts:
    d = event.data
    return ReportFacts(
        id=d.report_id,
        type=d.type,
        lat=d.lat,
        lon=d.lon,
        observed_at=d.observed_at,
        received_at=d.received_at,
        reporter_id=d.reporter_id,
        reporter_role=d.reporter_role,
        source=d.source,
        village=d.village,
        township=d.township,
        district=d.district,
        description=d.description,
        photos=tuple(d.photos),
        details=dict(d.details),
        pixels=d.pixels,
    )
