"""Claims and locks on the real MongoDB-protocol server: exactly one winner under concurrency,
no lost update inside a lock, and a crashed holder's lock taken over after its lease."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from shared import db as dbmod
from shared.clock import utcnow
from shared.locks import LOCKS, claim_once, locked
from shared.settings import Settings


async def test_one_claim_wins_among_concurrent_replicas(
    settings_for: Callable[..., Settings],
) -> None:
    settings = settings_for(Settings)
    clients = [dbmod.connect(settings) for _ in range(4)]
    dbs = [dbmod.database(c, settings) for c in clients]
    try:
        for key in range(10):
            wins = await asyncio.gather(
                *(claim_once(dbs[i % 4], "claims", f"inc-{key}:level-1") for i in range(8))
            )
            assert sum(wins) == 1
    finally:
        for c in clients:
            await c.close()


async def test_lock_serialises_read_modify_write_across_clients(
    settings_for: Callable[..., Settings],
) -> None:
    settings = settings_for(Settings)
    clients = [dbmod.connect(settings) for _ in range(4)]
    dbs = [dbmod.database(c, settings) for c in clients]
    await dbs[0]["counters"].insert_one({"_id": "c", "n": 0})

    async def bump(db: AsyncDatabase[dict[str, Any]]) -> None:
        async with locked(db, "counter:c"):
            doc = await db["counters"].find_one({"_id": "c"})
            assert doc is not None
            await db["counters"].update_one({"_id": "c"}, {"$set": {"n": doc["n"] + 1}})

    try:
        await asyncio.gather(*(bump(dbs[i % 4]) for i in range(20)))
        final = await dbs[0]["counters"].find_one({"_id": "c"})
        assert final is not None and final["n"] == 20
        assert await dbs[0][LOCKS].count_documents({}) == 0
    finally:
        for c in clients:
            await c.close()


async def test_a_dead_holders_lock_is_taken_over_after_its_lease(
    settings_for: Callable[..., Settings],
) -> None:
    settings = settings_for(Settings)
    client = dbmod.connect(settings)
    db = dbmod.database(client, settings)
    try:
        await db[LOCKS].insert_one(
            {"_id": "inc-9", "token": "dead", "expires_at": utcnow() - timedelta(seconds=1)}
        )
        async with locked(db, "inc-9", wait_s=5) as token:
            held = await db[LOCKS].find_one({"_id": "inc-9"})
            assert held is not None and held["token"] == token != "dead"
    finally:
        await client.close()
