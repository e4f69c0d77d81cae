"""The natural keys that make notify idempotent: one notification per (incident, recipient, kind,
level), one alert per source event, one webhook delivery per (subscription, event).

Pure: builds keys and merge facts; the unique indexes that enforce them live in the repository.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

# A fixed namespace so every replica derives the same ids from the same inputs.
NAMESPACE = uuid.UUID("6f1c3c1e-5a0f-4d52-9a55-3f4f6c2b7a10")


def notification_key(subject_id: str, recipient_id: str, kind: str, level: int) -> str:
    """One notification per (incident or patrol, recipient, kind, level)."""
    return f"{subject_id}|{recipient_id}|{kind}|{level}"


def notification_id(key: str) -> str:
    """A stable id for a notification key: a redelivered event names the same notification."""
    return str(uuid.uuid5(NAMESPACE, f"notification:{key}"))


def delivery_id(subscription_id: str, event_id: str) -> str:
    """The `X-Hulin-Delivery` id: the same for every try and for a redelivered event."""
    return str(uuid.uuid5(NAMESPACE, f"delivery:{subscription_id}:{event_id}"))


def order_key(subscription_id: str, subject_id: str) -> str:
    """Deliveries sharing this key go out in order (per subscription and incident)."""
    return f"{subscription_id}|{subject_id}"


def update_note(
    *, event_id: str, reason: str, report_id: str | None, at: str, report_ids: Iterable[str]
) -> dict[str, Any]:
    """What a merged report or other update adds to an existing notification (not a new alarm)."""
    return {
        "event_id": event_id,
        "reason": reason,
        "report_id": report_id,
        "at": at,
        "reports": len(tuple(report_ids)),
    }
