"""What one incident or patrol event means for notify: the alert for the live stream and webhooks,
the notifications for people's inboxes, and what it changes in notifications already sent.

Pure: takes the event's data, the org directory and rule numbers; returns a `Plan`. Storing and
sending the plan is the handlers' and channels' job.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from services.notify.domain import dedup
from services.notify.domain.recipients import (
    Recipient,
    incident_recipients,
    levels_for_escalated,
    levels_for_opened,
    overdue_recipients,
    scope_units,
)
from shared.events import (
    IncidentAcknowledgedData,
    IncidentChangeData,
    IncidentEscalatedData,
    IncidentSnapshot,
    IncidentStatusChangedData,
    PatrolOverdueData,
)
from shared.org import OrgDirectory

SOS_TYPE = "sos"  # 护林员求助: a ranger in danger
ACKNOWLEDGED = "acknowledged"


@dataclass(frozen=True)
class Rules:
    """The numbers planning needs, taken from the policy file by the caller."""

    sos_floor: int = 2  # an SOS reaches at least this level (policy start level of `sos`)
    police_at_level: int = 0  # 林长+警长: township police hear of the 四乱 from this level


@dataclass(frozen=True)
class AlertDraft:
    """One entry of the live stream / one webhook event."""

    event_id: str
    event_type: str
    kind: str
    subject_id: str  # the incident id, or the patrol id for patrol.overdue
    incident_id: str | None
    level: int
    type: str
    severity: str
    status: str
    village: str
    township: str
    district: str
    lat: float | None
    lon: float | None
    at: datetime
    scope_units: tuple[str, ...]
    alarm: bool  # a new alarm (opened, escalated, SOS, overdue) rather than news of a known one
    facts: Mapping[str, Any]


@dataclass(frozen=True, kw_only=True)
class Alert(AlertDraft):
    """A stored alert: its draft with its number in the district's sequence (the stream's id,
    gap-free from 1) and when it was stored."""

    seq: int
    stored_at: datetime


def numbered(draft: AlertDraft, seq: int, stored_at: datetime) -> Alert:
    return Alert(
        **{f.name: getattr(draft, f.name) for f in fields(AlertDraft)},
        seq=seq,
        stored_at=stored_at,
    )


@dataclass(frozen=True)
class NotificationDraft:
    """One person's notification; `key` is unique (subject, recipient, kind, level)."""

    id: str
    key: str
    subject_id: str
    incident_id: str | None
    recipient_id: str
    role: str
    unit: str
    reason: str
    kind: str
    level: int
    facts: Mapping[str, Any]


@dataclass(frozen=True)
class Plan:
    alert: AlertDraft | None
    notifications: tuple[NotificationDraft, ...] = ()
    update: Mapping[str, Any] | None = None  # added to the subject's existing notifications
    facts_update: Mapping[str, Any] = field(default_factory=dict)  # new facts for them
    acknowledged_by: str | None = None  # mark the subject's notifications acknowledged
    acknowledged_at: datetime | None = None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _names(org: OrgDirectory, code: str, prefix: str) -> dict[str, Any]:
    try:
        unit = org.unit(code)
    except KeyError:
        return {prefix: code}
    return {prefix: code, f"{prefix}_name": unit.name, f"{prefix}_name_en": unit.name_en}


def _person_name(org: OrgDirectory, person_id: str | None) -> str | None:
    if person_id is None:
        return None
    person = org.person(person_id)
    return person.name if person is not None else person_id


def incident_facts(org: OrgDirectory, snap: IncidentSnapshot) -> dict[str, Any]:
    """What a message about the incident may say (names resolved from the org directory)."""
    facts: dict[str, Any] = {
        "incident_id": snap.id,
        "type": snap.type,
        "family": snap.family,
        "severity": snap.severity,
        "status": snap.status,
        "verified": snap.verified,
        "escalation_level": snap.escalation_level,
        "lat": snap.lat,
        "lon": snap.lon,
        "observed_at": _iso(snap.observed_at),
        "opened_at": _iso(snap.opened_at),
        "reports": len(snap.report_ids),
        "police": snap.police,
        "nearest_ranger_id": snap.nearest_ranger_id,
        "nearest_ranger_name": _person_name(org, snap.nearest_ranger_id),
        "reporter_id": snap.reporter_id,
        "details": dict(snap.details),
    }
    facts.update(_names(org, snap.village, "village"))
    facts.update(_names(org, snap.township, "township"))
    facts.update(_names(org, snap.district, "district"))
    return facts


