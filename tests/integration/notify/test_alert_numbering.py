"""Alert numbers across replicas, on the real store: each district's alerts are numbered 1…n with
no gap and no number twice, each event has exactly one alert, however two replicas' batches and a
redelivered event interleave."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime

from pymongo.asynchronous.database import AsyncDatabase

from services.notify.domain.alerts import AlertDraft
from services.notify.repository import COLLECTIONS
from services.notify.repository.alerts import ALERTS, MongoAlertSequence
from services.notify.settings import NotifySettings
from shared import db as dbmod

DISTRICT = "500114"
NOW = datetime(2026, 4, 1, 8, 0, tzinfo=UTC)


def alert(event_id: str) -> AlertDraft:
    return AlertDraft(
        event_id=event_id,
        event_type="incident.opened",
        kind="new_incident",
        subject_id=f"inc-{event_id}",
        incident_id=f"inc-{event_id}",
        level=0,
        type="fire",
        severity="general",
        status="reported",
        village=f"{DISTRICT}001001",
        township=f"{DISTRICT}001",
        district=DISTRICT,
        lat=None,
        lon=None,
        at=NOW,
        scope_units=(DISTRICT,),
        alarm=True,
        facts={},
    )


async def test_two_replicas_number_one_districts_alerts_without_gaps_or_twice(
    settings_for: Callable[..., NotifySettings],
) -> None:
    settings = settings_for(NotifySettings)
    clients = [dbmod.connect(settings) for _ in range(2)]
    try:
        dbs = [dbmod.database(c, settings) for c in clients]
        await dbmod.ensure_indexes(dbs[0], COLLECTIONS)
        first, second = (MongoAlertSequence(db) for db in dbs)  # two replicas, two memories
        events = [str(uuid.uuid4()) for _ in range(120)]
        await first.append([alert(e) for e in events[:5]], at=NOW)  # both know a number

        await second.append([alert(events[5])], at=NOW)

        async def batches(repo: MongoAlertSequence, ids: list[str]) -> None:
            for i in range(0, len(ids), 10):
                await repo.append([alert(e) for e in ids[i : i + 10]], at=NOW)

        rest = events[6:]
        await asyncio.gather(batches(first, rest[0::2]), batches(second, rest[1::2]))
        # a redelivered event, to the replica that did not store it: its alert, not a new one
        again = await second.append([alert(events[6]), alert(str(uuid.uuid4()))], at=NOW)
        assert again[0].event_id == events[6]

        docs = [d async for d in dbs[0][ALERTS].find({"district": DISTRICT})]
        seqs = sorted(int(d["seq"]) for d in docs)
        assert seqs == list(range(1, len(events) + 2))
        by_event = [d["event_id"] for d in docs]
        assert len(by_event) == len(set(by_event)) and set(events) <= set(by_event)
        assert again[0].seq == next(d["seq"] for d in docs if d["event_id"] == events[6])
    finally:
        for c in clients:
            await c.drop_database(settings.database_name)
            await c.close()


@asynccontextmanager
async def two_replicas(
    settings_for: Callable[..., NotifySettings],
) -> AsyncIterator[tuple[MongoAlertSequence, MongoAlertSequence, AsyncDatabase[dbmod.Document]]]:
    """Two repositories (two memories, two clients) on one store, as two notify replicas."""
    settings = settings_for(NotifySettings)
    clients = [dbmod.connect(settings) for _ in range(2)]
    try:
        dbs = [dbmod.database(c, settings) for c in clients]
        await dbmod.ensure_indexes(dbs[0], COLLECTIONS)
        yield MongoAlertSequence(dbs[0]), MongoAlertSequence(dbs[1]), dbs[0]
    finally:
        for c in clients:
            await c.drop_database(settings.database_name)
            await c.close()


async def numbering(db: AsyncDatabase[dbmod.Document]) -> dict[str, int]:
    """Event id → its alert's number; asserts one alert per event and 1…n without gaps."""
    docs = [d async for d in db[ALERTS].find({"district": DISTRICT})]
    by_event = {d["event_id"]: int(d["seq"]) for d in docs}
    assert len(by_event) == len(docs)
    assert sorted(by_event.values()) == list(range(1, len(docs) + 1))
    return by_event


def new_events(n: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(n)]


async def test_an_alert_on_a_number_the_other_replica_took_goes_after_its_alerts(
    settings_for: Callable[..., NotifySettings],
) -> None:
    async with two_replicas(settings_for) as (first, second, db):
        await first.append([alert(e) for e in new_events(3)], at=NOW)  # first knows 3
        await second.append([alert(e) for e in new_events(1)], at=NOW)  # 4
        [a, b] = new_events(2)

        out = await first.append([alert(a), alert(b)], at=NOW)

        assert [d.seq for d in out] == [5, 6]
        # far past what the first reads at once (1, 2, 4 … 128 numbers on): it reads on
        for _ in range(3):
            await second.append([alert(e) for e in new_events(100)], at=NOW)  # 7…306
        [c] = new_events(1)
        assert [d.seq for d in await first.append([alert(c)], at=NOW)] == [307]
        assert (await numbering(db))[c] == 307


