"""Chain notifications: an incident or patrol event becomes its plan (domain), stored as the
district's next alert, people's notifications and what it changes in those sent before; then the
webhook outbox and the live stream get the alerts, and `notification.created` is published only
after the notifications are stored.

Every step is idempotent, so a redelivered event or a second replica changes nothing. Store and
publisher errors propagate, so the consumer retries; nothing here sends HTTP.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from services.notify.channels.base import Dispatch
from services.notify.domain import alerts
from services.notify.domain.alerts import Alert, NotificationDraft, Plan, Rules
from services.notify.domain.notifications import (
    Acknowledged,
    Change,
    Created,
    FactsChanged,
    Updated,
    notification_of,
)
from services.notify.store import NotifyStore
from shared.clock import Clock
from shared.events import (
    Event,
    IncidentAcknowledged,
    IncidentEscalated,
    IncidentOpened,
    IncidentStatusChanged,
    IncidentUpdated,
    NotificationCreated,
    NotificationCreatedData,
    PatrolOverdue,
)
from shared.kafka import Publisher
from shared.org import OrgDirectory
from shared.policy import Policy

INBOX = "inbox"
LIVE = "sse"


class Outbox(Protocol):
    """Where the alerts of a batch go to be sent on (the webhook outbox)."""

    async def send_many(self, dispatches: Sequence[Dispatch]) -> None: ...


def rules_from(policy: Policy) -> Rules:
    return Rules(
        sos_floor=policy.start_level(alerts.SOS_TYPE),
        police_at_level=policy.escalation.start.sisluan.police_at_level,
    )


def changes_of(plan: Plan, now: datetime) -> list[tuple[str, Change]]:
    """What one event appends to its subject's log, in order: what happens to the notifications
    stored before (a merged report, an acknowledgement, new facts), then the notifications it
    creates (which take only what follows)."""
    out: list[tuple[str, Change]] = []
    if plan.alert is not None:
        subject = plan.alert.subject_id
        if plan.update is not None:
            note = plan.update
            out.append((subject, Updated(str(note["event_id"]), note, plan.facts_update, now)))
        elif plan.acknowledged_by is not None and plan.acknowledged_at is not None:
            ack = Acknowledged(plan.acknowledged_by, plan.acknowledged_at, now, plan.facts_update)
            out.append((subject, ack))
        elif plan.facts_update:
            out.append((subject, FactsChanged(plan.facts_update, now)))
    created: dict[str, list[str]] = {}
    for draft in plan.notifications:
        created.setdefault(draft.subject_id, []).append(draft.id)
    out.extend((s, Created(tuple(ids))) for s, ids in created.items())
    return out


class ChainNotifications:
    """The events notify consumes, handled in batches (an incident's events share a partition,
    so a batch is in its order)."""

    def __init__(
        self,
        *,
        store: NotifyStore,
        org: OrgDirectory,
        rules: Rules,
        publisher: Publisher,
        clock: Clock,
        producer: str,
        outbox: Outbox | None = None,
        live: Callable[[Alert], object] | None = None,
    ) -> None:
        self.store = store
        self.org = org
        self.rules = rules
        self.publisher = publisher
        self.clock = clock
        self.producer = producer
        self.outbox = outbox
        self.live = live

    def plan(self, event: Event) -> Plan:
        """What one event means for the stream, the inboxes and the webhooks (pure)."""
        org, rules, eid = self.org, self.rules, str(event.id)
        if isinstance(event, IncidentOpened):
            return alerts.plan_opened(eid, event.data, event.occurred_at, org, rules)
        if isinstance(event, IncidentUpdated):
            return alerts.plan_updated(eid, event.data, event.occurred_at, org)
        if isinstance(event, IncidentEscalated):
            return alerts.plan_escalated(eid, event.data, org, rules)
        if isinstance(event, IncidentAcknowledged):
            return alerts.plan_acknowledged(eid, event.data, org)
        if isinstance(event, IncidentStatusChanged):
            return alerts.plan_status_changed(eid, event.data, org)
        if isinstance(event, PatrolOverdue):
            return alerts.plan_overdue(eid, event.data, event.occurred_at, org)
        raise TypeError(f"notify does not handle {event.type}")

    async def handle(self, events: Sequence[Event]) -> None:
        await self.apply([(e, self.plan(e)) for e in events])

    async def apply(self, items: Sequence[tuple[Event, Plan]]) -> None:
        """Store the batch's alerts (numbered in order), offer them to the live stream, then at
        the same time record what the events change, store the notifications and the webhook
        deliveries; announce the new notifications last."""
        now = self.clock.now()
        drafts = [plan.alert for _, plan in items if plan.alert is not None]
        stored = iter(await self.store.alerts.append(drafts, at=now))
        dispatches = [
            Dispatch(
                event_id=str(event.id),
                event_type=event.type,
                occurred_at=event.occurred_at,
                alert=next(stored) if plan.alert is not None else None,
                notifications=plan.notifications,
            )
            for event, plan in items
        ]
        if self.live is not None:
            for dispatch in dispatches:
                if dispatch.alert is not None:
                    self.live(dispatch.alert)
        notifications = [
            notification_of(draft, event_id=d.event_id, now=now)
            for d in dispatches
            for draft in d.notifications
        ]
        opened = {
            plan.alert.subject_id
            for event, plan in items
            if isinstance(event, IncidentOpened) and plan.alert is not None
        }
        # Different collections: at the same time, so the next batch waits for the slowest
        # write, not the sum.
        writes = [
            self.store.inbox.record(
                [c for _, plan in items for c in changes_of(plan, now)], opened=opened
            ),
            self.store.inbox.deliver(notifications),
        ]
        if self.outbox is not None:
            writes.append(self.outbox.send_many(dispatches))
        results = await asyncio.gather(*writes, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        known = results[1]
        assert isinstance(known, set)
        await self._announce(items, known, now)

    async def _announce(
        self, items: Sequence[tuple[Event, Plan]], known: set[str], now: datetime
    ) -> None:
        """`notification.created` once per notification, after it is stored: new ones at once;
        ones stored before (a redelivery) only if they were never announced."""
        drafts: dict[str, tuple[NotificationDraft, Event]] = {}
        for event, plan in items:
            for draft in plan.notifications:
                drafts.setdefault(draft.id, (draft, event))
        if not drafts:
            return
        announced = await self.store.inbox.announced_among(sorted(known & drafts.keys()))
        todo = [(d, e) for i, (d, e) in drafts.items() if i not in announced]
        if not todo:
            return
        channels = (INBOX, LIVE) if self.live is not None else (INBOX,)
        events = [
            NotificationCreated.new(
                NotificationCreatedData(
                    notification_id=d.id,
                    incident_id=d.incident_id,
                    recipient_id=d.recipient_id,
                    kind=d.kind,
                    level=int(d.level),
                    channels=channels,
                ),
                key=str(d.subject_id or d.id),
                producer=self.producer,
                correlation_id=cause.correlation_id,
            )
            for d, cause in todo
        ]
        await self.publisher.publish_many(events)
        await self.store.inbox.mark_announced([d.id for d, _ in todo], now)
