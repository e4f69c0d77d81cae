"""Use cases of the notify service: turn an incident or patrol event into a plan (domain), store
the alert, apply the plan to existing notifications, hand the dispatch to every channel, and publish
`notification.created` only after the notifications are stored.

Every step is idempotent (unique keys), so a redelivered event or a second replica changes nothing.
Infrastructure errors propagate so the consumer retries; nothing here talks HTTP to another service.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from services.notify.channels.base import Channel, Dispatch
from services.notify.domain import alerts
from services.notify.domain.alerts import AlertDraft, NotificationDraft, Plan, Rules
from services.notify.repository import (
    NotifyRepository,
    ack_entry,
    created_entry,
    facts_entry,
    update_entry,
)
from shared.clock import Clock
from shared.db import Document
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
from shared.lane import Lane
from shared.org import OrgDirectory
from shared.policy import Policy

log = logging.getLogger(__name__)

REPORT_MERGED = "report_merged"


def rules_from(policy: Policy) -> Rules:
    return Rules(
        sos_floor=policy.start_level(alerts.SOS_TYPE),
        police_at_level=policy.escalation.start.sisluan.police_at_level,
    )


def alert_doc(draft: AlertDraft, now: datetime) -> dict[str, Any]:
    """The stored alert, without its sequence number (the repository numbers it)."""
    return {
        "event_id": draft.event_id,
        "event_type": draft.event_type,
        "kind": draft.kind,
        "alarm": draft.alarm,
        "subject_id": draft.subject_id,
        "incident_id": draft.incident_id,
        "level": draft.level,
        "type": draft.type,
        "severity": draft.severity,
        "status": draft.status,
        "village": draft.village,
        "township": draft.township,
        "district": draft.district,
        "lat": draft.lat,
        "lon": draft.lon,
        "at": draft.at,
        "scope_units": list(draft.scope_units),
        "facts": dict(draft.facts),
        "stored_at": now,
    }


def changes_of(plan: Plan, now: datetime) -> list[tuple[str, Document]]:
    """What one event appends to its subject's change log, in order: what happens to the
    notifications stored before (a merged report, an acknowledgement, new facts), then the
    notifications it creates (which take only what follows)."""
    subject = plan.alert.subject_id if plan.alert is not None else None
    out: list[tuple[str, Document]] = []
    if subject is not None:
        if plan.update is not None:
            out.append((subject, update_entry(plan.update, plan.facts_update, now)))
        elif plan.acknowledged_by is not None and plan.acknowledged_at is not None:
            entry = ack_entry(plan.acknowledged_by, plan.acknowledged_at, plan.facts_update, now)
            out.append((subject, entry))
        elif plan.facts_update:
            out.append((subject, facts_entry(plan.facts_update, now)))
    created: dict[str, list[str]] = {}
    for draft in plan.notifications:
        if draft.subject_id is not None:
            created.setdefault(str(draft.subject_id), []).append(draft.id)
    out.extend((s, created_entry(ids)) for s, ids in created.items())
    return out


class NotifyHandlers:
    def __init__(
        self,
        *,
        repo: NotifyRepository,
        org: OrgDirectory,
        policy: Policy,
        publisher: Publisher,
        channels: Sequence[Channel],
        clock: Clock,
        producer: str,
    ) -> None:
        self.repo = repo
        self.org = org
        self.rules = rules_from(policy)
        self.publisher = publisher
        self.channels = list(channels)
        self.clock = clock
        self.producer = producer
        self._lane: Lane[tuple[Event, Plan]] = Lane(self._apply_many)

    # ---- event handlers (consumers.py routes event types here) --------------------------------
    async def on_incident_opened(self, event: IncidentOpened) -> None:
        await self.on_incident_opened_batch([event])

    async def on_incident_opened_batch(self, events: Sequence[IncidentOpened]) -> None:
        """Consecutive incident.opened events of one partition, stored in one go."""
        await self._apply_many(
            [
                (e, alerts.plan_opened(str(e.id), e.data, e.occurred_at, self.org, self.rules))
                for e in events
            ]
        )

    async def on_incident_escalated(self, event: IncidentEscalated) -> None:
        await self.on_incident_escalated_batch([event])

    async def on_incident_escalated_batch(self, events: Sequence[IncidentEscalated]) -> None:
        await self._apply_many(
            [(e, alerts.plan_escalated(str(e.id), e.data, self.org, self.rules)) for e in events]
        )

    async def on_incident_updated(self, event: IncidentUpdated) -> None:
        plan = alerts.plan_updated(str(event.id), event.data, event.occurred_at, self.org)
        await self._apply(event, plan)

    async def on_incident_acknowledged(self, event: IncidentAcknowledged) -> None:
        await self._apply(event, alerts.plan_acknowledged(str(event.id), event.data, self.org))

    async def on_incident_status_changed(self, event: IncidentStatusChanged) -> None:
        await self._apply(event, alerts.plan_status_changed(str(event.id), event.data, self.org))

    async def on_patrol_overdue(self, event: PatrolOverdue) -> None:
        await self.on_patrol_overdue_batch([event])

    async def on_patrol_overdue_batch(self, events: Sequence[PatrolOverdue]) -> None:
        await self._apply_many(
            [(e, alerts.plan_overdue(str(e.id), e.data, e.occurred_at, self.org)) for e in events]
        )

    async def on_events(self, events: Sequence[Event]) -> None:
        """Consecutive events of one partition, of any type handled here, stored in their order
        (an incident's events share a partition), together with what other partitions hand in
        meanwhile."""
        await self._lane.run([(e, self.plan(e)) for e in events])

    def plan(self, event: Event) -> Plan:
        """What one event means for the stream, the inboxes and the webhooks (pure)."""
        if isinstance(event, IncidentOpened):
            return alerts.plan_opened(
                str(event.id), event.data, event.occurred_at, self.org, self.rules
            )
        if isinstance(event, IncidentUpdated):
            return alerts.plan_updated(str(event.id), event.data, event.occurred_at, self.org)
        if isinstance(event, IncidentEscalated):
            return alerts.plan_escalated(str(event.id), event.data, self.org, self.rules)
        if isinstance(event, IncidentAcknowledged):
            return alerts.plan_acknowledged(str(event.id), event.data, self.org)
        if isinstance(event, IncidentStatusChanged):
            return alerts.plan_status_changed(str(event.id), event.data, self.org)
        if isinstance(event, PatrolOverdue):
            return alerts.plan_overdue(str(event.id), event.data, event.occurred_at, self.org)
        raise TypeError(f"notify does not handle {event.type}")

    # ---- the one flow --------------------------------------------------------------------------
    async def _apply(self, event: Event, plan: Plan) -> None:
        await self._apply_many([(event, plan)])

    async def _apply_many(self, items: Sequence[tuple[Event, Plan]]) -> None:
        """Store the batch's alerts (numbered in one insert, then at once on this process's live
        streams), append what the events change to the subjects' logs in event order (one
        insert), then hand all dispatches to the channels together (one write of notifications,
        one of webhook deliveries) and announce the new notifications."""
        now = self.clock.now()
        stored = iter(
            await self.repo.insert_alerts_numbered(
                [alert_doc(plan.alert, now) for _, plan in items if plan.alert is not None]
            )
        )
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
        for channel in self.channels:
            if channel.name == "sse":  # in memory only; the alerts are stored
                for dispatch in dispatches:
                    if dispatch.alert is not None:
                        await channel.send(dispatch)

        async def deliver(channel: Channel) -> Any:
            send_many = getattr(channel, "send_many", None)
            if send_many is not None:
                return await send_many(dispatches)
            for dispatch in dispatches:
                await channel.send(dispatch)
            return None

        # The change log and the channels write to different collections: at the same time, so
        # the next batch (its alerts waiting behind this one) waits for the slowest, not the sum.
        stored_channels = [c for c in self.channels if c.name != "sse"]
        results = await asyncio.gather(
            self.repo.append_changes(
                [change for _, plan in items for change in changes_of(plan, now)],
                new={
                    plan.alert.subject_id
                    for event, plan in items
                    if isinstance(event, IncidentOpened) and plan.alert is not None
                },
            ),
            *(deliver(c) for c in stored_channels),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
        known: set[str] | None = None  # notifications stored before (None: no inbox channel)
        for channel, result in zip(stored_channels, results[1:], strict=True):
            if channel.name == "inbox":
                known = set(result or ())
        if known is not None:
            await self._publish_created(items, known, now)

    async def _publish_created(
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
        announced = await self.repo.published_among(sorted(known & drafts.keys()))
        todo = [(d, e) for i, (d, e) in drafts.items() if i not in announced]
        if not todo:
            return
        channels = tuple(c.name for c in self.channels if c.name in ("inbox", "sse"))
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
        await self.repo.mark_published([d.id for d, _ in todo], now)
