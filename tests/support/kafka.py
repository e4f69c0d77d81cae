"""Test helpers for the real broker: read what a service published, wait for a condition."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer

from shared.events import Event, parse_event
from shared.settings import Settings


async def wait_until(predicate: Callable[[], Any], timeout_s: float = 20.0) -> Any:
    """Poll `predicate` (sync or async) until it returns something truthy; returns that."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


async def read_topic(
    settings: Settings, topic: str, count: int, timeout_s: float = 20.0
) -> list[Event]:
    """Read at least `count` events (or until the timeout) from the start of a logical topic."""
    consumer = AIOKafkaConsumer(
        settings.topic(topic),
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    out: list[Event] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while len(out) < count and loop.time() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                out.extend(parse_event(r.value) for r in records if r.value)
    finally:
        await consumer.stop()
    return out
