"""The notify service's store port: what the use cases ask of storage, named by intent, with
domain models in and out. Adapters: `repository/` (MongoDB, FerretDB) and the in-memory fake of
the tests. Nothing here says how a store keeps its promises (unique keys, copies, logs)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from services.notify.domain.alerts import Alert, AlertDraft
from services.notify.domain.deliveries import Claim, Delivery, DeliveryState, Outcome, Try
from services.notify.domain.notifications import Change, Notification
from services.notify.domain.webhooks import Subscription


@dataclass(frozen=True)
class InboxPage:
    notifications: list[Notification]  # newest first, as they stand
    next: str | None  # the cursor of the next page; None on the last


@dataclass(frozen=True)
class Webhook:
    """A stored subscription: its rule, its signing secret (never shown) and who made it."""

    rule: Subscription
    secret: str = field(repr=False)
    active: bool
    created_by: str | None
    created_at: datetime

    @property
    def id(self) -> str:
        return self.rule.id


@dataclass(frozen=True)
class DeliveryLogPage:
    deliveries: list[DeliveryState]  # newest alert first
    next: str | None


class Inbox(Protocol):
    async def deliver(self, notifications: Sequence[Notification]) -> set[str]:
        """Stores each new notification; returns the ids that were stored before (a duplicate
        is success and changes nothing)."""
        ...

    async def record(
        self, changes: Sequence[tuple[str, Change]], *, opened: Collection[str] = ()
    ) -> None:
        """Appends what happened to subjects' notifications, in the given order. `opened` names
        subjects whose first event this is."""
        ...

    async def page(
        self, person_id: str, *, unread: bool, limit: int, cursor: str | None = None
    ) -> InboxPage:
        """A page of the person's notifications (or unread ones), newest first (creation time,
        then id), from `cursor` on; stable when notifications arrive meanwhile. BadCursor when
        the cursor is not one of this person's pages."""
        ...

    async def mark_read(
        self, notification_id: str, person_id: str, at: datetime
    ) -> Notification | None:
        """The person's notification, read (the first read time stays); None if not theirs."""
        ...

    async def of_subject(self, subject_id: str) -> list[Notification]:
        """Every notification of an incident or patrol, as they stand."""
        ...

    async def announced_among(self, ids: Collection[str]) -> set[str]:
        """Which of these notifications were announced (`notification.created`) already."""
        ...

    async def mark_announced(self, ids: Collection[str], at: datetime) -> None: ...


class AlertSequence(Protocol):
    async def append(self, drafts: Sequence[AlertDraft], *, at: datetime) -> list[Alert]:
        """Stores each event's alert under the next number of its district (1, 2, … without a
        gap, in the drafts' order), or returns the alert stored for that event before; the
        result follows the drafts."""
        ...

    async def at(self, district: str, seq: int) -> Alert | None: ...

    async def highest(self, district: str) -> int:
        """The district's highest number stored (0: none)."""
        ...

    async def after(
        self, district: str, seq: int, *, limit: int, unit: str | None = None
    ) -> list[Alert]:
        """The alerts numbered above `seq`, in number order (only those in `unit`'s scope)."""
        ...

    async def latest(self, district: str, unit: str, *, limit: int) -> list[Alert]:
        """The newest alerts in `unit`'s scope, newest first."""
        ...


class Subscriptions(Protocol):
    async def add(self, webhook: Webhook) -> None: ...

    async def get(self, subscription_id: str) -> Webhook | None: ...

    async def active(self) -> list[Webhook]:
        """The active subscriptions (may lag another replica's newest by a moment)."""
        ...

    async def in_units(self, units: Collection[str]) -> list[Webhook]:
        """The subscriptions owned by these units, oldest first."""
        ...

    async def remove(self, subscription_id: str) -> bool:
        """Forgets the subscription; False if there was none."""
        ...

    async def update(
        self, subscription_id: str, *, active: bool | None = None, secret: str | None = None
    ) -> Webhook | None:
        """Sets what is given and returns the subscription as it now stands (None: no such)."""
        ...


class Deliveries(Protocol):
    async def add(self, deliveries: Sequence[Delivery]) -> set[str]:
        """Stores new deliveries as open; returns the ids stored before (a redelivered event)."""
        ...

    async def get(self, delivery_id: str) -> Delivery | None: ...

    async def open(self) -> list[Delivery]:
        """The deliveries not closed yet, without their bodies."""
        ...

    async def close(self, ids: Collection[str]) -> None:
        """Finished (delivered, or dead and announced): no longer open."""
        ...

    async def order_heads(self, keys: Sequence[str]) -> dict[str, tuple[int, str]]:
        """The latest delivery (alert number, id) of each order key that has one."""
        ...

    async def set_order_heads(self, heads: Mapping[str, tuple[int, str]]) -> None: ...

    async def claim_try(
        self, delivery_id: str, attempt: int, *, token: str, at: datetime, lease_until: datetime
    ) -> bool:
        """Try number `attempt` is ours: true for exactly one caller, ever."""
        ...

    async def claim_of(self, delivery_id: str, attempt: int) -> Claim | None: ...

    async def record_try(self, record: Try) -> bool:
        """Stores a finished try; false if that try was recorded already (that record stands)."""
        ...

    async def try_of(self, delivery_id: str, attempt: int) -> Try | None: ...

    async def tries_of(self, delivery_id: str) -> list[Try]:
        """The delivery's tries in order."""
        ...

    async def record_outcome(self, outcome: Outcome) -> bool:
        """Delivered or dead, once; false if an outcome was recorded already."""
        ...

    async def outcome(self, delivery_id: str) -> Outcome | None: ...

    async def outcomes_of(self, ids: Collection[str]) -> dict[str, Outcome]: ...

    async def mark_announced(self, delivery_id: str, at: datetime) -> None:
        """The dead delivery's dead-letter event is published."""
        ...

    async def announced_among(self, ids: Collection[str]) -> set[str]: ...

    async def log(
        self, subscription_id: str, *, limit: int, cursor: str | None = None
    ) -> DeliveryLogPage:
        """A page of the subscription's deliveries as they stand, newest alert first, each with
        its tries. BadCursor when the cursor is not one of this log's pages."""
        ...


@dataclass(frozen=True)
class NotifyStore:
    """The four parts of the store, as one service holds them."""

    inbox: Inbox
    alerts: AlertSequence
    subscriptions: Subscriptions
    deliveries: Deliveries
