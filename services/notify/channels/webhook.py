"""The webhook channel for HQ (森防指): deliveries stored in an outbox, sent by a periodic
dispatcher, signed with HMAC-SHA256 over the exact body, retried with backoff, then dead-lettered.

A due delivery is claimed atomically with a lease (find_one_and_update), so a restart or a second
replica never loses or double-sends a try; an incident's deliveries to one subscription go out in
order. The subscription secret is read only to sign, and never logged or returned.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx
from prometheus_client import Counter

from services.notify.channels.base import Dispatch
from services.notify.domain import dedup, webhooks
from services.notify.domain.backoff import RetrySchedule, next_try_at
from services.notify.domain.messages import DEFAULT_LANGUAGE, Catalog
from services.notify.presenters import alert_view
from services.notify.repository import DEAD, DELIVERED, PENDING, NotifyRepository
from shared.clock import Clock, as_utc
from shared.events import WebhookDeadLettered, WebhookDeadLetteredData
from shared.kafka import Publisher

log = logging.getLogger(__name__)

webhook_tries_total = Counter(
    "hulin_webhook_tries_total", "Webhook delivery tries by outcome", ["outcome"]
)
USER_AGENT = "hulin-notify/1"


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


class WebhookChannel:
    """Puts one delivery per matching subscription into the outbox (idempotent per event)."""

    name = "webhook"

    def __init__(
        self, repo: NotifyRepository, catalog: Catalog, clock: Clock, *, utc_offset_h: float
    ) -> None:
        self.repo = repo
        self.catalog = catalog
        self.clock = clock
        self.utc_offset_h = utc_offset_h

    async def send(self, dispatch: Dispatch) -> None:
        await self.send_many([dispatch])

    async def send_many(self, dispatches: Sequence[Dispatch]) -> None:
        """One read of the subscriptions for a whole batch of dispatches."""
        if not any(d.alert is not None for d in dispatches):
            return
        subs = [subscription_of(d) for d in await self.repo.active_subscriptions()]
        if not subs:
            return
        now = self.clock.now()
        await self.repo.insert_deliveries(
            [doc for d in dispatches for doc in self._deliveries(d, subs, now)]
        )

    def _deliveries(
        self, dispatch: Dispatch, subs: Sequence[webhooks.Subscription], now: datetime
    ) -> list[dict[str, Any]]:
        """The outbox entries of one dispatch: one per subscription that wants it."""
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
            out.append(
                {
                    "_id": delivery_id,
                    "subscription_id": sub.id,
                    "event_id": dispatch.event_id,
                    "event_type": dispatch.event_type,
                    "subject_id": alert.get("subject_id"),
                    "order_key": dedup.order_key(sub.id, str(alert.get("subject_id"))),
                    "seq": int(alert["seq"]),
                    "body": body.decode("utf-8"),
                    "status": PENDING,
                    "attempts": 0,
                    "created_at": now,
                    "due_at": now,
                    "lease": None,
                    "last_error": None,
                    "last_status_code": None,
                    "delivered_at": None,
                    "dead_at": None,
                    "deadletter_published": False,
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
        self.draw = draw
        self._client: httpx.AsyncClient | None = None

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
        """Claim and send the due deliveries that are first in line; returns how many were tried."""
        await self._announce_dead()
        now = self.clock.now()
        claimed: list[tuple[Mapping[str, Any], str]] = []
        lines: set[str] = set()
        for doc in await self.repo.due_deliveries(now, limit=self.batch * 4):
            key = doc["order_key"]
            if key in lines:
                continue  # only the first of an incident's deliveries goes in one round
            lines.add(key)
            if await self.repo.has_earlier_pending(key, int(doc["seq"])):
                continue
            token = uuid.uuid4().hex
            if await self.repo.claim(doc, now, now + timedelta(seconds=self.lease_s), token):
                claimed.append((doc, token))
            if len(claimed) >= self.batch:
                break
        if claimed:
            await asyncio.gather(*(self._try(doc, token) for doc, token in claimed))
        return len(claimed)

    async def _try(self, doc: Mapping[str, Any], token: str) -> None:
        attempt = int(doc.get("attempts", 0)) + 1
        sub_doc = await self.repo.subscription(doc["subscription_id"])
        started = self.clock.now()
        status_code: int | None = None
        duration_ms = 0.0
        error: str | None
        if sub_doc is None or not sub_doc.get("active", True):
            error = "subscription no longer active"
            ok = False
        else:
            body = str(doc["body"]).encode("utf-8")
            headers = {
                "Content-Type": "application/json",
                "X-Hulin-Signature": webhooks.sign(sub_doc["secret"], body),
                "X-Hulin-Delivery": doc["_id"],
                "X-Hulin-Event": doc["event_type"],
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
        await self.repo.record_attempt(
            {
                "_id": f"{doc['_id']}:{attempt}",
                "delivery_id": doc["_id"],
                "subscription_id": doc["subscription_id"],
                "attempt": attempt,
                "at": started,
                "status_code": status_code,
                "ok": ok,
                "error": error,
                "duration_ms": duration_ms,
            }
        )
        fields: dict[str, Any] = {
            "attempts": attempt,
            "last_error": error,
            "last_status_code": status_code,
        }
        if attempt == 1:
            fields["first_try_at"] = started
        if ok:
            fields.update(status=DELIVERED, delivered_at=now)
            webhook_tries_total.labels("delivered").inc()
        else:
            created = as_utc(doc["created_at"])
            nxt = None
            if sub_doc is not None and sub_doc.get("active", True):
                nxt = next_try_at(
                    created_at=created,
                    failures=attempt,
                    now=now,
                    schedule=self.schedule,
                    draw=self.draw(),
                )
            if nxt is None:
                fields.update(status=DEAD, dead_at=now)
                webhook_tries_total.labels("dead").inc()
            else:
                fields.update(status=PENDING, due_at=nxt)
                webhook_tries_total.labels("failed").inc()
            log.info(
                "webhook try failed",
                extra={"delivery_id": doc["_id"], "attempt": attempt, "error": error},
            )
        if not await self.repo.finish_try(doc["_id"], token, fields):
            log.warning(
                "webhook lease lost before the outcome was stored", extra={"id": doc["_id"]}
            )
        if fields.get("status") == DEAD:
            await self._announce_dead()

    async def _announce_dead(self) -> None:
        """Publish each dead delivery to hulin.deadletter once (after it is stored as dead)."""
        for doc in await self.repo.dead_unannounced():
            sub = await self.repo.subscription(doc["subscription_id"])
            event = WebhookDeadLettered.new(
                WebhookDeadLetteredData(
                    delivery_id=doc["_id"],
                    subscription_id=doc["subscription_id"],
                    url=sub["url"] if sub else "",
                    event_id=doc["event_id"],
                    event_type=doc["event_type"],
                    subject_id=doc.get("subject_id"),
                    attempts=int(doc.get("attempts", 0)),
                    last_error=str(doc.get("last_error") or ""),
                    first_try_at=_maybe_utc(doc.get("first_try_at")),
                    failed_at=as_utc(doc.get("dead_at") or self.clock.now()),
                    body=str(doc["body"]),
                ),
                key=str(doc.get("subject_id") or doc["_id"]),
                producer=self.producer,
            )
            await self.publisher.publish(event)
            await self.repo.mark_announced(doc["_id"])


def _maybe_utc(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None
