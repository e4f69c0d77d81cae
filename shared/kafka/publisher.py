"""Publishes events to Kafka with acks=all and idempotence; returns only once the broker has them.

The correlation id and event type travel in headers too, so tools can filter without parsing.
Never publish before the state the event describes is stored: callers publish after the write.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidProducerEpoch,
    InvalidProducerIdMapping,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    UnknownProducerId,
)

from shared import metrics
from shared.events.base import Event
from shared.kafka.security import client_options
from shared.retry import Backoff, retry
from shared.settings import Settings

# Waits between tries to reach a broker that may still be starting (publisher, consumer, admin).
CONNECT_BACKOFF = Backoff(first_s=0.5, max_s=0.5)

log = logging.getLogger(__name__)


# After a broker restart an idempotent producer can be left with a producer id or sequence the
# broker no longer accepts, and then fails every send (aio-libs/aiokafka#1017). The cure is a new
# producer (a new producer id); the events are sent again, which consumers tolerate (idempotent).
PRODUCER_STATE_ERRORS: tuple[type[BaseException], ...] = (
    OutOfOrderSequenceNumber,
    UnknownProducerId,
    InvalidProducerEpoch,
    InvalidProducerIdMapping,
    ProducerFenced,
)


class Publisher:
    def __init__(self, settings: Settings, *, linger_ms: int = 5) -> None:
        self.settings = settings
        self.linger_ms = linger_ms
        self._producer = self._new_producer()
        self._started = False
        self._generation = 0
        self._reset_lock = asyncio.Lock()

    def _new_producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            **client_options(self.settings),
            client_id=f"{self.settings.service}-publisher",
            acks="all",
            enable_idempotence=True,
            linger_ms=self.linger_ms,
            max_batch_size=1024 * 1024,
            max_request_size=8 * 1024 * 1024,
            request_timeout_ms=15000,
        )

    async def _reset(self, generation: int) -> None:
        """Replace a producer stuck in a state the broker refuses (once per failed generation)."""
        async with self._reset_lock:
            if generation != self._generation:
                return  # another caller already replaced it
            log.warning("replacing the Kafka producer after a producer-state error")
            old, self._producer = self._producer, self._new_producer()
            self._generation += 1
            try:
                await old.stop()
            except Exception:
                log.debug("stopping the old producer failed", exc_info=True)
            await self._producer.start()

    async def start(self, *, timeout_s: float = 60.0) -> None:
        """Connect, waiting for the broker for up to `timeout_s` (it may still be starting)."""
        try:
            await retry(self._producer.start, backoff=CONNECT_BACKOFF, within_s=timeout_s)
        except Exception:
            await self._producer.stop()  # its connections and tasks go with the refusal
            raise
        self._started = True

    async def stop(self) -> None:
        if self._started:
            await self._producer.stop()  # flushes what is pending
            self._started = False

    async def publish(self, event: Event, *, key: str | None = None) -> None:
        await self.publish_many([event], key=key)

    async def publish_many(self, events: Sequence[Event], *, key: str | None = None) -> None:
        """Send all, then wait for every acknowledgement; raises if any failed (caller retries)."""
        if not events:
            return
        start = time.perf_counter()

        async def send_all() -> None:
            futures = [await self._send(event, key) for event in events]
            await asyncio.gather(*futures)

        await self._with_producer_recovery(send_all)
        elapsed = time.perf_counter() - start
        for event in events:
            topic = self.settings.topic(event.topic)
            metrics.events_published_total.labels(self.settings.service, topic, event.type).inc()
        metrics.publish_seconds.labels(
            self.settings.service, self.settings.topic(events[0].topic)
        ).observe(elapsed)

    async def _send(self, event: Event, key: str | None) -> asyncio.Future[object]:
        headers = [
            ("correlation_id", event.correlation_id.encode()),
            ("type", event.type.encode()),
        ]
        future: asyncio.Future[object] = await self._producer.send(
            self.settings.topic(event.topic),
            value=event.to_json(),
            key=(key or event.key).encode(),
            headers=headers,
        )
        return future

    async def send_raw(
        self,
        topic: str,
        value: bytes,
        *,
        key: bytes | None,
        headers: Iterable[tuple[str, bytes]] = (),
    ) -> None:
        """Send pre-serialised bytes to a full topic name (bulk paths, dead letters, benchmarks)."""
        hdrs = list(headers)

        async def send() -> None:
            await self._producer.send_and_wait(topic, value=value, key=key, headers=hdrs)

        await self._with_producer_recovery(send)

    async def _with_producer_recovery(self, send: Callable[[], Awaitable[None]]) -> None:
        generation = self._generation
        try:
            await send()
        except PRODUCER_STATE_ERRORS:
            await self._reset(generation)
            await send()  # once more on the new producer; a second failure goes to the caller

    async def ping(self, timeout_s: float = 2.0) -> bool:
        """True when the broker answers a metadata request now (for /readyz)."""
        try:
            client = self._producer.client
            return bool(await asyncio.wait_for(client.force_metadata_update(), timeout_s)) and bool(
                client.cluster.brokers()
            )
        except Exception:
            return False
