"""The webhook outbox: a batch's alerts become one delivery per subscription that wants each, in
order per subscription and incident (each names its predecessor), stored before they are queued
for sending. Idempotent per event (the delivery id derives from subscription and event)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from services.notify.channels.base import Dispatch
from services.notify.domain import dedup, webhooks
from services.notify.domain.deliveries import Delivery
from services.notify.domain.delivery_queue import DeliveryQueue, Pending
from services.notify.domain.messages import DEFAULT_LANGUAGE, Catalog
from services.notify.presenters import alert_view
from services.notify.store import Deliveries, Subscriptions
from shared.clock import Clock


class WebhookOutbox:
    def __init__(
        self,
        *,
        subscriptions: Subscriptions,
        deliveries: Deliveries,
        catalog: Catalog,
        clock: Clock,
        utc_offset_h: float,
        queue: DeliveryQueue,
    ) -> None:
        self.subscriptions = subscriptions
        self.deliveries = deliveries
        self.catalog = catalog
        self.clock = clock
        self.utc_offset_h = utc_offset_h
        self.queue = queue

    async def send_many(self, dispatches: Sequence[Dispatch]) -> None:
        """One read of the subscriptions and one write for a whole batch."""
        if not any(d.alert is not None for d in dispatches):
            return
        subs = [w.rule for w in await self.subscriptions.active()]
        if not subs:
            return
        now = self.clock.now()
        last: dict[str, str] = {}  # this batch's latest delivery per order key
        made = [d for dispatch in dispatches for d in self._deliveries(dispatch, subs, now, last)]
        made = await self._chain_to_stored(made)
        known = await self.deliveries.add(made)
        # only once stored: a batch that fails is handed in again and must name the same
        # predecessors, not its own deliveries
        heads: dict[str, tuple[int, str]] = {}
        for d in made:
            self.queue.note(d.order_key, d.seq, d.id)
            if d.id not in known:  # a redelivered event's delivery is queued already
                self.queue.add(Pending.of(d, tries=0, due_at=now))
                heads[d.order_key] = (d.seq, d.id)
        if heads:
            await self.deliveries.set_order_heads(heads)

    async def _chain_to_stored(self, made: list[Delivery]) -> list[Delivery]:
        """A delivery with no predecessor in this process may still have one: the incident's
        partition moved here from a replica that holds an unfinished delivery of it. The stored
        head of its order key names that one; the new delivery then waits for its outcome."""
        first = {d.order_key: d for d in reversed(made) if d.prev is None}
        if not first:
            return made
        chained: dict[str, str] = {}
        for key, (seq, delivery_id) in (await self.deliveries.order_heads(list(first))).items():
            d = first[key]
            if seq < d.seq and delivery_id != d.id:
                chained[d.id] = delivery_id
        return [replace(d, prev=chained[d.id]) if d.id in chained else d for d in made]

    def _deliveries(
        self,
        dispatch: Dispatch,
        subs: Sequence[webhooks.Subscription],
        now: datetime,
        last: dict[str, str],
    ) -> list[Delivery]:
        """One per subscription that wants the dispatch, each naming the previous delivery of its
        subscription and incident (earlier in `last`, this batch, or in the queue)."""
        alert = dispatch.alert
        if alert is None:
            return []
        out: list[Delivery] = []
        view = alert_view(alert, self.catalog, DEFAULT_LANGUAGE, utc_offset_h=self.utc_offset_h)
        message = {"title": view.pop("title"), "body": view.pop("message")}
        scope = set(alert.scope_units)
        for sub in subs:
            if not webhooks.wants(
                sub,
                event_type=dispatch.event_type,
                level=alert.level,
                incident_type=alert.type,
                in_scope=sub.unit in scope,
            ):
                continue
            delivery_id = dedup.delivery_id(sub.id, dispatch.event_id)
            body = webhooks.delivery_body(
                delivery_id=delivery_id,
                event_id=dispatch.event_id,
                event_type=dispatch.event_type,
                occurred_at=dispatch.occurred_at,
                alert=view,
                message=message,
            )
            key = dedup.order_key(sub.id, alert.subject_id)
            prev = last.get(key) or self.queue.predecessor(key)
            last[key] = delivery_id
            out.append(
                Delivery(
                    id=delivery_id,
                    subscription_id=sub.id,
                    event_id=dispatch.event_id,
                    event_type=dispatch.event_type,
                    subject_id=alert.subject_id,
                    order_key=key,
                    seq=alert.seq,
                    prev=prev if prev != delivery_id else None,
                    created_at=now,
                    body=body.decode("utf-8"),
                )
            )
        return out
