"""Notification and dead-letter events: what notify produced, and what a consumer gave up on."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime

from shared.events.base import Event, EventData
from shared.topics import DEADLETTER, NOTIFICATIONS


class NotificationCreatedData(EventData):
    notification_id: str
    incident_id: str | None
    recipient_id: str
    kind: str
    level: int
    channels: tuple[str, ...] = ()


class NotificationCreated(Event):
    topic = NOTIFICATIONS
    type: Literal["notification.created"] = "notification.created"
    data: NotificationCreatedData


class DeadLetterData(EventData):
    original_topic: str
    partition: int
    offset: int
    original_key: str | None
    value: str  # the raw message as text (utf-8, replaced where not)
    error: str
    attempts: int
    consumer_group: str
    failed_at: AwareDatetime


class MessageDeadLettered(Event):
    topic = DEADLETTER
    type: Literal["message.deadlettered"] = "message.deadlettered"
    data: DeadLetterData


class WebhookDeadLetteredData(EventData):
    """A webhook delivery notify gave up on after retrying for the configured period."""

    delivery_id: str
    subscription_id: str
    url: str  # where it was sent (the secret is never part of an event)
    event_id: str
    event_type: str
    subject_id: str | None
    attempts: int
    last_error: str
    first_try_at: AwareDatetime | None = None
    failed_at: AwareDatetime
    body: str  # the exact JSON that was sent (signed) on every try


class WebhookDeadLettered(Event):
    topic = DEADLETTER
    type: Literal["webhook.deadlettered"] = "webhook.deadlettered"
    data: WebhookDeadLetteredData
