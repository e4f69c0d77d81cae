"""Shapes alerts and notifications into what the API, the stream and webhooks send, with the
message rendered in the reader's language. Never decides who may see what (routes do)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.notify.domain.alerts import Alert
from services.notify.domain.messages import Catalog, render
from services.notify.domain.notifications import Notification


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def alert_view(alert: Alert, catalog: Catalog, lang: str, *, utc_offset_h: float) -> dict[str, Any]:
    """{id, incident_id, kind, level, type, severity, village, title, at} and a few more."""
    facts = alert.facts
    message = render(catalog, lang, alert.kind, facts, utc_offset_h=utc_offset_h)
    return {
        "id": str(alert.seq),
        "seq": alert.seq,
        "event_id": alert.event_id,
        "event_type": alert.event_type,
        "incident_id": alert.incident_id,
        "patrol_id": facts.get("patrol_id"),
        "kind": alert.kind,
        "alarm": alert.alarm,
        "level": alert.level,
        "type": alert.type,
        "severity": alert.severity,
        "status": alert.status,
        "village": alert.village,
        "village_name": facts.get("village_name"),
        "township": alert.township,
        "township_name": facts.get("township_name"),
        "lat": alert.lat,
        "lon": alert.lon,
        "reports": facts.get("reports"),
        "title": message.title,
        "message": message.body,
        "at": _iso(alert.at),
    }


def notification_view(
    n: Notification, catalog: Catalog, lang: str, *, utc_offset_h: float
) -> dict[str, Any]:
    facts = n.facts
    message = render(catalog, lang, n.kind, facts, utc_offset_h=utc_offset_h)
    return {
        "id": n.id,
        "incident_id": n.incident_id,
        "patrol_id": facts.get("patrol_id"),
        "recipient_id": n.recipient_id,
        "kind": n.kind,
        "level": n.level,
        "reason": n.reason,
        "type": facts.get("type"),
        "severity": facts.get("severity"),
        "status": facts.get("status"),
        "village": facts.get("village"),
        "township": facts.get("township"),
        "title": message.title,
        "message": message.body,
        "reports": n.reports,
        "updates": [{k: v for k, v in u.items() if k != "event_id"} for u in n.updates],
        "created_at": _iso(n.created_at),
        "updated_at": _iso(n.updated_at),
        "read": n.read_at is not None,
        "read_at": _iso(n.read_at),
        "acknowledged": n.acknowledged,
        "acknowledged_at": _iso(n.acknowledged_at),
        "acknowledged_by": n.acknowledged_by,
    }
