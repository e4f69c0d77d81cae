"""A webhook delivery and its tries as records, and the delivery as it stands from them (pure):
the delivery, its tries (one record each) and its outcome once delivered or dead."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

PENDING = "pending"
DELIVERED = "delivered"
DEAD = "dead"
FAILED = "failed"  # a try's outcome when another try follows


@dataclass(frozen=True)
class Delivery:
    """One event for one subscription; the same id on every try (`X-Hulin-Delivery`)."""

    id: str
    subscription_id: str
    event_id: str
    event_type: str
    subject_id: str | None
    order_key: str  # deliveries sharing it go out in order (subscription and incident)
    seq: int  # the alert's number: the order within the key
    prev: str | None  # the previous delivery of the same order key, waited for
    created_at: datetime
    body: str | None = None  # the exact bytes sent (None where only the head was read)


@dataclass(frozen=True)
class Try:
    """Try number `attempt` of a delivery, once it is over."""

    delivery_id: str
    subscription_id: str
    attempt: int
    at: datetime
    finished_at: datetime
    ok: bool
    outcome: str  # FAILED (tried again at `next_try_at`), DELIVERED or DEAD
    status_code: int | None = None
    error: str | None = None
    duration_ms: float | None = None
    next_try_at: datetime | None = None


@dataclass(frozen=True)
class Claim:
    """Who holds try number `attempt`, until when."""

    delivery_id: str
    attempt: int
    token: str
    at: datetime
    lease_until: datetime


@dataclass(frozen=True)
class Outcome:
    """A delivery delivered or dead (once)."""

    delivery_id: str
    subscription_id: str
    status: str  # DELIVERED or DEAD
    at: datetime
    attempts: int
    last_error: str | None = None
    last_status_code: int | None = None


@dataclass(frozen=True)
class DeliveryState:
    """A delivery as the log shows it."""

    delivery: Delivery
    status: str
    tries: tuple[Try, ...]
    next_try_at: datetime | None
    delivered_at: datetime | None
    dead_at: datetime | None
    last_error: str | None
    last_status_code: int | None

    @property
    def attempts(self) -> int:
        return len(self.tries)


def delivery_state(
    delivery: Delivery, tries: Sequence[Try], outcome: Outcome | None
) -> DeliveryState:
    """Status, tries in order, last error and status code, and when it is tried next."""
    ordered = tuple(sorted(tries, key=lambda t: t.attempt))
    last = ordered[-1] if ordered else None
    status = outcome.status if outcome is not None else PENDING
    next_try = None
    if status == PENDING:
        next_try = (last.next_try_at if last is not None else None) or delivery.created_at
    return DeliveryState(
        delivery=delivery,
        status=status,
        tries=ordered,
        next_try_at=next_try,
        delivered_at=outcome.at if outcome is not None and status == DELIVERED else None,
        dead_at=outcome.at if outcome is not None and status == DEAD else None,
        last_error=last.error if last is not None else None,
        last_status_code=last.status_code if last is not None else None,
    )
