"""The patrol store port's contract (services/patrol/store.py): the same tests on the in-memory
fake and on the MongoDB adapter over FerretDB, so neither can drift from what use cases rely on —
newest-first lists, one copy per seq with the latest winning, a duplicate batch is success, one
overdue claim per patrol, day summaries kept per basis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from services.patrol.domain.compliance import DayPart, PatrolDays
from services.patrol.domain.patrol import FINISHED, Patrol
from services.patrol.domain.track import Fix, QualityFlags, TrackSummary
from services.patrol.repository import MongoPatrolStore
from services.patrol.settings import PatrolSettings
from services.patrol.store import KeptDays, ListMark, PatrolStore, Position, StoredTrack
from shared import db as dbmod
from tests.fakes.patrol_store import InMemoryPatrolStore

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
VILLAGES = ("500114001001", "500114002001")


@pytest.fixture(params=["fake", "ferretdb"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[PatrolStore]:
    if request.param == "fake":
        yield InMemoryPatrolStore()
        return
    # The real store only (its own database, dropped afterwards): no Kafka topics to clean.
    request.getfixturevalue("infra")
    isolation: dict[str, str] = request.getfixturevalue("isolation")
    s = PatrolSettings(**isolation)  # type: ignore[arg-type]
    client = dbmod.connect(s)
    try:
        yield MongoPatrolStore(dbmod.database(client, s))
    finally:
        await client.drop_database(s.database_name)
        await client.close()


def patrol(n: int, ranger: str = "rg-a", village: str = VILLAGES[0], *, days: float = 0) -> Patrol:
    return Patrol(
        id=f"p-{n:03d}",
        ranger_id=ranger,
        village=village,
        scope_units=(village, village[:9], village[:6]),
        started_at=T0 + timedelta(days=days),
        created_at=T0,
    )


def ids(patrols: list[Patrol]) -> list[str]:
    return [p.id for p in patrols]


def walk(n: int, *, seq0: int = 0, lat0: float = 29.41) -> list[Fix]:
    return [
        Fix(seq0 + i, T0.timestamp() + 15 * (seq0 + i), lat0 + 0.0001 * i, 108.648, 5.0)
        for i in range(n)
    ]


def track_of(fixes: list[Fix], revision: int = 1) -> StoredTrack:
    summary = TrackSummary(
        points=len(fixes),
        distance_m=123.25,
        first=fixes[0],
        last=fixes[-1],
        flags=QualityFlags(speed=1, gaps=2, gap_s_total=900.0, examples={"gap": [3, 7]}),
        seq_ranges=((fixes[0].seq, fixes[-1].seq),),
    )
    at = T0 + timedelta(minutes=30)
    return StoredTrack(summary, revision, last_point_at=at, last_received_at=at, last_seen_at=at)


async def test_a_patrol_is_stored_once_and_a_second_start_gets_the_stored_one(
    store: PatrolStore,
) -> None:
    first = patrol(1)
    assert await store.start(first) == (True, first)
    assert await store.start(replace(first, started_at=T0 + timedelta(hours=1))) == (False, first)
    assert await store.patrol("p-001") == first
    assert await store.patrol("p-404") is None


async def test_announcements_are_remembered_and_listed(store: PatrolStore) -> None:
    await store.start(patrol(1))
    await store.mark_announced("p-001", "started")
    stored = await store.patrol("p-001")
    assert stored is not None and stored.started_published and not stored.finished_published
    assert (await store.patrols_of(["rg-a"]))[0].started_published
    await store.mark_announced("p-001", "finished")
    stored = await store.patrol("p-001")
    assert stored is not None and stored.finished_published


async def test_a_patrol_finishes_once_and_leaves_the_open_work(store: PatrolStore) -> None:
    for n in range(1, 4):
        await store.start(patrol(n, days=n))
    ended, now = T0 + timedelta(days=1, hours=3), T0 + timedelta(days=2)
    done = await store.finish("p-001", ended_at=ended, now=now)
    assert done is not None
    assert (done.ended_at, done.finished_at, done.status) == (ended, now, FINISHED)
    assert await store.finish("p-001", ended_at=T0 + timedelta(days=9), now=now) is None
    assert await store.patrol("p-001") == done
    assert ids(await store.open_patrols()) == ["p-003", "p-002"]
    listed = {p.id: p for p in await store.patrols_of(["rg-a"])}
    assert listed["p-001"] == done


async def test_a_rangers_and_a_units_patrols_over_a_period_come_newest_first(
    store: PatrolStore,
) -> None:
    for n in range(1, 7):
        ranger, village = ("rg-a", VILLAGES[0]) if n % 2 else ("rg-b", VILLAGES[1])
        await store.start(patrol(n, ranger, village, days=n))
    await store.start(patrol(1))  # a retried start lists it once

    period = {"started_from": T0 + timedelta(days=2), "started_to": T0 + timedelta(days=6)}
    assert ids(await store.patrols_of(["rg-a"])) == ["p-005", "p-003", "p-001"]
    assert ids(await store.patrols_of(["rg-a", "rg-b"], **period)) == [
        "p-005",
        "p-004",
        "p-003",
        "p-002",
    ]
    assert ids(await store.patrols_of(["rg-a", "rg-b"], limit=2)) == ["p-006", "p-005"]
    assert ids(await store.patrols_in(VILLAGES[1][:9])) == ["p-006", "p-004", "p-002"]
    assert ids(await store.patrols_in("500114", limit=2)) == ["p-006", "p-005"]
    assert ids(await store.patrols_in(VILLAGES[0], **period)) == ["p-005", "p-003"]
    assert await store.patrols_of(["rg-a"], unit=VILLAGES[1]) == []
    assert ids(await store.patrols_of(["rg-a"], unit="500114")) == ["p-005", "p-003", "p-001"]


async def test_a_list_goes_on_after_a_mark_in_newest_first_order(store: PatrolStore) -> None:
    for n in range(1, 6):
        await store.start(patrol(n, days=n // 2))  # p-002 and p-003 start at the same time
    mark = ListMark(T0 + timedelta(days=1), "p-003")
    assert ids(await store.patrols_in(VILLAGES[0], after=mark)) == ["p-002", "p-001"]
    assert ids(await store.patrols_of(["rg-a"], after=mark, limit=1)) == ["p-002"]
    top = ListMark(T0 + timedelta(days=2), "p-005")
    assert ids(await store.patrols_in("500114", after=top, limit=2)) == ["p-004", "p-003"]


async def test_fixes_and_the_track_they_make_are_stored_together(store: PatrolStore) -> None:
    await store.start(patrol(1))
    assert await store.track("p-001") is None
    assert await store.seq_ranges("p-001") == ()
    assert await store.fixes_of("p-001") == []
    fixes = walk(10)
    fixes[3] = fixes[3]._replace(accuracy_m=None)
    track = track_of(fixes)
    await store.append_fixes("p-001", fixes, track)

    assert await store.track("p-001") == track
    assert await store.seq_ranges("p-001") == ((0, 9),)
    assert sorted(await store.fixes_of("p-001")) == sorted(fixes)
    head = (await store.track_heads(["p-001", "p-404"]))["p-001"]
    assert head.summary.seq_ranges == () and head.summary.flags.examples == {}
    assert head.summary.points == 10 and head.last_seen_at == track.last_seen_at
    assert await store.track_heads([]) == {}


async def test_a_redelivered_batch_is_success_and_a_later_copy_of_a_seq_wins(
    store: PatrolStore,
) -> None:
    await store.start(patrol(1))
    fixes = walk(10)
    await store.append_fixes("p-001", fixes, track_of(fixes, 1))
    await store.append_fixes("p-001", fixes, track_of(fixes, 2))
    assert sorted(await store.fixes_of("p-001")) == sorted(fixes)

    moved = [f._replace(lat=f.lat + 1) for f in walk(5, seq0=8)]
    await store.append_fixes("p-001", moved, track_of(walk(13), 3))
    stored = {f.seq: f for f in await store.fixes_of("p-001")}
    assert sorted(stored) == list(range(13))
    assert stored[8] == moved[0] and stored[7] == fixes[7]
    track = await store.track("p-001")
    assert track is not None and track.revision == 3


async def test_a_position_moves_only_forward_in_time(store: PatrolStore) -> None:
    def at(minutes: int, ranger: str = "rg-a", village: str = VILLAGES[0]) -> Position:
        t = T0 + timedelta(minutes=minutes)
        return Position(ranger, "p-001", village, 29.41 + minutes / 1000, 108.648, t, 5.0)

    assert await store.move_position(at(10))
    assert not await store.move_position(at(5))
    assert not await store.move_position(at(10))
    assert await store.move_position(at(20))
    vague = replace(at(1, "rg-0"), accuracy_m=None)
    assert await store.move_position(vague)
    assert await store.move_position(at(1, "rg-z", VILLAGES[1]))
    assert await store.positions_in([VILLAGES[0]]) == [vague, at(20)]
    assert [p.ranger_id for p in await store.positions_in(VILLAGES)] == ["rg-0", "rg-a", "rg-z"]
    assert await store.positions_in([]) == []


async def test_one_overdue_claim_per_patrol_until_its_lease_expires(store: PatrolStore) -> None:
    lease = T0 + timedelta(minutes=1)
    assert await store.claim_overdue("p-001", "a", now=T0, lease_until=lease)
    assert not await store.claim_overdue("p-001", "b", now=T0, lease_until=lease)
    # a crashed claimant's lease runs out: another takes over
    later = lease + timedelta(seconds=1)
    assert await store.claim_overdue("p-001", "c", now=later, lease_until=later)
    await store.release_overdue("p-001", "a")  # not the holder: nothing happens
    assert not await store.claim_overdue("p-001", "d", now=later, lease_until=later)
    await store.release_overdue("p-001", "c")
    assert await store.claim_overdue("p-001", "e", now=later, lease_until=later)
    assert await store.overdue_announced(["p-001"]) == set()
    await store.mark_overdue_published("p-001", "e", later)
    assert await store.overdue_announced(["p-001", "p-002"]) == {"p-001"}
    await store.release_overdue("p-001", "e")  # published: stays
    far = later + timedelta(days=1)
    assert not await store.claim_overdue("p-001", "f", now=far, lease_until=far)
    assert await store.overdue_announced([]) == set()


def days_of(pid: str, *, distance: float = 1500.5, last: float | None = 1e9) -> PatrolDays:
    parts = (
        DayPart(date(2026, 3, 1), distance, 3600.0, distance / 2, 1800.25),
        DayPart(date(2026, 3, 2), 10.0, 60.0, 0.0, 0.0),
    )
    return PatrolDays(pid, T0.timestamp(), 7200.0, parts, last)


async def test_a_day_summary_is_kept_per_basis_and_replaced_by_a_later_one(
    store: PatrolStore,
) -> None:
    await store.keep_day_summary("b1", 3, days_of("p-001"))
    await store.keep_day_summary("b2", 3, days_of("p-001", distance=99.0))
    await store.keep_day_summary("b1", 1, days_of("p-002", last=None))
    kept = await store.day_summaries(["p-001", "p-002", "p-404"], "b1")
    assert set(kept) == {"p-001", "p-002"}
    assert kept["p-001"] == KeptDays(days_of("p-001"), 3)
    assert kept["p-002"].days.last_fix_t is None and kept["p-002"].revision == 1
    assert (await store.day_summaries(["p-001"], "b2"))["p-001"].days.days[0].distance_m == 99.0
    await store.keep_day_summary("b1", 4, days_of("p-001", distance=7.0))
    again = await store.day_summaries(["p-001"], "b1")
    assert again["p-001"].revision == 4 and again["p-001"].days.days[0].distance_m == 7.0
    assert await store.day_summaries([], "b1") == {}
