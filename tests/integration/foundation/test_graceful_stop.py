"""Graceful stop of a consumer (what SIGTERM leads to through the app's lifespan): the handler in
flight finishes, its offset is committed, and the next member of the group does not redo it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from shared.events import PatrolStarted, PatrolStartedData
from shared.kafka import ConsumerRunner, Publisher, ensure_topics
from shared.settings import Settings
from shared.topics import PATROL
from tests.support.kafka import wait_until


def started(patrol_id: str) -> PatrolStarted:
    data = PatrolStartedData(patrol_id=patrol_id, ranger_id="rg-1", village="500114001001",
                             started_at=datetime(2026, 3, 1, tzinfo=UTC))
    return PatrolStarted.new(data, key="rg-1", producer="test")


async def test_stop_finishes_the_handler_in_flight_and_commits_it(
    settings_for: Callable[..., Settings],
) -> None:
    settings = settings_for(Settings, service="stoptest")
    await ensure_topics(settings)
    publisher = Publisher(settings)
    await publisher.start()
    entered = asyncio.Event()
    finished: list[str] = []

    async def slow(event: PatrolStarted) -> None:
        entered.set()
        await asyncio.sleep(1.5)  # a handler busy storing its effects when SIGTERM arrives
        finished.append(event.data.patrol_id)

    def runner() -> ConsumerRunner:
        return ConsumerRunner(settings, name="stop", topics=[PATROL],
                              handlers={"patrol.started": slow}, publisher=publisher)

    first = runner()
    await first.start()
    await publisher.publish(started("p-in-flight"))
    await asyncio.wait_for(entered.wait(), 30)
    await first.stop()
    assert finished == ["p-in-flight"], "the handler in flight must finish before the stop returns"

    second = runner()
    await second.start()
    try:
        await publisher.publish(started("p-next"))
        await wait_until(lambda: "p-next" in finished, timeout_s=30)
        await asyncio.sleep(0.5)
    finally:
        await second.stop()
        await publisher.stop()
    assert finished == ["p-in-flight", "p-next"], "a committed event must not be handled again"
