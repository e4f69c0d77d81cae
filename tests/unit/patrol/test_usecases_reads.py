"""Reads on fakes: a patrol and its track in time order, lists and positions in scope, and the
month's compliance of a ranger worked by hand (tracks.py)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

import pytest

from shared.errors import InvalidInput, NotFound
from tests.unit.patrol.conftest import (
    NOW,
    OTHER_VILLAGE_CHIEF,
    RANGER,
    RANGER_2,
    TOWNSHIP_CHIEF,
    VILLAGE,
    VILLAGE_CHIEF,
    Patrols,
    points_of,
    walk,
)
from tests.unit.patrol.tracks import MARCH_EXPECTED, day_track, march_plan

START = NOW - timedelta(hours=1)


async def test_a_track_reads_in_time_order_whatever_order_it_arrived_in(patrols: Patrols) -> None:
    await patrols.use.flows.start(patrols.person(RANGER), "p-1", START)
    points = walk(START, 12)
    await patrols.send(RANGER, "p-1", points[6:])
    await patrols.send(RANGER, "p-1", points[:6])
    track = await patrols.use.reads.track(patrols.person(VILLAGE_CHIEF), "p-1")
    assert [f.seq for f in track.fixes] == list(range(12))
    with pytest.raises(NotFound):
        await patrols.use.reads.track(patrols.person(OTHER_VILLAGE_CHIEF), "p-1")
    with pytest.raises(NotFound):
        await patrols.use.reads.patrol(patrols.person(RANGER_2), "p-1")


async def test_a_ranger_lists_their_own_patrols_and_a_chief_the_units_newest_first(
    patrols: Patrols,
) -> None:
    for n, ranger in enumerate([RANGER, RANGER_2, RANGER]):
        at = START + timedelta(minutes=n)
        await patrols.use.flows.start(patrols.person(ranger), f"p-{n}", at)
    listings = patrols.use.listings

    async def ids(
        person: str,
        *,
        ranger_id: str | None = None,
        unit: str | None = None,
        start: datetime | None = None,
    ) -> list[str]:
        found = await listings.patrols(
            patrols.person(person), ranger_id=ranger_id, unit=unit, start=start, end=None
        )
        return [r.patrol.id for r in found.patrols]

    assert await ids(RANGER) == ["p-2", "p-0"]
    assert await ids(RANGER, ranger_id=RANGER_2) == []
    assert await ids(VILLAGE_CHIEF) == ["p-2", "p-1", "p-0"]
    assert await ids(TOWNSHIP_CHIEF, ranger_id=RANGER_2) == ["p-1"]
    assert await ids(VILLAGE_CHIEF, start=START + timedelta(minutes=1)) == ["p-2", "p-1"]
    with pytest.raises(NotFound):
        await ids(OTHER_VILLAGE_CHIEF, unit=VILLAGE)


async def test_positions_show_the_rangers_still_on_patrol(patrols: Patrols) -> None:
    await patrols.use.flows.start(patrols.person(RANGER), "p-1", START)
    await patrols.use.flows.start(patrols.person(RANGER_2), "p-2", START)
    await patrols.send(RANGER, "p-1", walk(START, 3))
    await patrols.send(RANGER_2, "p-2", walk(START, 3))
    await patrols.use.flows.finish(patrols.person(RANGER_2), "p-2", NOW)
    listings = patrols.use.listings
    found = await listings.positions(patrols.person(TOWNSHIP_CHIEF), None)
    assert [(p.ranger_id, p.patrol_id) for p in found] == [(RANGER, "p-1")]
    assert found[0].t == START + timedelta(seconds=30)
    assert await listings.positions(patrols.person(RANGER_2), None) == []


async def test_a_month_of_patrols_gives_the_hand_worked_compliance(patrols: Patrols) -> None:
    rg = patrols.person(RANGER)
    for day, kind in march_plan():
        track = day_track(2026, 3, day, kind)
        pid = str(uuid.uuid4())
        started = track[0]["t"]
        patrols.clock.set(started + timedelta(hours=3))  # the day's work, sent as it ends
        await patrols.use.flows.start(rg, pid, started)
        await patrols.send(RANGER, pid, points_of(track))
        await patrols.use.flows.finish(rg, pid, started + timedelta(hours=3))
    patrols.clock.set(NOW.replace(month=4))

    report = await patrols.use.compliance.compliance(
        patrols.person(TOWNSHIP_CHIEF), unit=VILLAGE, start=date(2026, 3, 1), end=date(2026, 3, 31)
    )
    by_ranger = {r.ranger.id: r.result for r in report.rangers}
    me = by_ranger[RANGER]
    assert me.patrols == len(march_plan())
    assert me.valid_days == MARCH_EXPECTED["valid_days"]
    assert me.days_patrolled == MARCH_EXPECTED["days_patrolled"]
    assert me.months[0].dekad_valid_days == MARCH_EXPECTED["dekads"]
    assert [(s.code, s.dekad, s.required, s.actual) for s in me.shortfalls] == [
        ("valid_days", None, 20, 18),
        ("dekad", 3, 6, 5),
    ]
    assert by_ranger[RANGER_2].valid_days == 0
    with pytest.raises(InvalidInput):
        await patrols.use.compliance.compliance(
            rg, unit=None, start=date(2026, 3, 2), end=date(2026, 3, 1)
        )


class CountingFixes:
    """Counts how many patrols' fixes a use case loads from the fake store."""

    def __init__(self, patrols: Patrols) -> None:
        self.loaded: list[str] = []
        real = patrols.store.fixes_of

        async def fixes_of(patrol_id: str) -> list:  # type: ignore[type-arg]
            self.loaded.append(patrol_id)
            return await real(patrol_id)

        patrols.store.fixes_of = fixes_of  # type: ignore[method-assign]


