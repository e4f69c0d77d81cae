"""Incident lists on the real store, read from their keyed copies: a unit's page holds what is in
it and below it, newest opened first, by cursor; a status list follows each change of status and
keeps nothing stale; type and since narrow a page without losing its order."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.incidents.repository import IncidentsRepository
from services.incidents.repository.lists import LISTS
from services.incidents.settings import IncidentsSettings
from shared import db as dbmod
from shared.clock import as_utc
from shared.cursors import BadCursor

T0 = datetime(2026, 4, 1, 8, 0, tzinfo=UTC)
TOWNSHIP = "500114001"
VILLAGES = ("500114001001", "500114001002")


def incident(
    n: int,
    *,
    village: str = VILLAGES[0],
    status: str = "reported",
    type_: str = "fire",
    version: int = 1,
) -> dict[str, Any]:
    at = T0 + timedelta(minutes=n)
    return {
        "_id": f"inc-{n:03d}",
        "version": version,
        "status": status,
        "type": type_,
        "village": village,
        "township": village[:9],
        "district": village[:6],
        "opened_at": at,
        "updated_at": at + timedelta(seconds=version),
        "timeline": [{"at": at, "event": "opened"}],
    }


@pytest.fixture
async def repo(
    settings_for: Callable[..., IncidentsSettings],
) -> AsyncIterator[IncidentsRepository]:
    s: IncidentsSettings = settings_for(IncidentsSettings)
    client = dbmod.connect(s)
    try:
        yield IncidentsRepository(dbmod.database(client, s), shards=2)
    finally:
        await client.drop_database(s.database_name)
        await client.close()


def ids(docs: list[dict[str, Any]]) -> list[str]:
    return [str(d["_id"]) for d in docs]


async def test_a_units_pages_hold_it_and_what_is_below_it_newest_first(
    repo: IncidentsRepository,
) -> None:
    for n in range(1, 7):
        await repo.apply(incident(n, village=VILLAGES[n % 2]))

    village = await repo.incidents_in(VILLAGES[0], status=None, type_=None, since=None, limit=10)
    first = await repo.incidents_in(TOWNSHIP, status=None, type_=None, since=None, limit=4)
    await repo.apply(incident(7))  # opened while the township pages on
    rest = await repo.incidents_in(
        TOWNSHIP, status=None, type_=None, since=None, limit=4, cursor=first.next
    )

    assert ids(village.incidents) == ["inc-006", "inc-004", "inc-002"]
    assert ids(first.incidents) == ["inc-006", "inc-005", "inc-004", "inc-003"]
    assert ids(rest.incidents) == ["inc-002", "inc-001"] and rest.next is None
    assert "timeline" not in first.incidents[0]


async def test_a_status_list_follows_each_change_and_keeps_nothing_stale(
    repo: IncidentsRepository,
) -> None:
    for n in range(1, 4):
        await repo.apply(incident(n))
    await repo.apply(incident(2, status="acknowledged", version=2))
    await repo.apply(incident(2, status="closed", version=3))

    reported = await repo.incidents_in(
        TOWNSHIP, status="reported", type_=None, since=None, limit=10
    )
    closed = await repo.incidents_in(TOWNSHIP, status="closed", type_=None, since=None, limit=10)
    acked = await repo.incidents_in(
        TOWNSHIP, status="acknowledged", type_=None, since=None, limit=10
    )
    every = await repo.incidents_in(TOWNSHIP, status=None, type_=None, since=None, limit=10)

    assert ids(reported.incidents) == ["inc-003", "inc-001"]
    assert ids(closed.incidents) == ["inc-002"] and closed.incidents[0]["version"] == 3
    assert acked.incidents == []
    assert [d["status"] for d in every.incidents] == ["reported", "closed", "reported"]
    # three units, each listing every incident once, once under its status, once under its type
    assert await repo.db[LISTS].count_documents({}) == 3 * 3 * 3


async def test_type_and_since_narrow_a_page_across_chunks_in_order(
    repo: IncidentsRepository,
) -> None:
    docs = [incident(n, type_="fire" if n % 50 == 0 else "pest") for n in range(1, 451)]
    await repo.lists.put(docs)

    fires = await repo.incidents_in(TOWNSHIP, status=None, type_="fire", since=None, limit=5)
    more = await repo.incidents_in(
        TOWNSHIP, status=None, type_="fire", since=None, limit=5, cursor=fires.next
    )
    recent = await repo.incidents_in(
        TOWNSHIP, status=None, type_=None, since=T0 + timedelta(minutes=448), limit=10
    )

    assert ids(fires.incidents) == ["inc-450", "inc-400", "inc-350", "inc-300", "inc-250"]
    assert ids(more.incidents) == ["inc-200", "inc-150", "inc-100", "inc-050"]
    assert more.next is None
    assert ids(recent.incidents) == ["inc-450", "inc-449", "inc-448"]


async def test_a_cursor_of_another_list_is_refused(repo: IncidentsRepository) -> None:
    for n in range(1, 4):
        await repo.apply(incident(n))
    page = await repo.incidents_in(VILLAGES[0], status=None, type_=None, since=None, limit=1)
    assert page.next is not None

    with pytest.raises(BadCursor):
        await repo.incidents_in(
            VILLAGES[1], status=None, type_=None, since=None, limit=1, cursor=page.next
        )
    with pytest.raises(BadCursor):
        await repo.incidents_in(
            VILLAGES[0], status="closed", type_=None, since=None, limit=1, cursor=page.next
        )


async def test_the_timers_reloaded_are_the_ones_set_now_by_shard_and_in_all(
    repo: IncidentsRepository,
) -> None:
    due = T0 + timedelta(hours=1)
    for n in range(1, 9):
        await repo.apply({**incident(n), "next_timer_at": due + timedelta(minutes=n)})
    await repo.apply({**incident(3, status="closed", version=2), "next_timer_at": None})
    await repo.apply({**incident(5, version=2), "next_timer_at": due})  # moved

    every = dict(await repo.timers())
    by_shard = [dict(await repo.timers(shard)) for shard in range(repo.shards)]

    expected = {f"inc-{n:03d}": due + timedelta(minutes=n) for n in (1, 2, 4, 6, 7, 8)}
    expected["inc-005"] = due
    assert {k: as_utc(v) for k, v in every.items()} == expected
    assert sorted(k for part in by_shard for k in part) == sorted(expected)
    assert all(repo._index(k) == shard for shard, part in enumerate(by_shard) for k in part)
