"""Starting and finishing patrols on fakes: who may, what a resend does, and what is published
(only after it is stored, and once)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.patrol.domain.track import haversine_m
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from shared.events import PatrolFinished, PatrolStarted
from tests.fakes.publisher import PublishFailed
from tests.unit.patrol.conftest import (
    NOW,
    RANGER,
    RANGER_2,
    VILLAGE,
    VILLAGE_CHIEF,
    Patrols,
    walk,
)

START = NOW - timedelta(hours=1)


async def test_start_then_fixes_then_finish_publishes_finished_with_the_track_distance(
    patrols: Patrols,
) -> None:
    rg = patrols.person(RANGER)
    created, read = await patrols.use.flows.start(rg, "p-1", START)
    assert created and read.patrol.village == VILLAGE and read.patrol.ranger_id == RANGER
    points = walk(START, 40)
    assert await patrols.send(RANGER, "p-1", points) == (40, 0)
    end = START + timedelta(minutes=20)
    done = await patrols.use.flows.finish(rg, "p-1", end)

    assert done.patrol.status == "finished" and done.patrol.ended_at == end
    assert patrols.publisher.types() == [
        "patrol.started",
        "patrol.position_updated",
        "patrol.finished",
    ]
    finished = patrols.publisher.of_type("patrol.finished")[0]
    assert isinstance(finished, PatrolFinished)
    expected = sum(
        haversine_m(a["lat"], a["lon"], b["lat"], b["lon"])
        for a, b in zip(points, points[1:], strict=False)
    )
    assert finished.data.points == 40
    assert finished.data.distance_m == pytest.approx(expected)
    assert finished.data.distance_m == pytest.approx(39 * 0.0001 * 111_195, rel=1e-3)
    assert finished.data.duration_s == 20 * 60 and finished.data.revision == 0
    assert finished.key == RANGER


async def test_a_resent_start_answers_the_stored_patrol_and_publishes_nothing_more(
    patrols: Patrols,
) -> None:
    rg = patrols.person(RANGER)
    await patrols.use.flows.start(rg, "p-1", START)
    created, read = await patrols.use.flows.start(rg, "p-1", START)
    assert not created and read.patrol.started_at == START
    started = patrols.publisher.of_type("patrol.started")
    assert len(started) == 1 and isinstance(started[0], PatrolStarted)


async def test_a_start_resent_with_another_time_or_by_another_ranger_conflicts(
    patrols: Patrols,
) -> None:
    await patrols.use.flows.start(patrols.person(RANGER), "p-1", START)
    with pytest.raises(Conflict) as e:
        await patrols.use.flows.start(patrols.person(RANGER), "p-1", START + timedelta(seconds=1))
    assert e.value.field == "started_at"
    with pytest.raises(Conflict) as e:
        await patrols.use.flows.start(patrols.person(RANGER_2), "p-1", START)
    assert e.value.field == "id"


async def test_only_rangers_start_patrols_and_not_in_the_future(patrols: Patrols) -> None:
    with pytest.raises(Forbidden) as e:
        await patrols.use.flows.start(patrols.person(VILLAGE_CHIEF), "p-1", START)
    assert e.value.field == "role"
    tolerance = patrols.policy.patrol.future_tolerance_s
    with pytest.raises(InvalidInput):
        ahead = NOW + timedelta(seconds=tolerance + 1)
        await patrols.use.flows.start(patrols.person(RANGER), "p-1", ahead)
    assert await patrols.store.patrol("p-1") is None and patrols.publisher.events == []


async def test_a_start_whose_announcement_failed_is_announced_by_the_resend(
    patrols: Patrols,
) -> None:
    rg = patrols.person(RANGER)
    patrols.publisher.failing = True
    with pytest.raises(PublishFailed):
        await patrols.use.flows.start(rg, "p-1", START)
    assert await patrols.store.patrol("p-1") is not None  # stored first
    patrols.publisher.failing = False
    created, _ = await patrols.use.flows.start(rg, "p-1", START)
    assert not created and patrols.publisher.types() == ["patrol.started"]
    await patrols.use.flows.start(rg, "p-1", START)
    assert patrols.publisher.types() == ["patrol.started"]


async def test_finish_is_idempotent_a_different_end_conflicts_and_only_the_ranger_finishes(
    patrols: Patrols,
) -> None:
    rg = patrols.person(RANGER)
    await patrols.use.flows.start(rg, "p-1", START)
    with pytest.raises(Forbidden):
        await patrols.use.flows.finish(patrols.person(VILLAGE_CHIEF), "p-1", NOW)
    with pytest.raises(NotFound):
        await patrols.use.flows.finish(patrols.person(RANGER_2), "p-1", NOW)
    with pytest.raises(InvalidInput) as e:
        await patrols.use.flows.finish(rg, "p-1", START - timedelta(minutes=1))
    assert e.value.field == "ended_at"
    await patrols.use.flows.finish(rg, "p-1", NOW)
    again = await patrols.use.flows.finish(rg, "p-1", NOW)
    assert again.patrol.ended_at == NOW
    with pytest.raises(Conflict):
        await patrols.use.flows.finish(rg, "p-1", NOW - timedelta(minutes=1))
    assert patrols.publisher.types().count("patrol.finished") == 1
    assert [p.id for p in await patrols.store.open_patrols()] == []
