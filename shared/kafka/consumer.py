"""Runs a service's consumers: at-least-once, offsets committed only after handlers have stored
their effects, bounded retries for bad messages, endless patient retries for infrastructure faults.

A message that still fails after its retries (or cannot be parsed) goes to `hulin.deadletter` with
the error, and the consumer moves on. A transient fault (database or broker away) is never
dead-lettered: the runner waits and retries, so a restart of FerretDB or Kafka loses nothing.

A batch handler gets each run of consecutive records of a partition whose types are routed to it
(register one handler for several types to get runs of mixed types, in their order).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import (
    CommitFailedError,
    IllegalStateError,
    InvalidTopicError,
    KafkaError,
    MessageSizeTooLargeError,
    TopicAuthorizationFailedError,
)
from pydantic import ValidationError
from pymongo.errors import (
    AutoReconnect,
    ConnectionFailure,
    NetworkTimeout,
    ServerSelectionTimeoutError,
)

from shared import metrics
from shared.clock import utcnow
from shared.db import is_store_busy
from shared.events import DeadLetterData, Event, MessageDeadLettered, UnknownEventType, parse_event
from shared.kafka.publisher import CONNECT_BACKOFF, Publisher
from shared.kafka.security import client_options
from shared.logging import correlation_id
from shared.retry import Backoff, retry
from shared.settings import Settings

log = logging.getLogger(__name__)

# A store that is busy or a broker that restarts: wait and call again, for as long as it takes.
TRANSIENT_BACKOFF = Backoff(first_s=0.2, max_s=5.0)

FETCH_MAX_WAIT_MS = 150  # the longest a fetch waits at the broker for data (see `start`)

Handler = Callable[[Any], Awaitable[None]]
BatchHandler = Callable[[Sequence[Any]], Awaitable[None]]

# Faults of the infrastructure, not of the message: retried without limit, never dead-lettered.
# Broker answers that no retry changes: the message is too large, the topic is invalid or not
# ours to write. Retrying them for ever would stall the partition.
PERMANENT_KAFKA_ERRORS: tuple[type[BaseException], ...] = (
    MessageSizeTooLargeError,
    InvalidTopicError,
    TopicAuthorizationFailedError,
)
# A dead letter's copy of the message is cut to this many characters when the whole is too large.
DEADLETTER_VALUE_MAX = 100_000

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    AutoReconnect,
    ConnectionFailure,
    NetworkTimeout,
    ServerSelectionTimeoutError,
    KafkaError,
    ConnectionError,
    TimeoutError,
    OSError,
)


class _Poison(Exception):
    """A message that can never be handled (bad JSON, bad schema)."""


class ConsumerRunner:
    """One consumer group member for a set of topics, routing each event type to its handler."""

    def __init__(
        self,
        settings: Settings,
        *,
        name: str,
        topics: Sequence[str],
        handlers: Mapping[str, Handler],
        publisher: Publisher,
        batch_handlers: Mapping[str, BatchHandler] | None = None,
        group: str | None = None,
        max_attempts: int = 3,
        retry_backoff_s: float = 0.2,
        max_records: int = 500,
        transient_errors: tuple[type[BaseException], ...] = TRANSIENT_ERRORS,
        parse: Callable[[bytes], Event] = parse_event,
    ) -> None:
        self.settings = settings
        self.name = name
        self.topics = [settings.topic(t) for t in topics]
        self.handlers = dict(handlers)
        self.batch_handlers = dict(batch_handlers or {})
        self.publisher = publisher
        self.group = group or f"{settings.group(settings.service)}.{name}"
        self.max_attempts = max_attempts
        self.retry_backoff_s = retry_backoff_s
        self.max_records = max_records
        self.transient_errors = transient_errors
        # A service may parse its own bulk events more cheaply; same contract as parse_event
        # (UnknownEventType, or ValidationError / ValueError for a poison message).
        self.parse = parse
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.assigned = asyncio.Event()  # set once the group gave us partitions (tests wait on it)
        self._idle = asyncio.Event()  # no fetched batch in hand (cleared until it is committed)
        self._idle.set()

    # ---- lifecycle -------------------------------------------------------------------------
    async def start(self, *, timeout_s: float = 60.0) -> None:
        self._consumer = AIOKafkaConsumer(
            **client_options(self.settings),
            group_id=self.group,
            client_id=f"{self.settings.service}-{self.name}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self.max_records,
            fetch_max_bytes=16 * 1024 * 1024,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            # A fetch leaves out the partitions whose records are still in hand, and the broker
            # holds it until one of *its* partitions has data, or this long. With aiokafka's 500
            # ms default, a partition handled a moment ago waited behind a fetch of quiet ones:
            # reports sat up to half a second in Kafka at any rate (the e2e bench's 640 ms steps).
            # Shorter waits mean smaller fetches and more store writes per report: 150 ms measured
            # best for the p99 (see the commit).
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
            session_timeout_ms=10000,
            heartbeat_interval_ms=2000,
            max_poll_interval_ms=600000,
        )
        self._consumer.subscribe(self.topics, listener=_FinishBeforeRevoke(self._idle))
        await retry(self._consumer.start, backoff=CONNECT_BACKOFF, within_s=timeout_s)
        self._task = asyncio.create_task(self._run(), name=f"consumer:{self.group}")

    async def stop(self, *, timeout_s: float = 30.0) -> None:
        """Finish the batch in hand, commit it, leave the group."""
        self._stopping.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout_s)
            except TimeoutError:
                self._task.cancel()
                log.warning("consumer did not stop in time", extra={"group": self.group})
            except Exception:
                log.exception("consumer task failed", extra={"group": self.group})
        if self._consumer is not None:
            await self._consumer.stop()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    # ---- the loop --------------------------------------------------------------------------
    async def _run(self) -> None:
        """The loop, kept alive: a fault nobody foresaw is logged, and the loop goes on from the
        group's committed offsets (what was fetched and not committed comes again: handlers are
        idempotent) instead of leaving a member that holds partitions and reads none."""
        assert self._consumer is not None
        while not self._stopping.is_set():
            try:
                await self._loop()
            except Exception:
                log.exception(
                    "consumer loop failed; resuming from the committed offsets",
                    extra={"group": self.group},
                )
                await asyncio.sleep(1.0)
                try:
                    await self._consumer.seek_to_committed()
                except Exception:
                    log.warning("seek to committed offsets failed", exc_info=True)

    async def _loop(self) -> None:
        assert self._consumer is not None
        consumer = self._consumer
        while not self._stopping.is_set():
            try:
                batches = await consumer.getmany(timeout_ms=300, max_records=self.max_records)
            except KafkaError as exc:
                log.warning("fetch failed; retrying", extra={"error": repr(exc)})
                await asyncio.sleep(1.0)
                continue
            if consumer.assignment():
                self.assigned.set()
            if not batches:
                continue
            started = time.perf_counter()
            self._idle.clear()
            try:
                results = await asyncio.gather(
                    *(self._process_partition(tp, records) for tp, records in batches.items())
                )
                offsets = {tp: off + 1 for tp, off in results if off is not None}
                if offsets:
                    await self._commit(offsets)
            finally:
                self._idle.set()
            metrics.consumer_cycle_seconds.labels(self.settings.service, self.group).observe(
                time.perf_counter() - started
            )
            assigned = consumer.assignment()  # a rebalance may have taken some away meanwhile
            for tp, records in batches.items():
                if tp not in assigned:
                    continue
                high = consumer.highwater(tp)
                if high is not None:
                    metrics.consumer_lag.labels(
                        self.settings.service, self.group, tp.topic, str(tp.partition)
                    ).set(max(0, high - records[-1].offset - 1))

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        assert self._consumer is not None
        while True:
            assigned = self._consumer.assignment()  # a rebalance may have taken some away
            offsets = {tp: off for tp, off in offsets.items() if tp in assigned}
            if not offsets:
                return
            try:
                await self._consumer.commit(offsets)
                return
            except (CommitFailedError, IllegalStateError):  # IllegalState: not assigned now
                # The group rebalanced: these partitions are someone else's now and will be
                # redelivered to them; handlers are idempotent, so that is safe.
                log.warning("commit refused after a rebalance", extra={"group": self.group})
                return
            except KafkaError as exc:
                if self._stopping.is_set():
                    return
                log.warning("commit failed; retrying", extra={"error": repr(exc)})
                await asyncio.sleep(1.0)

    async def _process_partition(
        self, tp: TopicPartition, records: list[ConsumerRecord[bytes, bytes]]
    ) -> tuple[TopicPartition, int | None]:
        """Handle records in order; returns the last offset whose effects are stored."""
        last: int | None = None
        i = 0
        solo_until = 0  # after a failed group, its records are handled one by one
        while i < len(records):
            record = records[i]
            try:
                event = self.parse(record.value or b"")
            except UnknownEventType:
                self._count(record.topic, "unknown", "ignored")
                last, i = record.offset, i + 1
                continue
            except (ValidationError, ValueError) as exc:
                done = await self._deadletter(record, f"unparseable message: {exc}", attempts=1)
                if not done:
                    return tp, last
                last, i = record.offset, i + 1
                continue
            batch_handler = self.batch_handlers.get(event.type)
            if batch_handler is not None and i >= solo_until:
                group: list[tuple[ConsumerRecord[bytes, bytes], Event]] = [(record, event)]
                j = i + 1
                while j < len(records):
                    try:
                        nxt = self.parse(records[j].value or b"")
                    except Exception:
                        break
                    if self.batch_handlers.get(nxt.type) is not batch_handler:
                        break  # a run goes to one batch handler (it may take several types)
                    group.append((records[j], nxt))
                    j += 1
                ok = await self._handle_group(batch_handler, group)
                if ok is None:
                    return tp, last
                if ok:
                    last, i = group[-1][0].offset, j
                    continue
                solo_until = j  # a poison inside the group: isolate it one by one
            outcome = await self._handle_one(record, event)
            if outcome is None:
                return tp, last  # stopping during a transient fault: redelivered later
            last, i = record.offset, i + 1
        return tp, last

    async def _handle_group(
        self, handler: BatchHandler, group: list[tuple[ConsumerRecord[bytes, bytes], Event]]
    ) -> bool | None:
        events = [e for _, e in group]
        correlation_id.set(events[0].correlation_id)
        start = time.perf_counter()
        try:
            await self._with_transient_retry(lambda: handler(events), events[0].type)
        except _Stopping:
            return None
        except Exception:
            log.warning("batch handler failed; retrying one by one", exc_info=True)
            return False
        metrics.handler_seconds.labels(self.settings.service, events[0].type).observe(
            time.perf_counter() - start
        )
        for record, event in group:
            self._count(record.topic, event.type, "handled")
        return True

    async def _handle_one(self, record: ConsumerRecord[bytes, bytes], event: Event) -> bool | None:
        handler = self.handlers.get(event.type)
        batch_handler = self.batch_handlers.get(event.type)
        if handler is None and batch_handler is not None:
            bh = batch_handler

            async def handler_fn(e: Event) -> None:
                await bh([e])

            handler = handler_fn
        if handler is None:
            self._count(record.topic, event.type, "ignored")
            return True
        correlation_id.set(event.correlation_id)
        h = handler
        tries = 0
        last_error = ""

        async def once() -> None:
            nonlocal tries
            tries += 1
            start = time.perf_counter()
            await self._with_transient_retry(lambda: h(event), event.type)
            metrics.handler_seconds.labels(self.settings.service, event.type).observe(
                time.perf_counter() - start
            )

        def failed(exc: BaseException) -> None:
            nonlocal last_error
            last_error = "".join(traceback.format_exception_only(exc)).strip()
            metrics.handler_retries_total.labels(self.settings.service, event.type, "false").inc()
            log.warning(
                "handler failed",
                extra={
                    "event_type": event.type,
                    "event_id": str(event.id),
                    "attempt": tries,
                    "error": last_error,
                },
            )

        try:
            await retry(
                once,
                backoff=Backoff(first_s=self.retry_backoff_s, max_s=float("inf")),
                when=lambda exc: not isinstance(exc, _Stopping),
                attempts=self.max_attempts,
                on_retry=failed,
            )
            self._count(record.topic, event.type, "handled")
            return True
        except _Stopping:
            return None
        except Exception as exc:
            failed(exc)
        done = await self._deadletter(record, last_error, attempts=tries)
        return True if done else None

    def _is_transient(self, exc: BaseException) -> bool:
        """An infrastructure fault: a listed type, or FerretDB's SQLite backend answering "database
        is locked" (SQLITE_BUSY, an OperationFailure) while another writer holds the file. A
        broker's answer that will never change (a message too large) is not one."""
        if isinstance(exc, PERMANENT_KAFKA_ERRORS):
            return False
        if isinstance(exc, self.transient_errors):
            return True
        return is_store_busy(exc)

    async def _with_transient_retry(
        self, call: Callable[[], Awaitable[None]], event_type: str
    ) -> None:
        """Run `call`; on an infrastructure fault wait and retry until it works or we stop."""

        def noted(exc: BaseException) -> None:
            metrics.handler_retries_total.labels(self.settings.service, event_type, "true").inc()
            log.warning("transient fault; will retry", extra={"error": repr(exc)})

        try:
            await retry(
                call,
                backoff=TRANSIENT_BACKOFF,
                when=self._is_transient,
                give_up=self._stopping.is_set,
                on_retry=noted,
            )
        except Exception as exc:
            if self._is_transient(exc) and self._stopping.is_set():
                raise _Stopping from exc
            raise

    async def _deadletter(
        self, record: ConsumerRecord[bytes, bytes], error: str, *, attempts: int
    ) -> bool:
        """Publish the record to the dead-letter topic. One the broker refuses for good (too
        large) goes again with its value cut to `DEADLETTER_VALUE_MAX` characters; if even that
        is refused, the record is logged with its place in the topic (the topic keeps it) and the
        partition goes on rather than stall every event after it."""
        key = record.key.decode("utf-8", "replace") if record.key else None
        value = (record.value or b"").decode("utf-8", "replace")
        for cut in (False, True):
            if cut:
                size = len(record.value or b"")
                value = value[:DEADLETTER_VALUE_MAX] + f"…[cut: the message was {size} bytes]"
            event = MessageDeadLettered.new(
                DeadLetterData(
                    original_topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                    original_key=key,
                    value=value,
                    error=error[:4000],
                    attempts=attempts,
                    consumer_group=self.group,
                    failed_at=utcnow(),
                ),
                key=key or f"{record.topic}:{record.partition}:{record.offset}",
                producer=self.settings.service,
            )
            try:
                await self._with_transient_retry(
                    functools.partial(self.publisher.publish, event), event.type
                )
                break
            except _Stopping:
                return False
            except PERMANENT_KAFKA_ERRORS as exc:
                log.error(
                    "dead letter refused by the broker",
                    extra={"topic": record.topic, "offset": record.offset, "error": repr(exc)},
                )
                if cut:
                    metrics.deadletters_total.labels(self.settings.service, "unpublishable").inc()
                    return True
        metrics.deadletters_total.labels(self.settings.service, record.topic).inc()
        self._count(record.topic, "deadletter", "deadlettered")
        log.error(
            "message dead-lettered",
            extra={
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "error": error[:500],
            },
        )
        return True

    def _count(self, topic: str, event_type: str, outcome: str) -> None:
        metrics.events_consumed_total.labels(
            self.settings.service, topic, event_type, outcome
        ).inc()


class _Stopping(Exception):
    """Raised inside a transient retry loop when the runner is asked to stop."""


class _FinishBeforeRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    """A rebalance waits for the batch in hand to be handled and committed before this member
    gives its partitions up, so the next owner starts after it (nothing handled twice)."""

    def __init__(self, idle: asyncio.Event) -> None:
        self._idle = idle

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self._idle.wait()

    async def on_partitions_assigned(self, assigned: Any) -> None:
        return None