def _alert(
    *,
    event_id: str,
    event_type: str,
    kind: str,
    snap: IncidentSnapshot,
    level: int,
    at: datetime,
    org: OrgDirectory,
    alarm: bool,
    extra: Mapping[str, Any] | None = None,
) -> AlertDraft:
    facts = incident_facts(org, snap)
    facts.update(extra or {})
    facts["level"] = level
    facts["at"] = _iso(at)
    return AlertDraft(
        event_id=event_id,
        event_type=event_type,
        kind=kind,
        subject_id=snap.id,
        incident_id=snap.id,
        level=level,
        type=snap.type,
        severity=snap.severity,
        status=snap.status,
        village=snap.village,
        township=snap.township,
        district=snap.district,
        lat=snap.lat,
        lon=snap.lon,
        at=at,
        scope_units=tuple(scope_units(org, snap.village, snap.neighbour_units)),
        alarm=alarm,
        facts=facts,
    )


def _notifications(
    subject_id: str,
    incident_id: str | None,
    kind: str,
    recipients: Iterable[Recipient],
    facts: Mapping[str, Any],
) -> tuple[NotificationDraft, ...]:
    out = []
    for r in recipients:
        key = dedup.notification_key(subject_id, r.person_id, kind, r.level)
        personal = {**facts, "level": r.level, "reason": r.reason}
        out.append(
            NotificationDraft(
                id=dedup.notification_id(key),
                key=key,
                subject_id=subject_id,
                incident_id=incident_id,
                recipient_id=r.person_id,
                role=r.role,
                unit=r.unit,
                reason=r.reason,
                kind=kind,
                level=r.level,
                facts=personal,
            )
        )
    return tuple(out)


def plan_opened(
    event_id: str, data: IncidentChangeData, at: datetime, org: OrgDirectory, rules: Rules
) -> Plan:
    """incident.opened at level L: levels 0..L hear of it (an SOS at least up to level 2)."""
    snap = data.incident
    is_sos = snap.type == SOS_TYPE
    floor = rules.sos_floor if is_sos else 0
    levels = levels_for_opened(snap.escalation_level, floor=floor)
    kind = "sos" if is_sos else "new_incident"
    alert = _alert(
        event_id=event_id,
        event_type="incident.opened",
        kind=kind,
        snap=snap,
        level=max(levels),
        at=at,
        org=org,
        alarm=True,
    )
    recipients = incident_recipients(org, snap, levels, police_at_level=rules.police_at_level)
    return Plan(alert, _notifications(snap.id, snap.id, kind, recipients, alert.facts))


def plan_escalated(
    event_id: str, data: IncidentEscalatedData, org: OrgDirectory, rules: Rules
) -> Plan:
    """incident.escalated a→b: levels a+1..b hear of it; nothing when it did not climb."""
    snap = data.incident
    if data.to_level <= data.from_level:
        return Plan(None)
    floor = rules.sos_floor if snap.type == SOS_TYPE else 0
    levels = levels_for_escalated(data.from_level, data.to_level, floor=floor)
    extra = {"from_level": data.from_level, "to_level": data.to_level, "reason": data.reason}
    alert = _alert(
        event_id=event_id,
        event_type="incident.escalated",
        kind="escalated",
        snap=snap,
        level=data.to_level,
        at=data.at,
        org=org,
        alarm=True,
        extra=extra,
    )
    recipients = incident_recipients(org, snap, levels, police_at_level=rules.police_at_level)
    return Plan(alert, _notifications(snap.id, snap.id, "escalated", recipients, alert.facts))


def _changed_facts(org: OrgDirectory, snap: IncidentSnapshot) -> dict[str, Any]:
    facts = incident_facts(org, snap)
    keep = ("severity", "status", "verified", "escalation_level", "reports", "details")
    return {k: facts[k] for k in keep}


