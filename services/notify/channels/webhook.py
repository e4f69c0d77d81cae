"""The webhook channel for HQ (森防指): deliveries stored in an outbox, sent by a periodic
dispatcher, signed with HMAC-SHA256 over the exact body, retried with backoff, then dead-lettered.

Nothing here updates a stored document (on FerretDB v1 an update scans the collection and holds up
every insert of the event path): a delivery is inserted once; each try is claimed by a unique
insert (`<delivery>:<try>`, exactly once across replicas), then recorded by another; a delivered or
dead delivery gets an outcome document. The due queue lives in memory, rebuilt from the store at
start-up and by a slow sweep that picks up what other replicas wrote or left. An incident's
deliveries to one subscription go out in order: each names its predecessor, and waits for the
predecessor's outcome. The subscription secret is read only to sign, and never logged or returned.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import random
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from prometheus_client import Counter

from services.notify.channels.base import Dispatch
from services.notify.domain import dedup, webhooks
from services.notify.domain.backoff import RetrySchedule, next_try_at
from services.notify.domain.deliveries import DEAD, DELIVERED
from services.notify.domain.messages import DEFAULT_LANGUAGE, Catalog
from services.notify.presenters import alert_view
from services.notify.repository import NotifyRepository
from shared.clock import Clock, as_utc
from shared.events import WebhookDeadLettered, WebhookDeadLetteredData
from shared.kafka import Publisher

log = logging.getLogger(__name__)

webhook_tries_total = Counter(
    "hulin_webhook_tries_total", "Webhook delivery tries by outcome", ["outcome"]
)
USER_AGENT = "hulin-notify/1"
FAILED = "failed"
LOST = "sender stopped mid-try; no outcome recorded"
SWEEP_SHARE = 0.05  # at most this share of the time goes to the sweep's scans
DONE_REMEMBERED = 100_000  # finished deliveries remembered (a miss costs one read by `_id`)


def subscription_of(doc: Mapping[str, Any]) -> webhooks.Subscription:
    types = doc.get("types")
    incident_types = doc.get("incident_types")
    return webhooks.Subscription(
        id=doc["_id"],
        url=doc["url"],
        types=tuple(types) if types is not None else None,
        min_level=int(doc.get("min_level", 0)),
        unit=doc["unit"],
        incident_types=tuple(incident_types) if incident_types is not None else None,
    )


@dataclass
class Pending:
    """A delivery not known to be delivered or dead, as this process holds it."""

    id: str
    subscription_id: str
    event_id: str
    event_type: str
    subject_id: str | None
    prev: str | None  # the previous delivery of the same subscription and incident
    order_key: str
    created_at: datetime
    due_at: datetime
    tries: int | None  # tries known so far; None: not read yet (found by the sweep)
    body: str | None = None  # None: read when sent

    @classmethod
    def of(cls, doc: Mapping[str, Any], *, tries: int | None, due_at: datetime) -> Pending:
        body = doc.get("body")
        return cls(
            id=str(doc["_id"]),
            subscription_id=str(doc["subscription_id"]),
            event_id=str(doc["event_id"]),
            event_type=str(doc["event_type"]),
            subject_id=doc.get("subject_id"),
            prev=doc.get("prev"),
            order_key=str(doc["order_key"]),
            created_at=as_utc(doc["created_at"]),
            due_at=due_at,
            tries=tries,
            body=str(body) if body is not None else None,
        )


class DeliveryQueue:
    """The due queue in memory (no I/O): a heap of (due time, delivery id), the deliveries lately
    finished, the last unfinished delivery per subscription and incident (the next one's
    predecessor; a finished one need not be waited for), and deliveries waiting for a predecessor
    this process holds. Its size follows the unfinished deliveries, not the history."""

    def __init__(self, *, remember_done: int = DONE_REMEMBERED) -> None:
        self._heap: list[tuple[datetime, str]] = []
        self.pending: dict[str, Pending] = {}
        self._done: OrderedDict[str, None] = OrderedDict()
        self._remember_done = remember_done
        self._last: dict[str, tuple[int, str]] = {}  # order key → (alert seq, delivery id)
        self._waiting: dict[str, list[str]] = {}  # predecessor id → ids waiting for it

    def predecessor(self, order_key: str) -> str | None:
        last = self._last.get(order_key)
        return last[1] if last is not None else None

    def note(self, order_key: str, seq: int, delivery_id: str) -> None:
        last = self._last.get(order_key)
        if last is None or last[0] <= seq:
            self._last[order_key] = (seq, delivery_id)

    def is_done(self, delivery_id: str) -> bool:
        """Finished lately, as far as this process knows (a miss proves nothing)."""
        return delivery_id in self._done

    def mark_done(self, delivery_id: str) -> None:
        self._done[delivery_id] = None
        while len(self._done) > self._remember_done:
            self._done.popitem(last=False)

    def add(self, item: Pending) -> None:
        if item.id in self._done or item.id in self.pending:
            return
        self.pending[item.id] = item
        heapq.heappush(self._heap, (item.due_at, item.id))

    def later(self, item: Pending, at: datetime) -> None:
        item.due_at = at
        if item.id in self.pending:
            heapq.heappush(self._heap, (at, item.id))

    def due(self, now: datetime, limit: int) -> list[Pending]:
        out: list[Pending] = []
        while self._heap and self._heap[0][0] <= now and len(out) < limit:
            at, did = heapq.heappop(self._heap)
            item = self.pending.get(did)
            if item is not None and item.due_at == at:  # else a stale entry
                out.append(item)
        return out

    def wait_for(self, item: Pending, prev: str) -> None:
        """`item` goes out when `prev` (held by this process) is finished."""
        self._waiting.setdefault(prev, []).append(item.id)

    def finish(self, delivery_id: str, now: datetime) -> None:
        item = self.pending.pop(delivery_id, None)
        self.mark_done(delivery_id)
        if item is not None and self.predecessor(item.order_key) == delivery_id:
            del self._last[item.order_key]
        for waiting in self._waiting.pop(delivery_id, []):
            item = self.pending.get(waiting)
            if item is not None:
                self.later(item, now)


class WebhookChannel:
    """Puts one delivery per matching subscription into the outbox (idempotent per event) and
    hands the new ones to this process's due queue."""

    name = "webhook"

    def __init__(
        self,
        repo: NotifyRepository,
        catalog: Catalog,
        clock: Clock,
        *,
        utc_offset_h: float,
        queue: DeliveryQueue | None = None,
    ) -> None:
        self.repo = repo
        self.catalog = catalog
        self.clock = clock
        self.utc_offset_h = utc_offset_h
        self.queue = queue if queue is not None else DeliveryQueue()

    async def send(self, dispatch: Dispatch) -> None:
        await self.send_many([dispatch])

    async def send_many(self, dispatches: Sequence[Dispatch]) -> None:
        """One read of the subscriptions (cached) and one insert for a whole batch."""
        if not any(d.alert is not None for d in dispatches):
            return
        subs = [subscription_of(d) for d in await self.repo.active_subscriptions()]
        if not subs:
            return
        now = self.clock.now()
        last: dict[str, str] = {}  # this batch's latest delivery per order key
        docs = [doc for d in dispatches for doc in self._deliveries(d, subs, now, last)]
        await self._chain_to_stored(docs)
        known = await self.repo.insert_deliveries(docs)
        # only once stored: a batch that fails is handed in again and must name the same
        # predecessors, not its own deliveries
        heads: dict[str, tuple[int, str]] = {}
        for doc in docs:
            self.queue.note(doc["order_key"], doc["seq"], doc["_id"])
            if doc["_id"] not in known:  # a redelivered event's delivery is queued already
                self.queue.add(Pending.of(doc, tries=0, due_at=now))
                heads[doc["order_key"]] = (doc["seq"], doc["_id"])
        if heads:
            await self.repo.set_order_heads(heads)

    async def _chain_to_stored(self, docs: list[dict[str, Any]]) -> None:
        """A delivery with no predecessor in this process may still have one: the incident's
        partition moved here from a replica that holds an unfinished delivery of it. The stored
        head of its order key names that one; the new delivery then waits for its outcome."""
        first = {d["order_key"]: d for d in reversed(docs) if d["prev"] is None}
        if not first:
            return
        for key, (seq, delivery_id) in (await self.repo.order_heads(list(first))).items():
            doc = first[key]
            if seq < doc["seq"] and delivery_id != doc["_id"]:
                doc["prev"] = delivery_id

    def _deliveries(
        self,
        dispatch: Dispatch,
        subs: Sequence[webhooks.Subscription],
        now: datetime,
        last: dict[str, str],
    ) -> list[dict[str, Any]]:
        """The outbox entries of one dispatch: one per subscription that wants it, each naming
        the previous delivery of its subscription and incident (earlier in `last`, this batch,
        or in the queue)."""
        alert = dispatch.alert
        if alert is None:
            return []
        out: list[dict[str, Any]] = []
        view = alert_view(alert, self.catalog, DEFAULT_LANGUAGE, utc_offset_h=self.utc_offset_h)
        message = {"title": view.pop("title"), "body": view.pop("message")}
        scope = set(alert.get("scope_units") or ())
        for sub in subs:
            if not webhooks.wants(
                sub,
                event_type=dispatch.event_type,
                level=int(alert["level"]),
                incident_type=str(alert["type"]),
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
            key = dedup.order_key(sub.id, str(alert.get("subject_id")))
            prev = last.get(key) or self.queue.predecessor(key)
            last[key] = delivery_id
            out.append(
                {
                    "_id": delivery_id,
                    "subscription_id": sub.id,
                    "event_id": dispatch.event_id,
                    "event_type": dispatch.event_type,
                    "subject_id": alert.get("subject_id"),
                    "order_key": key,
                    "seq": int(alert["seq"]),
                    "prev": prev if prev != delivery_id else None,
                    "body": body.decode("utf-8"),
                    "created_at": now,
                }
            )
        return out


class WebhookDispatcher:
    """Sends due deliveries (run every few hundred ms by a `Periodic`)."""

    def __init__(
        self,
        repo: NotifyRepository,
        publisher: Publisher,
        clock: Clock,
        *,
        schedule: RetrySchedule,
        timeout_s: float,
        lease_s: float,
        batch: int,
        producer: str,
        queue: DeliveryQueue | None = None,
        sweep_s: float = 30.0,
        recheck_s: float = 5.0,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.repo = repo
        self.publisher = publisher
        self.clock = clock
        self.schedule = schedule
        self.timeout_s = timeout_s
        self.lease_s = lease_s
        self.batch = batch
        self.producer = producer
        self.queue = queue if queue is not None else DeliveryQueue()
        self.sweep_s = sweep_s
        self.recheck_s = recheck_s
        self.draw = draw
        self._client: httpx.AsyncClient | None = None
        self._next_sweep: float | None = None  # monotonic time of the next sweep

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.timeout_s, follow_redirects=False, headers={"User-Agent": USER_AGENT}
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def run_once(self) -> int:
        """Send the due deliveries whose predecessor is finished; returns how many were tried.
        The first run, and one every `sweep_s`, first sweeps the store."""
        if self._next_sweep is None or time.monotonic() >= self._next_sweep:
            try:
                await self.sweep()
            except Exception:  # the store away: what this process holds still goes out
                log.exception("webhook sweep failed; trying again soon")
                self._next_sweep = time.monotonic() + self.recheck_s
        now = self.clock.now()
        ready: list[Pending] = []
        for item in self.queue.due(now, self.batch):
            if await self._in_line(item, now):
                ready.append(item)
        if ready:
            await asyncio.gather(*(self._try(item) for item in ready))
        return len(ready)

    async def sweep(self) -> None:
        """Rebuild what the store knows and this process does not: deliveries written by other
        replicas (or before a restart) and not finished, predecessors, finished ones, and dead
        deliveries never announced (their announcer stopped). A few scans of small documents."""
        started = time.monotonic()
        self._next_sweep = started + self.sweep_s
        now = self.clock.now()
        heads = await self.repo.open_deliveries()
        outcomes = await self.repo.outcomes_of([str(d["_id"]) for d in heads])
        announced = await self.repo.announced_among(
            [did for did, o in outcomes.items() if o["status"] == DEAD]
        )
        closed = [
            did for did, o in outcomes.items() if o["status"] == DELIVERED or did in announced
        ]
        found: list[Pending] = []
        for doc in heads:
            did = str(doc["_id"])
            if did in outcomes:
                if did in self.queue.pending:
                    self.queue.finish(did, now)
                continue
            self.queue.note(str(doc["order_key"]), int(doc["seq"]), did)
            if did not in self.queue.pending and not self.queue.is_done(did):
                found.append(Pending.of(doc, tries=None, due_at=now))
        for item in found:
            self.queue.add(item)
        await self.repo.close_deliveries(closed)
        # the sweep never takes more than a set share of the store's time
        took = time.monotonic() - started
        self._next_sweep = started + max(self.sweep_s, took / SWEEP_SHARE)
        quiet = timedelta(seconds=self.sweep_s)  # the recorder announces; it may still be at it
        for did, o in outcomes.items():
            if o["status"] == DEAD and did not in announced and now - as_utc(o["at"]) >= quiet:
                await self._announce(did, o)

    async def _in_line(self, item: Pending, now: datetime) -> bool:
        """Is the delivery's predecessor delivered or dead? If not, it waits."""
        prev = item.prev
        if prev is None or self.queue.is_done(prev):
            return True
        if prev in self.queue.pending:  # we hold it: this one goes when it is finished
            self.queue.wait_for(item, prev)
            return False
        if await self.repo.outcome(prev) is not None:
            self.queue.mark_done(prev)
            return True
        self.queue.later(item, now + timedelta(seconds=self.recheck_s))  # another replica's
        return False

    async def _try(self, item: Pending) -> None:
        try:
            await self._try_once(item)
        except Exception:  # the store or the network: the delivery stays queued
            log.exception("webhook try failed to run", extra={"delivery_id": item.id})
            self.queue.later(item, self.clock.now() + timedelta(seconds=self.recheck_s))

    async def _try_once(self, item: Pending) -> None:
        now = self.clock.now()
        if item.tries is None and not await self._load(item, now):
            return
        assert item.tries is not None
        attempt = item.tries + 1
        lease_until = now + timedelta(seconds=self.lease_s)
        token = uuid.uuid4().hex
        if not await self.repo.claim_try(
            item.id, attempt, token=token, at=now, lease_until=lease_until
        ):
            await self._taken(item, attempt, now)
            return
        sub_doc = await self.repo.subscription(item.subscription_id)
        if item.body is None:
            stored = await self.repo.delivery(item.id)
            item.body = str(stored["body"]) if stored is not None else ""
        started = self.clock.now()
        status_code: int | None = None
        duration_ms = 0.0
        error: str | None
        active = sub_doc is not None and sub_doc.get("active", True)
        if not active:
            error = "subscription no longer active"
            ok = False
        else:
            assert sub_doc is not None
            body = item.body.encode("utf-8")
            headers = {
                "Content-Type": "application/json",
                "X-Hulin-Signature": webhooks.sign(sub_doc["secret"], body),
                "X-Hulin-Delivery": item.id,
                "X-Hulin-Event": item.event_type,
                "X-Hulin-Attempt": str(attempt),
            }
            t0 = time.perf_counter()
            try:
                resp = await self._http().post(sub_doc["url"], content=body, headers=headers)
                status_code = resp.status_code
                ok = 200 <= resp.status_code < 300
                error = None if ok else f"HTTP {resp.status_code}"
            except httpx.HTTPError as exc:
                ok = False
                error = f"{type(exc).__name__}: {exc}"[:500]
            duration_ms = round((time.perf_counter() - t0) * 1000, 1)
        now = self.clock.now()
        nxt: datetime | None = None
        if ok:
            outcome = DELIVERED
        else:
            if active:
                nxt = next_try_at(
                    created_at=item.created_at,
                    failures=attempt,
                    now=now,
                    schedule=self.schedule,
                    draw=self.draw(),
                )
            outcome = FAILED if nxt is not None else DEAD
            log.info(
                "webhook try failed",
                extra={"delivery_id": item.id, "attempt": attempt, "error": error},
            )
        webhook_tries_total.labels(outcome).inc()
        record = {
            "_id": f"{item.id}:{attempt}",
            "delivery_id": item.id,
            "subscription_id": item.subscription_id,
            "attempt": attempt,
            "at": started,
            "finished_at": now,
            "status_code": status_code,
            "ok": ok,
            "error": error,
            "duration_ms": duration_ms,
            "outcome": outcome,
            "next_try_at": nxt,
        }
        if not await self.repo.record_attempt(record):
            # our lease ran out and another dispatcher wrote the try off as lost: its record
            # stands, and what follows from it was decided there
            log.warning("webhook try recorded late", extra={"delivery_id": item.id})
            stored_record = await self.repo.attempt(item.id, attempt)
            if stored_record is not None:
                record = stored_record
        await self._apply(item, record, attempt)

    async def _load(self, item: Pending, now: datetime) -> bool:
        """Reads a delivery found by the sweep: finished (false), or its tries so far and when
        the next one is due (true if due now)."""
        outcome = await self.repo.outcome(item.id)
        if outcome is not None:
            self.queue.finish(item.id, now)
            return False
        tries = await self.repo.attempts_so_far(item.id)
        item.tries = len(tries)
        if tries:
            last = tries[-1]
            if last.get("outcome") in (DELIVERED, DEAD):  # its outcome document was not written
                await self._apply(item, last, item.tries)
                return False
            nxt = last.get("next_try_at")
            if nxt is not None and as_utc(nxt) > now:
                self.queue.later(item, as_utc(nxt))
                return False
        return True

    async def _taken(self, item: Pending, attempt: int, now: datetime) -> None:
        """Try `attempt` was claimed elsewhere: learn its record, or wait for its lease; a try
        whose sender stopped before recording it is written off as lost (the receiver may have
        had it: at least once across a crash mid-send)."""
        record = await self.repo.attempt(item.id, attempt)
        if record is None:
            claim = await self.repo.claim_of(item.id, attempt)
            lease = as_utc(claim["lease_until"]) if claim and claim.get("lease_until") else now
            if lease > now:
                self.queue.later(item, lease)
                return
            lost = {
                "_id": f"{item.id}:{attempt}",
                "delivery_id": item.id,
                "subscription_id": item.subscription_id,
                "attempt": attempt,
                "at": as_utc(claim["at"]) if claim and claim.get("at") else now,
                "finished_at": now,
                "status_code": None,
                "ok": False,
                "error": LOST,
                "duration_ms": None,
                "outcome": FAILED,
                "next_try_at": now,
            }
            if await self.repo.record_attempt(lost):
                record = lost
            else:
                record = await self.repo.attempt(item.id, attempt)
                if record is None:
                    self.queue.later(item, now + timedelta(seconds=self.recheck_s))
                    return
        await self._apply(item, record, attempt)

    async def _apply(self, item: Pending, record: Mapping[str, Any], attempt: int) -> None:
        """What a try's record means for the delivery: finished (outcome stored, a dead one
        announced), or due again."""
        item.tries = attempt
        now = self.clock.now()
        outcome = record.get("outcome") or (DELIVERED if record.get("ok") else FAILED)
        if outcome == FAILED:
            nxt = record.get("next_try_at")
            self.queue.later(item, as_utc(nxt) if nxt is not None else now)
            return
        doc = {
            "_id": item.id,
            "subscription_id": item.subscription_id,
            "status": outcome,
            "at": as_utc(record.get("finished_at") or record["at"]),
            "attempts": attempt,
            "last_error": record.get("error"),
            "last_status_code": record.get("status_code"),
        }
        first = await self.repo.record_outcome(doc)
        self.queue.finish(item.id, now)
        if outcome == DELIVERED:
            await self.repo.close_deliveries([item.id])
        elif first:
            await self._announce(item.id, doc)

    async def _announce(self, delivery_id: str, outcome: Mapping[str, Any]) -> None:
        """Publish the dead delivery to hulin.deadletter (after it is stored as dead), then mark
        it announced."""
        doc = await self.repo.delivery(delivery_id)
        if doc is None:
            return
        sub = await self.repo.subscription(doc["subscription_id"])
        first = await self.repo.attempt(delivery_id, 1)
        event = WebhookDeadLettered.new(
            WebhookDeadLetteredData(
                delivery_id=delivery_id,
                subscription_id=doc["subscription_id"],
                url=sub["url"] if sub else "",
                event_id=doc["event_id"],
                event_type=doc["event_type"],
                subject_id=doc.get("subject_id"),
                attempts=int(outcome.get("attempts") or 0),
                last_error=str(outcome.get("last_error") or ""),
                first_try_at=as_utc(first["at"]) if first is not None else None,
                failed_at=as_utc(outcome.get("at") or self.clock.now()),
                body=str(doc["body"]),
            ),
            key=str(doc.get("subject_id") or delivery_id),
            producer=self.producer,
        )
        await self.publisher.publish(event)
        await self.repo.mark_announced(delivery_id, self.clock.now())
        await self.repo.close_deliveries([delivery_id])