async def _march(patrols: Patrols) -> list[str]:
    rg, pids = patrols.person(RANGER), []
    for day, kind in march_plan():
        track = day_track(2026, 3, day, kind)
        pid = str(uuid.uuid4())
        started = track[0]["t"]
        patrols.clock.set(started + timedelta(hours=3))
        await patrols.use.flows.start(rg, pid, started)
        await patrols.send(RANGER, pid, points_of(track))
        await patrols.use.flows.finish(rg, pid, started + timedelta(hours=3))
        pids.append(pid)
    patrols.clock.set(NOW.replace(month=4))
    return pids


async def test_compliance_reads_each_patrols_fixes_once_while_its_track_is_unchanged(
    patrols: Patrols,
) -> None:
    pids = await _march(patrols)
    counting = CountingFixes(patrols)
    chief, month = patrols.person(TOWNSHIP_CHIEF), (date(2026, 3, 1), date(2026, 3, 31))
    first = await patrols.use.compliance.compliance(
        chief, unit=VILLAGE, start=month[0], end=month[1]
    )
    assert sorted(counting.loaded) == sorted(pids)
    counting.loaded.clear()
    again = await patrols.use.compliance.compliance(
        chief, unit=VILLAGE, start=month[0], end=month[1]
    )
    assert counting.loaded == []
    assert [r.result for r in again.rangers] == [r.result for r in first.rangers]


async def test_compliance_counts_fixes_that_arrive_after_a_summary_was_kept(
    patrols: Patrols,
) -> None:
    rg, chief = patrols.person(RANGER), patrols.person(TOWNSHIP_CHIEF)
    track = day_track(2026, 3, 10, "valid")
    started = track[0]["t"]
    patrols.clock.set(started + timedelta(hours=3))
    await patrols.use.flows.start(rg, "p-late", started)
    half = len(track) // 3
    await patrols.send(RANGER, "p-late", points_of(track[:half]))
    day = date(2026, 3, 10)
    before = await patrols.use.compliance.compliance(chief, unit=VILLAGE, start=day, end=day)
    mine = {r.ranger.id: r.result for r in before.rangers}[RANGER]
    assert mine.valid_days == 0
    counting = CountingFixes(patrols)
    await patrols.send(RANGER, "p-late", points_of(track[half:]))  # the phone was out of signal
    after = await patrols.use.compliance.compliance(chief, unit=VILLAGE, start=day, end=day)
    mine = {r.ranger.id: r.result for r in after.rangers}[RANGER]
    assert counting.loaded == ["p-late"]
    assert mine.valid_days == 1


async def test_a_patrol_list_pages_with_cursors_and_refuses_another_lists_cursor(
    patrols: Patrols,
) -> None:
    rg = patrols.person(RANGER)
    for i in range(5):
        await patrols.use.flows.start(rg, f"p-{i}", START + timedelta(minutes=i))
    chief, listings = patrols.person(VILLAGE_CHIEF), patrols.use.listings
    seen, cursor, pages = [], None, 0
    while True:
        page = await listings.patrols(
            chief, ranger_id=None, unit=None, start=None, end=None, limit=2, cursor=cursor
        )
        seen += [r.patrol.id for r in page.patrols]
        pages += 1
        if page.next is None:
            break
        cursor = page.next
        # A patrol started meanwhile is at the top, not in the middle of the pages.
        await patrols.use.flows.start(rg, f"new-{pages}", START + timedelta(minutes=10 + pages))
    assert seen == ["p-4", "p-3", "p-2", "p-1", "p-0"] and pages == 3
    mine = await listings.patrols(
        rg, ranger_id=None, unit=None, start=None, end=None, limit=1, cursor=None
    )
    assert mine.next is not None
    with pytest.raises(InvalidInput) as refused:
        await listings.patrols(
            chief, ranger_id=None, unit=None, start=None, end=None, limit=2, cursor=mine.next
        )
    assert refused.value.field == "cursor"
    with pytest.raises(InvalidInput):
        await listings.patrols(
            chief, ranger_id=None, unit=None, start=None, end=None, limit=2, cursor="!!not-one"
        )
