"""Fixes from the endpoint through the points event to the store, on fakes: what a batch must be,
that redelivery and resends double nothing, that order does not matter, and what is announced."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.patrol.domain.track import Fix, summarize
from services.patrol.usecases.common import quality_rules
from services.patrol.usecases.intake import PointIn
from services.patrol.usecases.storing import ReceivedFixes
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from shared.events import PatrolFinished, PatrolPointsReceived, PositionUpdated, parse_event
from shared.geo import haversine_m, wgs84_to_gcj02
from tests.unit.patrol.conftest import NOW, RANGER, RANGER_2, VILLAGE_CHIEF, Patrols, walk

START = NOW - timedelta(hours=1)


async def started(patrols: Patrols, patrol_id: str = "p-1") -> None:
    await patrols.use.flows.start(patrols.person(RANGER), patrol_id, START)


async def test_points_event_matches_contract(patrols: Patrols) -> None:
    await started(patrols)
    await patrols.use.intake.ingest(patrols.person(RANGER), "p-1", walk(START, 3), "wgs84")
    topic, value, key = patrols.publisher.raw[0]
    event = parse_event(value)
    assert isinstance(event, PatrolPointsReceived)
    assert topic.endswith("hulin.patrol.points") and key == RANGER.encode()
    assert event.key == RANGER and event.data.patrol_id == "p-1"
    assert [p.seq for p in event.data.points] == [0, 1, 2]


async def test_a_redelivered_fix_batch_doubles_nothing(patrols: Patrols) -> None:
    await started(patrols)
    await patrols.use.intake.ingest(patrols.person(RANGER), "p-1", walk(START, 20), "wgs84")
    await patrols.deliver()
    once = await patrols.store.track("p-1")
    patrols.delivered = 0  # the consumer crashed before committing: the same records again
    await patrols.deliver()
    twice = await patrols.store.track("p-1")
    assert once is not None and twice is not None
    assert twice.summary.points == once.summary.points == 20
    assert twice.summary.distance_m == pytest.approx(once.summary.distance_m)
    assert len(await patrols.store.fixes_of("p-1")) == 20


async def test_a_resent_batch_is_counted_as_duplicates_and_stored_once(patrols: Patrols) -> None:
    await started(patrols)
    points = walk(START, 10)
    assert await patrols.send(RANGER, "p-1", points) == (10, 0)
    assert await patrols.send(RANGER, "p-1", points[5:] + walk(START, 5, seq0=10)) == (10, 5)
    assert await patrols.send(RANGER, "p-1", [points[0], points[0]]) == (2, 2)
    track = await patrols.store.track("p-1")
    assert track is not None and track.summary.points == 15


async def test_fixes_out_of_order_make_the_same_track_as_in_order(patrols: Patrols) -> None:
    await started(patrols, "in-order")
    await started(patrols, "shuffled")
    points = walk(START, 30)
    for lo in range(0, 30, 10):
        await patrols.send(RANGER, "in-order", points[lo : lo + 10])
    for lo in (20, 0, 10):
        await patrols.send(RANGER, "shuffled", points[lo : lo + 10])
    a, b = await patrols.store.track("in-order"), await patrols.store.track("shuffled")
    assert a is not None and b is not None
    assert b.summary.points == a.summary.points == 30
    assert b.summary.distance_m == pytest.approx(a.summary.distance_m)
    assert b.summary.seq_ranges == a.summary.seq_ranges == ((0, 29),)
    stored = await patrols.store.fixes_of("shuffled")
    whole = summarize(stored, quality_rules(patrols.policy))
    assert b.summary.distance_m == pytest.approx(whole.distance_m)


async def test_late_points_after_the_finish_publish_a_revised_finished(patrols: Patrols) -> None:
    await started(patrols)
    await patrols.send(RANGER, "p-1", walk(START, 10))
    await patrols.use.flows.finish(patrols.person(RANGER), "p-1", START + timedelta(minutes=30))
    await patrols.send(RANGER, "p-1", walk(START, 10, seq0=10))
    finished = patrols.publisher.of_type("patrol.finished")
    assert [e.data.revision for e in finished if isinstance(e, PatrolFinished)] == [0, 2]
    revised = finished[-1]
    assert isinstance(revised, PatrolFinished) and revised.data.points == 20
    moved = patrols.publisher.of_type("patrol.position_updated")[-1]
    assert isinstance(moved, PositionUpdated) and moved.data.on_patrol is False


async def test_a_position_is_announced_only_when_it_moves_forward(patrols: Patrols) -> None:
    await started(patrols)
    await patrols.send(RANGER, "p-1", walk(START, 10, seq0=10))
    await patrols.send(RANGER, "p-1", walk(START, 10))  # older fixes synced late
    moves = patrols.publisher.of_type("patrol.position_updated")
    assert len(moves) == 1
    assert isinstance(moves[0], PositionUpdated) and moves[0].data.t == START + timedelta(
        seconds=19 * 15
    )


async def test_points_for_an_unknown_patrol_are_dropped(patrols: Patrols) -> None:
    fix = Fix(0, START.timestamp(), 29.4, 108.6, None)
    await patrols.use.storing.store_batches([ReceivedFixes("ghost", NOW, [fix])])
    assert patrols.publisher.events == [] and await patrols.store.track("ghost") is None


async def test_a_batch_is_refused_whole_when_it_breaks_a_rule(patrols: Patrols) -> None:
    await started(patrols)
    intake, rg = patrols.use.intake, patrols.person(RANGER)
    limit = patrols.policy.patrol.max_points_per_batch
    with pytest.raises(InvalidInput) as e:
        await intake.ingest(rg, "p-1", walk(START, limit + 1, step_s=1), "wgs84")
    assert e.value.field == "points"
    with pytest.raises(InvalidInput) as e:
        await intake.ingest(rg, "p-1", walk(START - timedelta(minutes=1), 2), "wgs84")
    assert e.value.field == "points[0].t"
    with pytest.raises(NotFound):
        await intake.ingest(rg, "p-404", walk(START, 2), "wgs84")
    with pytest.raises(NotFound):
        await intake.ingest(patrols.person(RANGER_2), "p-1", walk(START, 2), "wgs84")
    with pytest.raises(Forbidden):
        await intake.ingest(patrols.person(VILLAGE_CHIEF), "p-1", walk(START, 2), "wgs84")
    assert patrols.publisher.raw == []


async def test_points_are_accepted_until_the_late_window_after_the_finish_closes(
    patrols: Patrols,
) -> None:
    await started(patrols)
    await patrols.use.flows.finish(patrols.person(RANGER), "p-1", NOW)
    intake, rg = patrols.use.intake, patrols.person(RANGER)
    window = patrols.policy.patrol.late_points_accept_s
    patrols.clock.advance(window)
    assert await intake.ingest(rg, "p-1", walk(START, 2), "wgs84") == (2, 0)
    patrols.clock.advance(1)
    with pytest.raises(Conflict):
        await intake.ingest(rg, "p-1", walk(START, 2), "wgs84")


async def test_gcj02_fixes_are_stored_as_wgs84(patrols: Patrols) -> None:
    await started(patrols)
    points = walk(START, 3)
    shifted: list[PointIn] = []
    for p in points:
        lat, lon = wgs84_to_gcj02(p["lat"], p["lon"])
        shifted.append({**p, "lat": lat, "lon": lon})
    await patrols.use.intake.ingest(patrols.person(RANGER), "p-1", shifted, "gcj02")
    await patrols.deliver()
    stored = sorted(await patrols.store.fixes_of("p-1"))
    for f, p in zip(stored, points, strict=True):
        assert haversine_m(f.lat, f.lon, p["lat"], p["lon"]) < 0.05
