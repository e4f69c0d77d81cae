"""The Kafka plumbing against the real broker and FerretDB: at-least-once delivery with effects
stored exactly once, dead letters for messages that cannot be handled, and the consumer going on."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import orjson
from pymongo.errors import AutoReconnect

from shared import db as dbmod
from shared.events import (
    MessageDeadLettered,
    PatrolStarted,
    PatrolStartedData,
)
from shared.kafka import ConsumerRunner, Publisher, ensure_topics
from shared.settings import Settings
from shared.topics import DEADLETTER, PATROL
from tests.support.kafka import read_topic, wait_until


def started(patrol_id: str, ranger: str = "rg-500114001001-1") -> PatrolStarted:
    return PatrolStarted.new(
        PatrolStartedData(
            patrol_id=patrol_id, ranger_id=ranger, village="500114001001",
            started_at=datetime(2026, 3, 1, 8, 0, tzinfo=UTC),
        ),
        key=ranger,
        producer="test",
    )


async def test_effect_is_stored_once_when_the_same_event_is_delivered_twice(
    settings_for: Callable[..., Settings],
) -> None:
    settings = settings_for(Settings, service="itest")
    await ensure_topics(settings)
    client = dbmod.connect(settings)
    db = dbmod.database(client, settings)
    publisher = Publisher(settings)
    await publisher.start()
    calls: list[str] = []
    flaky_once = {"armed": True}

    async def on_started(event: PatrolStarted) -> None:
        calls.append(str(event.id))
        doc = {"_id": str(event.id), "patrol": event.data.patrol_id}
        await dbmod.insert_once(db, "effects", doc)
        if flaky_once["armed"] and event.data.patrol_id == "p-flaky":
            # the effect is stored, then the database "goes away" before the commit: retried
            flaky_once["armed"] = False
            raise AutoReconnect("simulated connection loss")

    def runner() -> ConsumerRunner:
        return ConsumerRunner(
            settings, name="effects", topics=[PATROL],
            handlers={"patrol.started": on_started}, publisher=publisher,
        )

    first = runner()
    await first.start()
    try:
        event = started("p-1")
        await publisher.publish(event)
        await publisher.publish(event)  # an at-least-once producer resending the same event
        await publisher.publish(started("p-flaky"))
        await wait_until(lambda: len(calls) >= 4)
        await asyncio.sleep(1.0)
    finally:
        await first.stop()

    assert calls.count(str(event.id)) == 2
    assert await db["effects"].count_documents({}) == 2
    assert await db["effects"].count_documents({"patrol": "p-1"}) == 1

    # A new member of the group starts from the committed offsets: nothing is handled again.
    calls.clear()
    second = runner()
    await second.start()
    try:
        await publisher.publish(started("p-2"))
        await wait_until(lambda: len(calls) >= 1)
        await asyncio.sleep(1.0)
    finally:
        await second.stop()
        await publisher.stop()
    assert len(calls) == 1
    assert await db["effects"].count_documents({}) == 3
    await client.close()


async def test_failing_handler_dead_letters_and_the_consumer_goes_on(
    settings_for: Callable[..., Settings],
) -> None:
    settings = settings_for(Settings, service="itest")
    await ensure_topics(settings)
    publisher = Publisher(settings)
    await publisher.start()
    handled: list[str] = []

    async def on_started(event: PatrolStarted) -> None:
        if event.data.patrol_id.startswith("bad"):
            raise ValueError(f"cannot handle {event.data.patrol_id}")
        handled.append(event.data.patrol_id)

    runner = ConsumerRunner(
        settings, name="dlq", topics=[PATROL], handlers={"patrol.started": on_started},
        publisher=publisher, retry_backoff_s=0.01,
    )
    await runner.start()
    try:
        bad = started("bad-1")
        await publisher.publish(bad)
        # a poison message that is not even JSON, then a good event after both
        await publisher.send_raw(settings.topic(PATROL), b"\x00not json", key=b"rg-x")
        await publisher.publish(started("good-1"))
        await wait_until(lambda: "good-1" in handled)
    finally:
        await runner.stop()
        await publisher.stop()

    letters = await read_topic(settings, DEADLETTER, 2)
    assert all(isinstance(x, MessageDeadLettered) for x in letters)
    assert len(letters) == 2
    failed = next(x for x in letters if "cannot handle bad-1" in x.data.error)
    assert failed.data.attempts == 3
    assert orjson.loads(failed.data.value)["id"] == str(bad.id)
    assert failed.data.original_topic == settings.topic(PATROL)
    poison = next(x for x in letters if x is not failed)
    assert "unparseable" in poison.data.error and poison.data.original_key == "rg-x"
    assert handled == ["good-1"]


async def test_publisher_replaces_a_producer_the_broker_no_longer_accepts(
    settings_for: Callable[..., Settings],
) -> None:
    """After a broker restart aiokafka's idempotent producer can fail every send with
    OutOfOrderSequenceNumber; the publisher must start a new producer and send again."""
    from aiokafka.errors import OutOfOrderSequenceNumber

    settings = settings_for(Settings, service="itest")
    await ensure_topics(settings)
    publisher = Publisher(settings)
    await publisher.start()
    tries: list[int] = []

    async def stuck_once() -> None:
        tries.append(id(publisher._producer))
        if len(tries) == 1:
            raise OutOfOrderSequenceNumber()
        await publisher.publish(started("after-reset"))

    try:
        await publisher._with_producer_recovery(stuck_once)
        assert len(tries) == 2 and tries[0] != tries[1], "a new producer must be used"
        await publisher.publish(started("later"))
    finally:
        await publisher.stop()
    got = [e.data.patrol_id for e in await read_topic(settings, PATROL, 2)]  # type: ignore[attr-defined]
    assert got == ["after-reset", "later"]


async def test_a_rebalance_during_a_batch_neither_kills_the_loop_nor_hands_the_batch_twice(
    settings_for: Callable[..., Settings],
) -> None:
    """A second member joins while the first is in the middle of a slow batch: the first finishes
    and commits that batch before giving partitions up, and both go on reading (a partition taken
    away mid-batch used to stop the first member's loop for good)."""
    settings = settings_for(Settings, service="itest")
    await ensure_topics(settings)
    publisher = Publisher(settings)
    await publisher.start()
    handled: list[str] = []
    in_batch = asyncio.Event()

    async def slow(events: list[PatrolStarted]) -> None:
        in_batch.set()
        await asyncio.sleep(2.0)
        handled.extend(e.data.patrol_id for e in events)

    def runner() -> ConsumerRunner:
        return ConsumerRunner(
            settings, name="rebalance", topics=[PATROL], handlers={},
            batch_handlers={"patrol.started": slow}, publisher=publisher,
        )

    first, second = runner(), runner()
    await first.start()
    try:
        await asyncio.wait_for(first.assigned.wait(), 30)
        rangers = [f"rg-500114001001-{i}" for i in range(1, 13)]
        await publisher.publish_many([started(f"p-a{i}", r) for i, r in enumerate(rangers)])
        await asyncio.wait_for(in_batch.wait(), 30)
        await second.start()  # joins mid-batch: the group rebalances
        await asyncio.wait_for(second.assigned.wait(), 30)
        await publisher.publish_many([started(f"p-b{i}", r) for i, r in enumerate(rangers)])
        await wait_until(lambda: len(set(handled)) >= 24, timeout_s=60)
        await asyncio.sleep(3.0)  # anything handled twice would show up by now
        assert first.running and second.running
    finally:
        await second.stop()
        await first.stop()
        await publisher.stop()
    assert sorted(handled) == sorted(
        [f"p-a{i}" for i in range(12)] + [f"p-b{i}" for i in range(12)]
    )
