"""Patrol lists on the real store, read from their keyed copies: a ranger's and a unit's patrols
over a period newest first, the unfinished ones as the open work only, and copies that follow a
patrol's flags and end."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.patrol.repository import PatrolRepository
from services.patrol.settings import PatrolSettings
from shared import db as dbmod

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
VILLAGES = ("500114001001", "500114002001")


def patrol(n: int, ranger: str, village: str, *, days: float) -> dict[str, Any]:
    return {
        "_id": f"p-{n:03d}",
        "ranger_id": ranger,
        "village": village,
        "scope_units": [village, village[:9], village[:6]],
        "started_at": T0 + timedelta(days=days),
        "ended_at": None,
        "finished_at": None,
        "status": "active",
        "created_at": T0,
        "started_published": False,
    }


@pytest.fixture
async def repo(settings_for: Callable[..., PatrolSettings]) -> AsyncIterator[PatrolRepository]:
    s: PatrolSettings = settings_for(PatrolSettings)
    client = dbmod.connect(s)
    try:
        yield PatrolRepository(dbmod.database(client, s))
    finally:
        await client.drop_database(s.database_name)
        await client.close()


def ids(docs: list[dict[str, Any]]) -> list[str]:
    return [str(d["_id"]) for d in docs]


async def test_a_rangers_and_a_units_patrols_over_a_period_come_newest_first(
    repo: PatrolRepository,
) -> None:
    for n in range(1, 7):
        ranger, village = ("rg-a", VILLAGES[0]) if n % 2 else ("rg-b", VILLAGES[1])
        await repo.insert_patrol(patrol(n, ranger, village, days=n))

    march = {"started_from": T0 + timedelta(days=2), "started_to": T0 + timedelta(days=6)}
    assert ids(await repo.find_patrols(ranger_ids=["rg-a"])) == ["p-005", "p-003", "p-001"]
    assert ids(await repo.find_patrols(ranger_ids=["rg-a", "rg-b"], **march)) == [
        "p-005",
        "p-004",
        "p-003",
        "p-002",
    ]
    assert ids(await repo.find_patrols(unit=VILLAGES[1][:9])) == ["p-006", "p-004", "p-002"]
    assert ids(await repo.find_patrols(unit="500114", limit=2)) == ["p-006", "p-005"]
    assert await repo.find_patrols(ranger_ids=["rg-a"], unit=VILLAGES[1]) == []


async def test_the_unfinished_are_the_open_work_and_the_copies_follow_flags_and_the_end(
    repo: PatrolRepository,
) -> None:
    for n in range(1, 4):
        await repo.insert_patrol(patrol(n, "rg-a", VILLAGES[0], days=n))
    await repo.set_flag("p-002", "started_published")
    await repo.finish("p-001", T0 + timedelta(days=1, hours=3), T0 + timedelta(days=2))
    again = await repo.finish("p-001", T0 + timedelta(days=9), T0 + timedelta(days=9))

    assert again is None  # finished once
    assert ids(await repo.find_patrols(active_only=True)) == ["p-003", "p-002"]
    assert ids(await repo.find_patrols(active_only=True, started_to=T0 + timedelta(days=2.5))) == [
        "p-002"
    ]
    listed = {d["_id"]: d for d in await repo.find_patrols(ranger_ids=["rg-a"])}
    assert listed["p-001"]["status"] == "finished"
    assert listed["p-001"]["ended_at"].replace(tzinfo=UTC) == T0 + timedelta(days=1, hours=3)
    assert listed["p-002"]["started_published"] is True
    # a start retried (same patrol) lists it once
    assert await repo.insert_patrol(patrol(3, "rg-a", VILLAGES[0], days=3)) is False
    assert ids(await repo.find_patrols(unit=VILLAGES[0])) == ["p-003", "p-002", "p-001"]
