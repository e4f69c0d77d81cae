"""The inbox channel: each notification is stored once per (subject, recipient, kind, level) and
read through `GET /v1/inbox`. It never sends anything outside the database."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from services.notify.channels.base import Dispatch
from services.notify.domain.alerts import NotificationDraft
from services.notify.repository import NotifyRepository
from shared.clock import Clock


def notification_doc(draft: NotificationDraft, *, event_id: str, now: datetime) -> dict[str, Any]:
    return {
        "_id": draft.id,
        "key": draft.key,
        "subject_id": draft.subject_id,
        "incident_id": draft.incident_id,
        "recipient_id": draft.recipient_id,
        "role": draft.role,
        "unit": draft.unit,
        "reason": draft.reason,
        "kind": draft.kind,
        "level": draft.level,
        "facts": dict(draft.facts),
        "reports": int(draft.facts.get("reports", 1) or 1),
        "updates": [],
        "update_event_ids": [],
        "created_at": now,
        "updated_at": now,
        "read_at": None,
        "acknowledged": False,
        "acknowledged_at": None,
        "acknowledged_by": None,
        "event_id": event_id,
    }


class InboxChannel:
    name = "inbox"

    def __init__(self, repo: NotifyRepository, clock: Clock) -> None:
        self.repo = repo
        self.clock = clock

    async def send(self, dispatch: Dispatch) -> None:
        await self.send_many([dispatch])

    async def send_many(self, dispatches: Sequence[Dispatch]) -> set[str]:
        """Stores the notifications of many dispatches in one write; returns the ids that were
        stored already (a redelivered event, or another replica was first)."""
        now = self.clock.now()
        docs = [
            notification_doc(draft, event_id=d.event_id, now=now)
            for d in dispatches
            for draft in d.notifications
        ]
        return await self.repo.insert_notifications(docs)