def plan_updated(event_id: str, data: IncidentChangeData, at: datetime, org: OrgDirectory) -> Plan:
    """incident.updated (a merged report, a verification, a new grade): no new alarm; the
    notifications already sent gain an update (e.g. the report count)."""
    snap = data.incident
    alert = _alert(
        event_id=event_id,
        event_type="incident.updated",
        kind="updated",
        snap=snap,
        level=snap.escalation_level,
        at=at,
        org=org,
        alarm=False,
        extra={"reason": data.reason, "report_id": data.report_id},
    )
    note = dedup.update_note(
        event_id=event_id,
        reason=data.reason,
        report_id=data.report_id,
        at=at.isoformat(),
        report_ids=snap.report_ids,
    )
    return Plan(alert, update=note, facts_update=_changed_facts(org, snap))


def plan_acknowledged(event_id: str, data: IncidentAcknowledgedData, org: OrgDirectory) -> Plan:
    """incident.acknowledged: related notifications are marked acknowledged; the stream shows it."""
    snap = data.incident
    alert = _alert(
        event_id=event_id,
        event_type="incident.acknowledged",
        kind="acknowledged",
        snap=snap,
        level=snap.escalation_level,
        at=data.at,
        org=org,
        alarm=False,
        extra={"actor": data.actor, "actor_name": _person_name(org, data.actor)},
    )
    return Plan(
        alert,
        facts_update=_changed_facts(org, snap),
        acknowledged_by=data.actor or "",
        acknowledged_at=data.at,
    )


def plan_status_changed(event_id: str, data: IncidentStatusChangedData, org: OrgDirectory) -> Plan:
    """incident.status_changed: the stream and notifications follow the lifecycle."""
    snap = data.incident
    extra = {
        "from_status": data.from_status,
        "to_status": data.to_status,
        "note": data.note,
        "actor": data.actor,
        "actor_name": _person_name(org, data.actor),
    }
    alert = _alert(
        event_id=event_id,
        event_type="incident.status_changed",
        kind="status_changed",
        snap=snap,
        level=snap.escalation_level,
        at=data.at,
        org=org,
        alarm=False,
        extra=extra,
    )
    acked = data.to_status == ACKNOWLEDGED
    return Plan(
        alert,
        facts_update=_changed_facts(org, snap),
        acknowledged_by=(data.actor or "") if acked else None,
        acknowledged_at=data.at if acked else None,
    )


def plan_overdue(event_id: str, data: PatrolOverdueData, at: datetime, org: OrgDirectory) -> Plan:
    """patrol.overdue: the village chain of the ranger's village hears that a patrol went silent."""
    try:
        township = org.township_of(data.village).code
        district = org.ancestors(data.village)[-1].code
    except KeyError:
        return Plan(None)
    facts: dict[str, Any] = {
        "patrol_id": data.patrol_id,
        "ranger_id": data.ranger_id,
        "ranger_name": _person_name(org, data.ranger_id),
        "started_at": _iso(data.started_at),
        "last_point_at": _iso(data.last_point_at),
        "overdue_since": _iso(data.overdue_since),
        "observed_at": _iso(data.last_point_at or data.started_at),
        "lat": data.last_lat,
        "lon": data.last_lon,
        "type": "patrol_overdue",
        "severity": "",
        "status": "overdue",
        "level": 0,
        "at": _iso(data.overdue_since),
    }
    facts.update(_names(org, data.village, "village"))
    facts.update(_names(org, township, "township"))
    facts.update(_names(org, district, "district"))
    alert = AlertDraft(
        event_id=event_id,
        event_type="patrol.overdue",
        kind="patrol_overdue",
        subject_id=data.patrol_id,
        incident_id=None,
        level=0,
        type="patrol_overdue",
        severity="",
        status="overdue",
        village=data.village,
        township=township,
        district=district,
        lat=data.last_lat,
        lon=data.last_lon,
        at=data.overdue_since,
        scope_units=tuple(scope_units(org, data.village)),
        alarm=True,
        facts=facts,
    )
    recipients = overdue_recipients(org, data.village, data.ranger_id)
    notes = _notifications(data.patrol_id, None, "patrol_overdue", recipients, facts)
    return Plan(alert, notes)
