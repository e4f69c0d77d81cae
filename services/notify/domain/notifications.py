"""A person's notification and what happens to it after it is sent (a merged report, new facts,
an acknowledgement), folded into the notification as it stands. Pure: no I/O, no clock."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from services.notify.domain.alerts import NotificationDraft


@dataclass(frozen=True)
class Notification:
    """One notification of one person, once per (subject, recipient, kind, level)."""

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
    reports: int
    created_at: datetime
    updated_at: datetime
    event_id: str
    updates: tuple[Mapping[str, Any], ...] = ()
    update_event_ids: tuple[str, ...] = ()
    read_at: datetime | None = None
    acknowledged: bool = False
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None


def notification_of(draft: NotificationDraft, *, event_id: str, now: datetime) -> Notification:
    """The notification a draft becomes when it is first stored."""
    return Notification(
        id=draft.id,
        key=draft.key,
        subject_id=draft.subject_id,
        incident_id=draft.incident_id,
        recipient_id=draft.recipient_id,
        role=draft.role,
        unit=draft.unit,
        reason=draft.reason,
        kind=draft.kind,
        level=draft.level,
        facts=dict(draft.facts),
        reports=int(draft.facts.get("reports", 1) or 1),
        created_at=now,
        updated_at=now,
        event_id=event_id,
    )


# ---- what happens to a subject's notifications, in order --------------------------------------
@dataclass(frozen=True)
class Created:
    """These notifications of the subject were stored: they take only what follows."""

    ids: tuple[str, ...]


@dataclass(frozen=True)
class Updated:
    """A merged report or other news (once per event)."""

    event_id: str
    note: Mapping[str, Any]
    facts: Mapping[str, Any]
    at: datetime


@dataclass(frozen=True)
class FactsChanged:
    facts: Mapping[str, Any]
    at: datetime


@dataclass(frozen=True)
class Acknowledged:
    """The first acknowledgement stays; the facts are taken every time."""

    by: str
    acknowledged_at: datetime
    at: datetime
    facts: Mapping[str, Any] = field(default_factory=dict)


Change = Created | Updated | FactsChanged | Acknowledged


def fold_changes(notification: Notification, changes: Sequence[Change]) -> Notification:
    """The notification with what its subject's log says happened after it was created.

    Entries before the `Created` entry naming it are not its news; one not named yet (its entry
    is still on the way) takes nothing. An event's update counts once (redelivery)."""
    start = next(
        (
            i + 1
            for i, c in enumerate(changes)
            if isinstance(c, Created) and notification.id in c.ids
        ),
        None,
    )
    if start is None:
        return notification
    facts = dict(notification.facts)
    updates = list(notification.updates)
    seen = list(notification.update_event_ids)
    out = notification
    for change in changes[start:]:
        if isinstance(change, Created):
            continue
        if isinstance(change, Updated):
            if change.event_id in seen:
                continue
            seen.append(change.event_id)
            updates.append(dict(change.note))
            reports = max(out.reports, int(change.note.get("reports", 0)))
            out = replace(out, reports=reports)
        elif isinstance(change, Acknowledged) and not out.acknowledged:
            out = replace(
                out,
                acknowledged=True,
                acknowledged_at=change.acknowledged_at,
                acknowledged_by=change.by,
            )
        facts.update(change.facts)
        out = replace(out, updated_at=change.at)
    return replace(out, facts=facts, updates=tuple(updates), update_event_ids=tuple(seen))


def mark_read(notification: Notification, at: datetime) -> Notification:
    """Read at `at`, unless it was read before (the first read time stays)."""
    if notification.read_at is not None:
        return notification
    return replace(notification, read_at=at)
