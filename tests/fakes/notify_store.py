"""The notify store port (services/notify/store.py) in memory, with dicts: the same promises as
the MongoDB adapter (order, cursors, a duplicate insert is success, alert numbers 1…n per
district), none of its ways. tests/contract/test_notify_store.py holds the two to each other."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from services.notify.domain.alerts import Alert, AlertDraft, numbered
from services.notify.domain.deliveries import (
    Claim,
    Delivery,
    Outcome,
    Try,
    delivery_state,
)
from services.notify.domain.notifications import (
    Change,
    Created,
    Notification,
    fold_changes,
    mark_read,
)
from services.notify.store import DeliveryLogPage, InboxPage, NotifyStore, Webhook
from shared.cursors import decode_cursor, encode_cursor, sort_time


def _page_key(person_id: str, n: Notification) -> str:
    return f"{person_id}|{sort_time(n.created_at)}|{n.id}"


class FakeInbox:
    def __init__(self) -> None:
        self.notifications: dict[str, Notification] = {}
        self.logs: dict[str, list[Change]] = {}
        self.announced: set[str] = set()

    async def deliver(self, notifications: Sequence[Notification]) -> set[str]:
        existed = {n.id for n in notifications if n.id in self.notifications}
        for n in notifications:
            self.notifications.setdefault(n.id, n)
        return existed

    async def record(
        self, changes: Sequence[tuple[str, Change]], *, opened: Collection[str] = ()
    ) -> None:
        for subject, change in changes:
            self.logs.setdefault(subject, []).append(change)

    def _as_it_stands(self, n: Notification) -> Notification:
        return fold_changes(n, self.logs.get(n.subject_id, []))

    async def page(
        self, person_id: str, *, unread: bool, limit: int, cursor: str | None = None
    ) -> InboxPage:
        before = decode_cursor(cursor, f"{person_id}|") if cursor else None
        keyed = sorted(
            (
                (_page_key(person_id, n), n)
                for n in self.notifications.values()
                if n.recipient_id == person_id and not (unread and n.read_at is not None)
            ),
            key=lambda kn: kn[0],
            reverse=True,
        )
        if before is not None:
            keyed = [(k, n) for k, n in keyed if k < before]
        shown = keyed[:limit]
        nxt = encode_cursor(shown[-1][0]) if len(keyed) > limit else None
        return InboxPage([self._as_it_stands(n) for _, n in shown], nxt)

    async def mark_read(
        self, notification_id: str, person_id: str, at: datetime
    ) -> Notification | None:
        n = self.notifications.get(notification_id)
        if n is None or n.recipient_id != person_id:
            return None
        self.notifications[notification_id] = read = mark_read(n, at)
        return self._as_it_stands(read)

    async def of_subject(self, subject_id: str) -> list[Notification]:
        ids = [i for c in self.logs.get(subject_id, []) if isinstance(c, Created) for i in c.ids]
        return [
            self._as_it_stands(self.notifications[i])
            for i in dict.fromkeys(ids)
            if i in self.notifications
        ]

    async def announced_among(self, ids: Collection[str]) -> set[str]:
        return set(ids) & self.announced

    async def mark_announced(self, ids: Collection[str], at: datetime) -> None:
        self.announced |= set(ids)


class FakeAlertSequence:
    def __init__(self) -> None:
        self.by_district: dict[str, list[Alert]] = {}  # number n at index n - 1
        self.by_event: dict[str, Alert] = {}

    async def append(self, drafts: Sequence[AlertDraft], *, at: datetime) -> list[Alert]:
        out = []
        for draft in drafts:
            alert = self.by_event.get(draft.event_id)
            if alert is None:
                numbers = self.by_district.setdefault(draft.district, [])
                alert = numbered(draft, len(numbers) + 1, at)
                numbers.append(alert)
                self.by_event[draft.event_id] = alert
            out.append(alert)
        return out

    async def at(self, district: str, seq: int) -> Alert | None:
        numbers = self.by_district.get(district, [])
        return numbers[seq - 1] if 0 < seq <= len(numbers) else None

    async def highest(self, district: str) -> int:
        return len(self.by_district.get(district, []))

    async def after(
        self, district: str, seq: int, *, limit: int, unit: str | None = None
    ) -> list[Alert]:
        found = [
            a
            for a in self.by_district.get(district, [])[max(seq, 0) :]
            if unit is None or unit in a.scope_units
        ]
        return found[:limit]

    async def latest(self, district: str, unit: str, *, limit: int) -> list[Alert]:
        found = [a for a in reversed(self.by_district.get(district, [])) if unit in a.scope_units]
        return found[:limit]


class FakeSubscriptions:
    def __init__(self) -> None:
        self.webhooks: dict[str, Webhook] = {}

    async def add(self, webhook: Webhook) -> None:
        self.webhooks[webhook.id] = webhook

    async def get(self, subscription_id: str) -> Webhook | None:
        return self.webhooks.get(subscription_id)

    async def active(self) -> list[Webhook]:
        return [w for w in self.webhooks.values() if w.active]

    async def in_units(self, units: Collection[str]) -> list[Webhook]:
        found = [w for w in self.webhooks.values() if w.rule.unit in set(units)]
        return sorted(found, key=lambda w: w.created_at)

    async def remove(self, subscription_id: str) -> bool:
        return self.webhooks.pop(subscription_id, None) is not None

    async def update(
        self, subscription_id: str, *, active: bool | None = None, secret: str | None = None
    ) -> Webhook | None:
        found = self.webhooks.get(subscription_id)
        if found is None:
            return None
        found = replace(
            found,
            active=found.active if active is None else active,
            secret=found.secret if secret is None else secret,
        )
        self.webhooks[subscription_id] = found
        return found


def _log_key(d: Delivery) -> str:
    return f"{d.subscription_id}|{d.seq:012d}|{d.id}"


class FakeDeliveries:
    def __init__(self) -> None:
        self.deliveries: dict[str, Delivery] = {}
        self.opened: set[str] = set()
        self.heads: dict[str, tuple[int, str]] = {}
        self.claims: dict[tuple[str, int], Claim] = {}
        self.tries: dict[tuple[str, int], Try] = {}
        self.outcomes: dict[str, Outcome] = {}
        self.announced: set[str] = set()

    async def add(self, deliveries: Sequence[Delivery]) -> set[str]:
        existed = {d.id for d in deliveries if d.id in self.deliveries}
        for d in deliveries:
            self.deliveries.setdefault(d.id, d)
            self.opened.add(d.id)
        return existed

    async def get(self, delivery_id: str) -> Delivery | None:
        return self.deliveries.get(delivery_id)

    async def open(self) -> list[Delivery]:
        return [replace(self.deliveries[i], body=None) for i in sorted(self.opened)]

    async def close(self, ids: Collection[str]) -> None:
        self.opened -= set(ids)

    async def order_heads(self, keys: Sequence[str]) -> dict[str, tuple[int, str]]:
        return {k: self.heads[k] for k in keys if k in self.heads}

    async def set_order_heads(self, heads: Mapping[str, tuple[int, str]]) -> None:
        self.heads.update(heads)

    async def claim_try(
        self, delivery_id: str, attempt: int, *, token: str, at: datetime, lease_until: datetime
    ) -> bool:
        if (delivery_id, attempt) in self.claims:
            return False
        self.claims[delivery_id, attempt] = Claim(delivery_id, attempt, token, at, lease_until)
        return True

    async def claim_of(self, delivery_id: str, attempt: int) -> Claim | None:
        return self.claims.get((delivery_id, attempt))

    async def record_try(self, record: Try) -> bool:
        key = (record.delivery_id, record.attempt)
        if key in self.tries:
            return False
        self.tries[key] = record
        return True

    async def try_of(self, delivery_id: str, attempt: int) -> Try | None:
        return self.tries.get((delivery_id, attempt))

    async def tries_of(self, delivery_id: str) -> list[Try]:
        found = [t for (d, _), t in self.tries.items() if d == delivery_id]
        return sorted(found, key=lambda t: t.attempt)

    async def record_outcome(self, outcome: Outcome) -> bool:
        if outcome.delivery_id in self.outcomes:
            return False
        self.outcomes[outcome.delivery_id] = outcome
        return True

    async def outcome(self, delivery_id: str) -> Outcome | None:
        return self.outcomes.get(delivery_id)

    async def outcomes_of(self, ids: Collection[str]) -> dict[str, Outcome]:
        return {i: self.outcomes[i] for i in ids if i in self.outcomes}

    async def mark_announced(self, delivery_id: str, at: datetime) -> None:
        self.announced.add(delivery_id)

    async def announced_among(self, ids: Collection[str]) -> set[str]:
        return set(ids) & self.announced

    async def log(
        self, subscription_id: str, *, limit: int, cursor: str | None = None
    ) -> DeliveryLogPage:
        before = decode_cursor(cursor, f"{subscription_id}|") if cursor else None
        keyed = sorted(
            (
                (_log_key(d), d)
                for d in self.deliveries.values()
                if d.subscription_id == subscription_id
            ),
            key=lambda kd: kd[0],
            reverse=True,
        )
        if before is not None:
            keyed = [(k, d) for k, d in keyed if k < before]
        shown = keyed[:limit]
        nxt = encode_cursor(shown[-1][0]) if len(keyed) > limit else None
        states = [
            delivery_state(
                replace(d, body=None), await self.tries_of(d.id), self.outcomes.get(d.id)
            )
            for _, d in shown
        ]
        return DeliveryLogPage(states, nxt)


def fake_store() -> NotifyStore:
    return NotifyStore(
        inbox=FakeInbox(),
        alerts=FakeAlertSequence(),
        subscriptions=FakeSubscriptions(),
        deliveries=FakeDeliveries(),
    )
