"""Our patches to the local store's FerretDB (`infra/ferretdb/patches/`): writes to a database go
one at a time through one connection of their own; an `_id` condition (`$in` of ids, or `_id`
beside other conditions) is looked up in SQLite instead of decoding the whole collection; each
update of a bulk gives its read's connection back when it is done; a string range on `_id` sorted
by `_id` is read from an index in order and ends at its limit. They change how FerretDB reaches
its rows, never which rows a command sees: these tests hold that, that the store does not hang
under many concurrent writes, and that the lookups are indexed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from bson import ObjectId
from pymongo import AsyncMongoClient, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from shared.settings import Settings

Doc = dict[str, Any]


@pytest.fixture
async def db(settings_for: Callable[..., Settings]) -> AsyncIterator[AsyncDatabase[Doc]]:
    settings = settings_for()
    # more connections than FerretDB's pool of 100 per database, so more commands than that
    # reach it at once
    async with AsyncMongoClient[Doc](settings.mongo_uri, maxPoolSize=400) as client:
        yield client[settings.mongo_db]


async def explain(db: AsyncDatabase[Doc], collection: str, query: Doc) -> Doc:
    """FerretDB's explain: whether it pushed the filter down, and SQLite's plan."""
    return await db.command("explain", {"find": collection, "filter": query})


async def indexed_plan(db: AsyncDatabase[Doc], collection: str, query: Doc) -> Doc:
    """The explain of `query` once SQLite looks it up by our index. Our main adds the index on
    `_id` lookups about a second after a collection appears, and a connection of FerretDB plans
    an explain with the schema it last read: a plain read first brings it up to date (one
    client, one command at a time, so the read and the explain share a pooled connection)."""
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        await db[collection].find_one({"_id": "any"})
        plan = await explain(db, collection, query)
        if "USING INDEX" in str(plan["queryPlanner"]):
            return plan
        assert asyncio.get_running_loop().time() < deadline, f"never looked up by index: {plan}"
        await asyncio.sleep(0.2)


async def test_three_hundred_updates_at_once_all_land(db: AsyncDatabase[Doc]) -> None:
    """An update holds the connection of its read while it writes. With writes on pooled
    connections and three hundred updates waiting, the pool of 100 ran dry and the store hung;
    the writer has a connection of its own."""
    docs = db["counters"]
    await docs.insert_many([{"_id": f"c{i}", "n": 0} for i in range(300)])

    async def bump(i: int) -> None:
        result = await docs.update_one({"_id": f"c{i}"}, {"$set": {"n": i + 1}})
        assert result.modified_count == 1

    await asyncio.wait_for(asyncio.gather(*(bump(i) for i in range(300))), timeout=120)
    stored = {d["_id"]: d["n"] async for d in docs.find({})}
    assert stored == {f"c{i}": i + 1 for i in range(300)}


async def test_writes_from_many_clients_at_once_are_all_kept(db: AsyncDatabase[Doc]) -> None:
    """Inserts, bulk updates and deletes from 60 concurrent callers, one writer underneath:
    every acknowledged write is there, none twice, none lost to a busy database."""
    docs = db["mixed"]

    async def caller(k: int) -> None:
        ids = [f"{k}-{i}" for i in range(20)]
        await docs.insert_many([{"_id": i, "v": 0} for i in ids])
        await docs.bulk_write([UpdateOne({"_id": i}, {"$set": {"v": 1}}) for i in ids])
        await docs.delete_many({"_id": {"$in": ids[:5]}})

    await asyncio.wait_for(asyncio.gather(*(caller(k) for k in range(60))), timeout=120)
    stored = [d async for d in docs.find({})]
    assert len(stored) == 60 * 15
    assert {d["v"] for d in stored} == {1}
    assert not [d for d in stored if int(d["_id"].split("-")[1]) < 5]


async def test_an_id_in_filter_is_looked_up_and_finds_what_mongodb_would(
    db: AsyncDatabase[Doc],
) -> None:
    docs = db["lookups"]
    await docs.insert_many([{"_id": f"d{i:03d}", "n": i} for i in range(200)] + [{"_id": 7}])

    wanted = ["d001", "d050", "d199", "d404"]  # one id that is not there
    plan = await indexed_plan(db, "lookups", {"_id": {"$in": wanted}})
    assert plan["filterPushdown"] is True
    assert {d["_id"] async for d in docs.find({"_id": {"$in": wanted}})} == {"d001", "d050", "d199"}

    # the other conditions still hold: only the rows read are fewer
    beside = {"_id": {"$in": wanted}, "n": {"$gt": 10}}
    assert (await explain(db, "lookups", beside))["filterPushdown"] is True
    assert {d["_id"] async for d in docs.find(beside)} == {"d050", "d199"}
    exact_and_more = {"_id": "d050", "n": 49}
    assert (await explain(db, "lookups", exact_and_more))["filterPushdown"] is True
    assert await docs.find_one(exact_and_more) is None

    # ids of other types are not pushed down, and still found
    mixed = {"_id": {"$in": ["d002", 7]}}
    assert (await explain(db, "lookups", mixed))["filterPushdown"] is False
    assert {d["_id"] async for d in docs.find(mixed)} == {"d002", 7}

    # past 1,000 ids the lookup is left to the scan (SQLite's parameter limit), same result
    many = [f"d{i:03d}" for i in range(0, 200, 2)] + [f"x{i}" for i in range(1000)]
    assert (await explain(db, "lookups", {"_id": {"$in": many}}))["filterPushdown"] is False
    assert await docs.count_documents({"_id": {"$in": many}}) == 100


async def test_a_delete_by_ids_removes_exactly_those(db: AsyncDatabase[Doc]) -> None:
    docs = db["outbox"]
    await docs.insert_many([{"_id": f"o{i}", "at": i} for i in range(100)])
    assert (await indexed_plan(db, "outbox", {"_id": {"$in": ["o1", "o2"]}}))["filterPushdown"]
    gone = [f"o{i}" for i in range(0, 100, 3)]
    result = await docs.delete_many({"_id": {"$in": gone}, "at": {"$lt": 50}})
    assert result.deleted_count == 17  # o0, o3 … o48
    left = {d["_id"] async for d in docs.find({})}
    assert left == {f"o{i}" for i in range(100) if i % 3 or i >= 50}


async def test_a_page_of_an_id_range_in_id_order_is_what_mongodb_gives(
    db: AsyncDatabase[Doc],
) -> None:
    """Patch 0005: a string range on `_id`, sorted by `_id` with a limit, is read from SQLite's
    index on `_id` as text, in order, and the read ends at the limit. Whatever the other rows
    are (ObjectIDs, numbers, strings just outside the range, characters that JSON escapes), the
    page is exactly MongoDB's: the range's strings in byte order, other conditions still applied.
    """
    docs = db["ranges"]
    keys = [f"v{v:03d}|{t:06d}|{k}" for v in range(3) for t in range(0, 600, 7) for k in "ab"]
    odd = ["v001!", "v001", "v001|", "v001|ü", 'v001|"q"', "v001|<&>", "v001}", "v002|\x01"]
    await docs.insert_many(
        [{"_id": k, "n": i} for i, k in enumerate(keys + odd)]
        + [{"_id": ObjectId(), "n": -1}, {"_id": 5, "n": -1}, {"_id": {"v": "v001|x"}, "n": -1}]
    )

    in_range = {"_id": {"$gte": "v001|", "$lt": "v001}"}}
    plan = await indexed_plan(db, "ranges", in_range)
    assert "hulin_id_text" in str(plan["queryPlanner"]), plan

    strings = sorted(k for k in keys + odd if "v001|" <= k < "v001}")
    newest = [d["_id"] async for d in docs.find(in_range).sort("_id", -1).limit(25)]
    assert newest == strings[::-1][:25]
    oldest = [d["_id"] async for d in docs.find(in_range).sort("_id", 1).limit(25)]
    assert oldest == strings[:25]

    # a cursor's next page starts past the last id seen, in either direction
    after = {"_id": {"$gt": oldest[-1], "$lt": "v001}"}}
    assert [d["_id"] async for d in docs.find(after).sort("_id", 1).limit(25)] == strings[25:50]
    before = {"_id": {"$gte": "v001|", "$lt": newest[-1]}}
    page = [d["_id"] async for d in docs.find(before).sort("_id", -1).limit(25)]
    assert page == strings[::-1][25:50]

    # other conditions beside the range still hold, and the page fills past the rows they drop
    even = {**in_range, "n": {"$mod": [2, 0]}}
    got = [d["_id"] async for d in docs.find(even).sort("_id", -1).limit(10)]
    numbered = {k: i for i, k in enumerate(keys + odd)}
    assert got == [k for k in strings[::-1] if numbered[k] % 2 == 0][:10]

    # without a limit the whole range comes back, in order, across getMore batches
    everything = [d["_id"] async for d in docs.find(in_range, batch_size=7).sort("_id", -1)]
    assert everything == strings[::-1]