async def test_a_redelivered_event_numbered_below_gets_its_alert_and_takes_no_number(
    settings_for: Callable[..., NotifySettings],
) -> None:
    async with two_replicas(settings_for) as (first, second, db):
        events = new_events(5)
        await first.append([alert(e) for e in events], at=NOW)  # 1…5
        await second.append([alert(e) for e in new_events(1)], at=NOW)  # 6
        [fresh] = new_events(1)

        out = await second.append([alert(events[1]), alert(fresh)], at=NOW)

        assert [(d.event_id, d.seq) for d in out] == [(events[1], 2), (fresh, 7)]
        assert len(await numbering(db)) == 7


async def test_a_redelivered_event_on_the_very_number_tried_gets_its_alert(
    settings_for: Callable[..., NotifySettings],
) -> None:
    async with two_replicas(settings_for) as (first, second, db):
        await first.append([alert(e) for e in new_events(3)], at=NOW)  # first knows 3
        [taken] = new_events(1)
        await second.append([alert(taken)], at=NOW)  # 4, the first's next number
        [fresh] = new_events(1)

        out = await first.append([alert(taken), alert(fresh)], at=NOW)

        assert [(d.event_id, d.seq) for d in out] == [(taken, 4), (fresh, 5)]
        assert len(await numbering(db)) == 5


async def test_taken_numbers_and_redeliveries_in_one_batch_keep_one_alert_per_event_in_order(
    settings_for: Callable[..., NotifySettings],
) -> None:
    async with two_replicas(settings_for) as (first, second, db):
        early = new_events(3)
        await first.append([alert(e) for e in early], at=NOW)  # 1…3
        await second.append([alert(e) for e in new_events(1)], at=NOW)  # 4
        later = new_events(4)
        await first.append([alert(e) for e in later], at=NOW)  # 5…8; second knows 4
        n1, n2, n3 = new_events(3)
        batch = [n1, early[1], n2, later[1], n3, n2]  # n2 twice: a redelivery within the batch

        out = await second.append([alert(e) for e in batch], at=NOW)

        assert [d.event_id for d in out] == batch
        assert [d.seq for d in out] == [9, 2, 10, 6, 11, 10]
        assert len(await numbering(db)) == 11


async def test_a_batch_of_over_a_hundred_alerts_meeting_a_taken_number_leaves_no_gap(
    settings_for: Callable[..., NotifySettings],
) -> None:
    # FerretDB v1 goes on after a duplicate key with the next hundred of an ordered insert
    async with two_replicas(settings_for) as (first, second, db):
        await first.append([alert(e) for e in new_events(3)], at=NOW)  # first knows 3
        await second.append([alert(e) for e in new_events(20)], at=NOW)  # 4…23
        events = new_events(250)

        out = await first.append([alert(e) for e in events], at=NOW)

        assert [d.seq for d in out] == list(range(24, 274))
        assert len(await numbering(db)) == 273


async def test_two_replicas_racing_large_batches_with_redeliveries_number_without_gaps(
    settings_for: Callable[..., NotifySettings],
) -> None:
    async with two_replicas(settings_for) as (first, second, db):
        rng = random.Random(7)
        events = new_events(1200)
        done: list[str] = []

        async def batches(repo: MongoAlertSequence, ids: list[str]) -> None:
            for i in range(0, len(ids), 150):
                again = rng.sample(done, min(len(done), 5))  # redelivered, either replica's
                batch = [*ids[i : i + 75], *again, *ids[i + 75 : i + 150]]
                out = await repo.append([alert(e) for e in batch], at=NOW)
                assert [d.event_id for d in out] == batch
                done.extend(ids[i : i + 150])

        await asyncio.gather(batches(first, events[0::2]), batches(second, events[1::2]))

        assert set(await numbering(db)) == set(events)


async def test_alert_reads_take_the_district_range_in_number_order_and_its_scope_only(
    settings_for: Callable[..., NotifySettings],
) -> None:
    """The listing, a stream's catch-up and the highest number read the district's alerts as one
    `_id` range in number order: newest first or after a number, only the caller's scope, never
    another district's (not even one whose code extends this one's), past number 9 → 10 → 100."""
    async with two_replicas(settings_for) as (repo, _, db):
        villages = ["500114001001", "500114001002"]
        docs = [
            replace(alert(str(uuid.uuid4())), scope_units=(DISTRICT, villages[i % 2]))
            for i in range(130)
        ]
        await repo.append(docs, at=NOW)
        longer = replace(
            alert(str(uuid.uuid4())), district=f"{DISTRICT}9", scope_units=(f"{DISTRICT}9",)
        )
        await repo.append([longer], at=NOW)
        fresh = MongoAlertSequence(db)  # a replica that has numbered nothing yet

        assert await fresh.highest(DISTRICT) == 130
        assert await fresh.highest(f"{DISTRICT}9") == 1
        assert await fresh.highest("500115") == 0

        newest = await fresh.latest(DISTRICT, DISTRICT, limit=50)
        assert [d.seq for d in newest] == list(range(130, 80, -1))
        mine = await fresh.latest(DISTRICT, villages[1], limit=20)
        assert [d.seq for d in mine] == list(range(130, 90, -2))  # the odd-indexed, even seqs

        caught_up = await fresh.after(DISTRICT, 8, limit=100, unit=villages[0])
        assert [d.seq for d in caught_up] == list(range(9, 130, 2))[:100]
        assert all(d.district == DISTRICT for d in caught_up)
        assert await fresh.after(DISTRICT, 130, limit=10) == []
