"""The local store (our FerretDB main, `infra/ferretdb/main.go`) keeps its data directory usable:
it starts over a database whose creation never finished, and a dropped database leaves no file
behind (at once, or within seconds when a connection was still open at the drop). FerretDB v1
refuses to start at all when one `.sqlite` file lacks its catalogue table, so one such file used
to stop every later `make test` and `make up` on the machine."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient

from tests.support.dedicated import DedicatedInfra


def make_unfinished_database(path: Path) -> None:
    """What SQLite leaves when FerretDB is killed after creating a file and before its catalogue:
    a WAL-mode database with a header and no table."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DedicatedInfra]:
    infra = DedicatedInfra.create(tmp_path / "state")
    data = infra.state_dir / "ferretdb"
    data.mkdir(parents=True)
    make_unfinished_database(data / "unfinished.sqlite")
    (data / "empty.sqlite").touch()
    (data / "dropped.sqlite-wal").write_bytes(b"\0" * 4096)
    (data / "dropped.sqlite-shm").write_bytes(b"\0" * 4096)
    with_tables = sqlite3.connect(data / "foreign.sqlite")
    with_tables.execute("CREATE TABLE t (a)")
    with_tables.commit()
    with_tables.close()
    infra.infra("start-ferretdb")
    try:
        yield infra
    finally:
        infra.infra("stop-ferretdb")


def names(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()}


async def test_starts_over_unfinished_databases_and_keeps_what_it_cannot_read(
    store: DedicatedInfra,
) -> None:
    async with AsyncMongoClient[dict[str, object]](store.mongo_uri) as client:
        await client["hulin_ok"]["c"].insert_one({"_id": 1})
        assert await client.list_database_names() == ["hulin_ok"]
    data = store.state_dir / "ferretdb"
    left = names(data)
    for gone in ("unfinished.sqlite", "empty.sqlite", "dropped.sqlite-wal", "dropped.sqlite-shm"):
        assert gone not in left
    assert "foreign.sqlite" not in left, "a file with tables but no catalogue is moved aside"
    assert (data / "unreadable" / "foreign.sqlite").exists(), "and kept for a person to look at"


async def test_a_dropped_database_leaves_no_file(store: DedicatedInfra) -> None:
    data = store.state_dir / "ferretdb"
    async with AsyncMongoClient[dict[str, object]](store.mongo_uri) as client:
        await client["hulin_gone"]["c"].insert_many([{"_id": i} for i in range(100)])
        # the _id indexer opens every database once a second: wait until it has been at this one,
        # so the drop below races with it as it does under the tests and benches
        deadline = asyncio.get_running_loop().time() + 30
        while not indexed(data / "hulin_gone.sqlite"):
            assert asyncio.get_running_loop().time() < deadline, "the _id index never appeared"
            await asyncio.sleep(0.2)
        await client.drop_database("hulin_gone")
        await asyncio.sleep(2.5)  # two more turns of the indexer
    assert not [n for n in names(data) if n.startswith("hulin_gone")]


async def test_a_wal_left_by_a_connection_open_at_the_drop_is_removed(
    store: DedicatedInfra,
) -> None:
    """A connection still open when FerretDB drops a database (one of FerretDB's in use, or our
    checkpointer catching up on a large WAL) closes after the file is unlinked, and SQLite then
    keeps the -wal and -shm. Our main removes such leftovers once they have been quiet for 10 s."""
    data = store.state_dir / "ferretdb"
    path = data / "hulin_held.sqlite"
    async with AsyncMongoClient[dict[str, object]](store.mongo_uri) as client:
        docs: list[dict[str, object]] = [{"_id": i, "b": "x" * 500} for i in range(200)]
        await client["hulin_held"]["c"].insert_many(docs)
        holder = sqlite3.connect(f"file:{path}?mode=rw", uri=True)
        holder.execute("SELECT count(*) FROM sqlite_master").fetchall()  # holds the WAL open
        await client.drop_database("hulin_held")
        holder.close()
    assert not path.exists()
    assert (data / "hulin_held.sqlite-wal").exists(), "the leftover this test is about"
    deadline = asyncio.get_running_loop().time() + 40
    while [n for n in names(data) if n.startswith("hulin_held")]:
        assert asyncio.get_running_loop().time() < deadline, names(data)
        await asyncio.sleep(0.5)


def indexed(path: Path) -> bool:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'index' AND substr(name, -9) = '_hulin_id'"
        ).fetchall()
    finally:
        db.close()
    return bool(rows)


async def test_the_wal_stays_bounded_under_writes_that_never_pause(store: DedicatedInfra) -> None:
    """Checkpoints run beside FerretDB's writes (auto-checkpoint is off in its connections). Under
    writes that never pause no writer would find the WAL fully copied and restart it, so it would
    hold everything ever written; past 16 MB our main catches up until one does."""
    wal = store.state_dir / "ferretdb" / "hulin_busy.sqlite-wal"
    body = "x" * 4000
    written = largest = batch = 0
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with AsyncMongoClient[dict[str, object]](store.mongo_uri) as client:
        collection = client["hulin_busy"]["c"]
        # several turns of the checkpointer (one a second), and well past the 16 MB mark
        while loop.time() - started < 6 or written < 96 * 2**20:
            await collection.insert_many([{"_id": f"{batch}-{i}", "b": body} for i in range(100)])
            batch += 1
            written += 100 * len(body)
            largest = max(largest, wal.stat().st_size if wal.exists() else 0)
        assert await collection.count_documents({}) == batch * 100
    assert largest < written / 2, (
        f"the WAL reached {largest / 2**20:.0f} MB for {written / 2**20:.0f} MB written"
    )


async def test_a_killed_store_keeps_every_acknowledged_write(store: DedicatedInfra) -> None:
    """With checkpoints in the background most acknowledged writes live only in the WAL until the
    next one; kill -9 of FerretDB must lose none of them."""
    async with AsyncMongoClient[dict[str, object]](store.mongo_uri) as client:
        collection = client["hulin_kept"]["c"]
        for batch in range(50):
            docs: list[dict[str, object]] = [
                {"_id": f"{batch}-{i}", "b": "x" * 500} for i in range(40)
            ]
            await collection.insert_many(docs)
    store.infra("stop-ferretdb", "KILL")
    store.infra("start-ferretdb")
    async with AsyncMongoClient[dict[str, object]](store.mongo_uri) as client:
        assert await client["hulin_kept"]["c"].count_documents({}) == 2000
