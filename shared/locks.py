"""Mutual exclusion and exactly-once claims that hold on FerretDB v1 as well as on MongoDB.

FerretDB v1 applies an update by reading the document and writing it back, so neither a
conditional findAndModify nor $inc is atomic there under concurrency (measured: two of eight
concurrent claims both "win"). What *is* atomic on both servers is an insert against a unique
index. Everything here is built on that: a claim is an insert, a lock is an insert that is deleted
when done and can be taken over once its lease has expired (a crashed holder).
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.clock import Clock, SystemClock, as_utc
from shared.db import insert_once

LOCKS = "_locks"

# Callers sharing a client queue here first, so only one of them at a time goes for the stored lock:
# the others wake the moment it is released instead of polling the store with backoff (sleeps of
# up to 0.1 s, and every poll is a write the store has to queue). Per event loop: an asyncio lock
# belongs to one.
_in_process: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[int, str, str], asyncio.Lock]
] = weakref.WeakKeyDictionary()


def _process_lock(db: AsyncDatabase[dict[str, Any]], name: str) -> asyncio.Lock:
    locks = _in_process.setdefault(asyncio.get_running_loop(), {})
    # per client: two clients stand for two replicas (as in the tests), which only the stored
    # lock keeps apart
    return locks.setdefault((id(db.client), db.name, name), asyncio.Lock())


async def claim_once(
    db: AsyncDatabase[dict[str, Any]], collection: str, key: str, **fields: Any
) -> bool:
    """True for exactly one caller per key, ever (across replicas and restarts)."""
    return await insert_once(db, collection, {"_id": key, **fields})


class LockTimeout(TimeoutError):
    """The lock stayed busy for longer than the caller was willing to wait."""


@asynccontextmanager
async def locked(
    db: AsyncDatabase[dict[str, Any]],
    name: str,
    *,
    lease_s: float = 30.0,
    wait_s: float = 30.0,
    clock: Clock | None = None,
) -> AsyncIterator[str]:
    """Hold the named lock for the body (one holder at a time across every replica).

    A holder that dies leaves its lock behind; after `lease_s` another caller takes it over. Keep
    bodies short (a few database round trips), far below the lease.
    """
    clock = clock or SystemClock()
    token = uuid.uuid4().hex
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    local = _process_lock(db, name)
    try:
        await asyncio.wait_for(local.acquire(), wait_s)
    except TimeoutError:
        raise LockTimeout(f"lock {name!r} busy for more than {wait_s} s") from None
    try:
        await _take(db, name, token, lease_s, deadline, wait_s, clock)
        try:
            yield token
        finally:
            await db[LOCKS].delete_one({"_id": name, "token": token})
    finally:
        local.release()


async def _take(
    db: AsyncDatabase[dict[str, Any]],
    name: str,
    token: str,
    lease_s: float,
    deadline: float,
    wait_s: float,
    clock: Clock,
) -> None:
    """Insert the stored lock, waiting for another process's holder (or its lease) to end."""
    loop = asyncio.get_running_loop()
    delay = 0.005
    while True:
        now = clock.now()
        try:
            await db[LOCKS].insert_one(
                {"_id": name, "token": token, "expires_at": now + timedelta(seconds=lease_s)}
            )
            break
        except DuplicateKeyError:
            held = await db[LOCKS].find_one({"_id": name})
            if held is not None and as_utc(held["expires_at"]) < now:
                # the holder is gone: remove exactly that stale lock (by its token) and retry
                await db[LOCKS].delete_one({"_id": name, "token": held["token"]})
                continue
            if loop.time() > deadline:
                raise LockTimeout(f"lock {name!r} busy for more than {wait_s} s") from None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)
