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
