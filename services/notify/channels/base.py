"""The one small interface every delivery channel implements.

A channel gets a `Dispatch` — the stored alert of one event and the notifications it created — and
delivers it its own way. It must be idempotent (the same dispatch may come twice) and must raise
infrastructure errors rather than swallow them, so the consumer retries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from services.notify.domain.alerts import NotificationDraft


@dataclass(frozen=True)
class Dispatch:
    event_id: str
    event_type: str
    occurred_at: datetime
    alert: Mapping[str, Any] | None  # the stored alert (with its stream sequence), if any
    notifications: Sequence[NotificationDraft]  # people to tell (may be empty)


class Channel(Protocol):
    name: str

    async def send(self, dispatch: Dispatch) -> None: ...
