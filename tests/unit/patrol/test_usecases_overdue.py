"""The overdue scan on fakes: a silent patrol is announced once when the clock passes its limit,
a patrol that keeps sending is not, and a publish that failed is retried by the next scan."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.events import PatrolOverdue
from tests.fakes.publisher import PublishFailed
from tests.unit.patrol.conftest import NOW, RANGER, VILLAGE_CHIEF, Patrols, walk


async def test_a_patrol_past_its_limit_is_reported_overdue_once_when_the_clock_moves(
    patrols: Patrols,
) -> None:
    await patrols.use.flows.start(patrols.person(RANGER), "p-1", NOW)
    limit = patrols.policy.patrol.overdue_after_s
    patrols.clock.advance(limit - 1)
    assert await patrols.use.overdue.scan_overdue() == 0
    patrols.clock.advance(1)
    assert await patrols.use.overdue.scan_overdue() == 1
    patrols.clock.advance(limit)
    assert await patrols.use.overdue.scan_overdue() == 0

    [event] = patrols.publisher.of_type("patrol.overdue")
    assert isinstance(event, PatrolOverdue)
    assert event.data.patrol_id == "p-1" and event.data.overdue_since == NOW + timedelta(
        seconds=limit
    )
    read = await patrols.use.reads.patrol(patrols.person(VILLAGE_CHIEF), "p-1")
    assert read.overdue


async def test_a_patrol_that_keeps_sending_or_has_finished_is_not_overdue(
    patrols: Patrols,
) -> None:
    rg = patrols.person(RANGER)
    await patrols.use.flows.start(rg, "busy", NOW)
    await patrols.use.flows.start(rg, "done", NOW)
    await patrols.use.flows.finish(rg, "done", NOW + timedelta(minutes=5))
    limit = patrols.policy.patrol.overdue_after_s
    patrols.clock.advance(limit - 60)
    await patrols.send(RANGER, "busy", walk(patrols.clock.now() - timedelta(seconds=1), 1))
    patrols.clock.advance(120)
    assert await patrols.use.overdue.scan_overdue() == 0
    patrols.clock.advance(limit)
    assert await patrols.use.overdue.scan_overdue() == 1
    [event] = patrols.publisher.of_type("patrol.overdue")
    assert isinstance(event, PatrolOverdue) and event.data.patrol_id == "busy"


async def test_a_failed_announcement_is_retried_by_the_next_scan_with_the_same_id(
    patrols: Patrols,
) -> None:
    await patrols.use.flows.start(patrols.person(RANGER), "p-1", NOW)
    patrols.clock.advance(patrols.policy.patrol.overdue_after_s)
    patrols.publisher.failing = True
    with pytest.raises(PublishFailed):
        await patrols.use.overdue.scan_overdue()
    patrols.publisher.failing = False
    assert await patrols.use.overdue.scan_overdue() == 1
    assert await patrols.use.overdue.scan_overdue() == 0
    assert len(patrols.publisher.of_type("patrol.overdue")) == 1
