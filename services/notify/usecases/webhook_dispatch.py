"""Webhook dispatch: due deliveries are tried (each try claimed once across replicas, then
recorded), retried on the backoff, and a dead one is published to `hulin.deadletter` after it is
stored as dead. An incident's deliveries to one subscription go out in order. The due queue lives
in memory, rebuilt from the store at start-up and by a sweep of the open deliveries.

The HTTP request itself is the sender's (channels/webhook.py); the secret is handed to it to sign
with, and never logged or returned.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from prometheus_client import Counter

from services.notify.domain.backoff import RetrySchedule, next_try_at
from services.notify.domain.deliveries import DEAD, DELIVERED, FAILED, Outcome, Try
from services.notify.domain.delivery_queue import DeliveryQueue, Pending
from services.notify.settings import NotifySettings
from services.notify.store import Deliveries, Subscriptions
from shared.clock import Clock, as_utc
from shared.events import WebhookDeadLettered, WebhookDeadLetteredData
from shared.kafka import Publisher

log = logging.getLogger(__name__)

webhook_tries_total = Counter(
    "hulin_webhook_tries_total", "Webhook delivery tries by outcome", ["outcome"]
)
LOST = "sender stopped mid-try; no outcome recorded"
INACTIVE = "subscription no longer active"


@dataclass(frozen=True)
class Sent:
    """What one HTTP try came back with."""

    ok: bool
    status_code: int | None
    error: str | None
    duration_ms: float
    permanent: bool = False  # no later try can succeed (a refused destination): give up now


class Sender(Protocol):
    async def send(
        self,
        *,
        url: str,
        secret: str,
        body: bytes,
        delivery_id: str,
        event_type: str,
        attempt: int,
    ) -> Sent: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class DispatchRules:
    """The dispatcher's numbers, from the settings."""

    schedule: RetrySchedule
    lease_s: float
    batch: int
    sweep_s: float
    sweep_share: float
    recheck_s: float
    # How long one run waits for the tries it started; a slower try goes on in the background,
    # so one slow receiver never holds back another's deliveries.
    run_wait_s: float = 1.0
    # Tries running at once to one receiver: a hanging one holds these slots of the batch, not
    # all of them; its other deliveries are looked at again after `busy_wait_s`.
    per_receiver: int = 8
    busy_wait_s: float = 0.5

    @classmethod
    def of(cls, settings: NotifySettings) -> DispatchRules:
        return cls(
            schedule=settings.retry_schedule(),
            lease_s=settings.webhook_lease_s,
            batch=settings.webhook_batch,
            sweep_s=settings.webhook_sweep_interval_s,
            sweep_share=settings.webhook_sweep_share,
            recheck_s=settings.webhook_wait_recheck_s,
        )


