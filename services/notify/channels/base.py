"""What one handled event hands on to the ways alerts leave the service (the webhook outbox, the
live stream): its stored alert and the notifications it made. Receivers must be idempotent (the
same dispatch may come twice) and raise infrastructure errors, so the consumer retries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from services.notify.domain.alerts import Alert, NotificationDraft


@dataclass(frozen=True)
class Dispatch:
    event_id: str
    event_type: str
    occurred_at: datetime
    alert: Alert | None  # the stored alert (with its stream sequence), if any
    notifications: Sequence[NotificationDraft]  # people to tell (may be empty)
