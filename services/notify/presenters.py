"""Shapes stored alerts and notifications into what the API, the stream and webhooks send, with
the message rendered in the reader's language. Never decides who may see what (routes do)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from services.notify.domain.messages import Catalog, render


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def alert_view(
    doc: Mapping[str, Any], catalog: Catalog, lang: str, *, utc_offset_h: float
) -> dict[str, Any]:
    """{id, incident_id, kind, level, type, severity, village, title, at} and a few more."""
    facts = doc.get("facts") or {}
    message = render(catalog, lang, doc["kind"], facts, utc_offset_h=utc_offset_h)
    return {
        "id": str(doc["seq"]),
        "seq": doc["seq"],
        "event_id": doc["event_id"],
        "event_type": doc["event_type"],
        "incident_id": doc.get("incident_id"),
        "patrol_id": facts.get("patrol_id"),
        "kind": doc["kind"],
        "alarm": doc.get("alarm", True),
        "level": doc["level"],
        "type": doc["type"],
        "severity": doc.get("severity", ""),
        "status": doc.get("status", ""),
        "village": doc["village"],
        "village_name": facts.get("village_name"),
        "township": doc.get("township"),
        "township_name": facts.get("township_name"),
        "lat": doc.get("lat"),
        "lon": doc.get("lon"),
        "reports": facts.get("reports"),
        "title": message.title,
        "message": message.body,
        "at": _iso(doc["at"]),
    }


def notification_view(
    doc: Mapping[str, Any], catalog: Catalog, lang: str, *, utc_offset_h: float
) -> dict[str, Any]:
    facts = doc.get("facts") or {}
    message = render(catalog, lang, doc["kind"], facts, utc_offset_h=utc_offset_h)
    return {
        "id": doc["_id"],
        "incident_id": doc.get("incident_id"),
        "patrol_id": facts.get("patrol_id"),
        "recipient_id": doc["recipient_id"],
        "kind": doc["kind"],
        "level": doc["level"],
        "reason": doc.get("reason"),
        "type": facts.get("type"),
        "severity": facts.get("severity"),
        "status": facts.get("status"),
        "village": facts.get("village"),
        "township": facts.get("township"),
        "title": message.title,
        "message": message.body,
        "reports": doc.get("reports", 1),
        "updates": [
            {k: v for k, v in u.items() if k != "event_id"} for u in doc.get("updates") or []
        ],
        "created_at": _iso(doc["created_at"]),
        "updated_at": _iso(doc.get("updated_at")),
        "read": doc.get("read_at") is not None,
        "read_at": _iso(doc.get("read_at")),
        "acknowledged": bool(doc.get("acknowledged")),
        "acknowledged_at": _iso(doc.get("acknowledged_at")),
        "acknowledged_by": doc.get("acknowledged_by"),
    }