class WebhookDispatcher:
    """Sends due deliveries (`run_once`, every few hundred ms by a `Periodic`)."""

    def __init__(
        self,
        *,
        deliveries: Deliveries,
        subscriptions: Subscriptions,
        publisher: Publisher,
        clock: Clock,
        sender: Sender,
        rules: DispatchRules,
        producer: str,
        queue: DeliveryQueue,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.deliveries = deliveries
        self.subscriptions = subscriptions
        self.publisher = publisher
        self.clock = clock
        self.sender = sender
        self.rules = rules
        self.producer = producer
        self.queue = queue
        self.draw = draw
        self._next_sweep: datetime | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._busy: dict[str, int] = {}  # tries running, by subscription

    async def close(self) -> None:
        """Stop the tries still running (their claims lapse and are taken over), then the
        sender."""
        for task in list(self._inflight):
            task.cancel()
        if self._inflight:
            await asyncio.wait(list(self._inflight))
        await self.sender.close()

    def _idle(self, subscription_id: str, _done: asyncio.Task[None]) -> None:
        left = self._busy.pop(subscription_id, 1) - 1
        if left > 0:
            self._busy[subscription_id] = left

    def _after(self, seconds: float) -> datetime:
        return self.clock.now() + timedelta(seconds=seconds)

    async def run_once(self) -> int:
        """Send the due deliveries whose predecessor is finished; returns how many were tried.
        The first run, and one every `sweep_s`, first sweeps the store."""
        if self._next_sweep is None or self.clock.now() >= self._next_sweep:
            try:
                await self.sweep()
            except Exception:  # the store away: what this process holds still goes out
                log.exception("webhook sweep failed; trying again soon")
                self._next_sweep = self._after(self.rules.recheck_s)
        now = self.clock.now()
        room = self.rules.batch - len(self._inflight)
        due = self.queue.due(now, room) if room > 0 else []
        ready = []
        for item in due:
            sub = item.delivery.subscription_id
            if self._busy.get(sub, 0) >= self.rules.per_receiver:
                self.queue.later(item, now + timedelta(seconds=self.rules.busy_wait_s))
            elif await self._in_line(item, now):
                self._busy[sub] = self._busy.get(sub, 0) + 1
                ready.append(item)
        # A delivery taken from the queue is in no one else's way: its successors wait for it
        # (`_in_line`), other subscriptions' deliveries go out on the next run.
        tasks = [asyncio.create_task(self._try(item), name="webhook-try") for item in ready]
        for task, item in zip(tasks, ready, strict=True):
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
            task.add_done_callback(functools.partial(self._idle, item.delivery.subscription_id))
        if tasks:
            await asyncio.wait(tasks, timeout=self.rules.run_wait_s)
        return len(ready)

    async def sweep(self) -> None:
        """Learn what the store knows and this process does not: deliveries written by other
        replicas (or before a restart) and not finished, finished ones, and dead deliveries never
        announced (their announcer stopped)."""
        started = time.perf_counter()
        self._next_sweep = self._after(self.rules.sweep_s)
        now = self.clock.now()
        heads = await self.deliveries.open()
        outcomes = await self.deliveries.outcomes_of([d.id for d in heads])
        announced = await self.deliveries.announced_among(
            [did for did, o in outcomes.items() if o.status == DEAD]
        )
        closed = [did for did, o in outcomes.items() if o.status == DELIVERED or did in announced]
        for d in heads:
            if d.id in outcomes:
                if d.id in self.queue.pending:
                    self.queue.finish(d.id, now)
                continue
            self.queue.note(d.order_key, d.seq, d.id)
            if d.id not in self.queue.pending and not self.queue.is_done(d.id):
                self.queue.add(Pending.of(d, tries=None, due_at=now))
        await self.deliveries.close(closed)
        # the sweep never takes more than a set share of the store's time
        took = time.perf_counter() - started
        self._next_sweep = now + timedelta(
            seconds=max(self.rules.sweep_s, took / self.rules.sweep_share)
        )
        quiet = timedelta(seconds=self.rules.sweep_s)  # the recorder announces; it may be at it
        for did, o in outcomes.items():
            if o.status == DEAD and did not in announced and now - as_utc(o.at) >= quiet:
                await self._announce(did, o)

    async def _in_line(self, item: Pending, now: datetime) -> bool:
        """Is the delivery's predecessor delivered or dead? If not, it waits."""
        prev = item.prev
        if prev is None or self.queue.is_done(prev):
            return True
        if prev in self.queue.pending:  # we hold it: this one goes when it is finished
            self.queue.wait_for(item, prev)
            return False
        if await self.deliveries.outcome(prev) is not None:
            self.queue.mark_done(prev)
            return True
        self.queue.later(item, now + timedelta(seconds=self.rules.recheck_s))  # another replica's
        return False

    async def _try(self, item: Pending) -> None:
        try:
            await self._try_once(item)
        except Exception:  # the store or the network: the delivery stays queued
            log.exception("webhook try failed to run", extra={"delivery_id": item.id})
            self.queue.later(item, self._after(self.rules.recheck_s))

    async def _try_once(self, item: Pending) -> None:
        now = self.clock.now()
        if item.tries is None and not await self._load(item, now):
            return
        assert item.tries is not None
        attempt = item.tries + 1
        if not await self.deliveries.claim_try(
            item.id,
            attempt,
            token=uuid.uuid4().hex,
            at=now,
            lease_until=now + timedelta(seconds=self.rules.lease_s),
        ):
            await self._taken(item, attempt, now)
            return
        delivery = item.delivery
        webhook = await self.subscriptions.get(delivery.subscription_id)
        if item.body is None:
            stored = await self.deliveries.get(item.id)
            item.body = stored.body if stored is not None and stored.body is not None else ""
        started = self.clock.now()
        active = webhook is not None and webhook.active
        if webhook is not None and active:
            sent = await self.sender.send(
                url=webhook.rule.url,
                secret=webhook.secret,
                body=item.body.encode("utf-8"),
                delivery_id=item.id,
                event_type=delivery.event_type,
                attempt=attempt,
            )
        else:
            sent = Sent(ok=False, status_code=None, error=INACTIVE, duration_ms=0.0)
        now = self.clock.now()
        nxt: datetime | None = None
        if sent.ok:
            outcome = DELIVERED
        else:
            if active and not sent.permanent:
                nxt = next_try_at(
                    created_at=as_utc(delivery.created_at),
                    failures=attempt,
                    now=now,
                    schedule=self.rules.schedule,
                    draw=self.draw(),
                )
            outcome = FAILED if nxt is not None else DEAD
            log.info(
                "webhook try failed",
                extra={"delivery_id": item.id, "attempt": attempt, "error": sent.error},
            )
        webhook_tries_total.labels(outcome).inc()
        record = Try(
            delivery_id=item.id,
            subscription_id=delivery.subscription_id,
            attempt=attempt,
            at=started,
            finished_at=now,
            ok=sent.ok,
            outcome=outcome,
            status_code=sent.status_code,
            error=sent.error,
            duration_ms=sent.duration_ms,
            next_try_at=nxt,
        )
        if not await self.deliveries.record_try(record):
            # our lease ran out and another dispatcher wrote the try off as lost: its record
            # stands, and what follows from it was decided there
            log.warning("webhook try recorded late", extra={"delivery_id": item.id})
            record = await self.deliveries.try_of(item.id, attempt) or record
        await self._apply(item, record)

    async def _load(self, item: Pending, now: datetime) -> bool:
        """Reads a delivery found by the sweep: finished (false), or its tries so far and when
        the next one is due (true if due now)."""
        if await self.deliveries.outcome(item.id) is not None:
            self.queue.finish(item.id, now)
            return False
        tries = await self.deliveries.tries_of(item.id)
        item.tries = len(tries)
        if tries:
            last = tries[-1]
            if last.outcome in (DELIVERED, DEAD):  # its outcome was not recorded
                await self._apply(item, last)
                return False
            if last.next_try_at is not None and as_utc(last.next_try_at) > now:
                self.queue.later(item, as_utc(last.next_try_at))
                return False
        return True

    async def _taken(self, item: Pending, attempt: int, now: datetime) -> None:
        """Try `attempt` was claimed elsewhere: learn its record, or wait for its lease; a try
        whose sender stopped before recording it is written off as lost (the receiver may have
        had it: at least once across a crash mid-send)."""
        record = await self.deliveries.try_of(item.id, attempt)
        if record is None:
            claim = await self.deliveries.claim_of(item.id, attempt)
            lease = as_utc(claim.lease_until) if claim is not None else now
            if lease > now:
                self.queue.later(item, lease)
                return
            lost = Try(
                delivery_id=item.id,
                subscription_id=item.delivery.subscription_id,
                attempt=attempt,
                at=as_utc(claim.at) if claim is not None else now,
                finished_at=now,
                ok=False,
                outcome=FAILED,
                error=LOST,
                next_try_at=now,
            )
            if await self.deliveries.record_try(lost):
                record = lost
            else:
                record = await self.deliveries.try_of(item.id, attempt)
                if record is None:
                    self.queue.later(item, now + timedelta(seconds=self.rules.recheck_s))
                    return
        await self._apply(item, record)

    async def _apply(self, item: Pending, record: Try) -> None:
        """What a try's record means for the delivery: finished (outcome stored, a dead one
        announced), or due again."""
        item.tries = record.attempt
        now = self.clock.now()
        if record.outcome == FAILED:
            nxt = record.next_try_at
            self.queue.later(item, as_utc(nxt) if nxt is not None else now)
            return
        outcome = Outcome(
            delivery_id=item.id,
            subscription_id=item.delivery.subscription_id,
            status=record.outcome,
            at=as_utc(record.finished_at),
            attempts=record.attempt,
            last_error=record.error,
            last_status_code=record.status_code,
        )
        first = await self.deliveries.record_outcome(outcome)
        self.queue.finish(item.id, now)
        if outcome.status == DELIVERED:
            await self.deliveries.close([item.id])
        elif first:
            await self._announce(item.id, outcome)

    async def _announce(self, delivery_id: str, outcome: Outcome) -> None:
        """Publish the dead delivery to hulin.deadletter (after it is stored as dead), then mark
        it announced and close it."""
        delivery = await self.deliveries.get(delivery_id)
        if delivery is None:
            return
        webhook = await self.subscriptions.get(delivery.subscription_id)
        first = await self.deliveries.try_of(delivery_id, 1)
        event = WebhookDeadLettered.new(
            WebhookDeadLetteredData(
                delivery_id=delivery_id,
                subscription_id=delivery.subscription_id,
                url=webhook.rule.url if webhook is not None else "",
                event_id=delivery.event_id,
                event_type=delivery.event_type,
                subject_id=delivery.subject_id,
                attempts=outcome.attempts,
                last_error=outcome.last_error or "",
                first_try_at=as_utc(first.at) if first is not None else None,
                failed_at=as_utc(outcome.at),
                body=delivery.body or "",
            ),
            key=delivery.subject_id or delivery_id,
            producer=self.producer,
        )
        await self.publisher.publish(event)
        await self.deliveries.mark_announced(delivery_id, self.clock.now())
        await self.deliveries.close([delivery_id])
