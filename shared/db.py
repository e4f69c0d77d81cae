"""The MongoDB client (PyMongo's native async API) and index set-up; works against MongoDB and
FerretDB v1. Only what FerretDB v1 serves is used: no transactions, change streams or TTL indexes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from pymongo import AsyncMongoClient, IndexModel, monitoring
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

from shared import metrics
from shared.retry import Backoff, retry
from shared.settings import Settings

Document = dict[str, Any]
T = TypeVar("T")


def connect(settings: Settings) -> AsyncMongoClient[Document]:
    """A client with short server selection, so a database outage surfaces as an error to retry
    rather than a hung request; datetimes come back timezone-aware (UTC)."""
    return AsyncMongoClient(
        settings.mongo_uri,
        tz_aware=True,
        serverSelectionTimeoutMS=3000,
        connectTimeoutMS=3000,
        socketTimeoutMS=20000,
        retryWrites=False,  # FerretDB v1 does not support retryable writes; handlers are idempotent
        appname=settings.service,
        event_listeners=[StoreCommandMetrics(settings.service)],
    )


class StoreCommandMetrics(monitoring.CommandListener):
    """Counts every database command and the time waited for it, per command and collection
    (`hulin_store_commands_total`, `hulin_store_command_seconds_total`): where a service's store
    time goes, read from /metrics without a profiler."""

    def __init__(self, service: str) -> None:
        self._service = service
        self._collection: dict[int, tuple[str, str]] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        target = event.command.get("collection" if name == "getMore" else name)
        collection = target if isinstance(target, str) else ""
        self._collection[event.request_id] = (name, collection)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._record(event, "ok")

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._record(event, "error")

    def _record(
        self, event: monitoring.CommandSucceededEvent | monitoring.CommandFailedEvent, outcome: str
    ) -> None:
        name, collection = self._collection.pop(event.request_id, (event.command_name, ""))
        metrics.store_commands_total.labels(self._service, name, collection, outcome).inc()
        metrics.store_command_seconds_total.labels(self._service, name, collection).inc(
            event.duration_micros / 1e6
        )


def database(client: AsyncMongoClient[Document], settings: Settings) -> AsyncDatabase[Document]:
    return client[settings.database_name]


async def ping(db: AsyncDatabase[Document], timeout_s: float = 2.0) -> bool:
    """True when the database answers now (for /readyz)."""
    try:
        await asyncio.wait_for(db.command("ping"), timeout_s)
        return True
    except Exception:
        return False


async def ensure_indexes(
    db: AsyncDatabase[Document], indexes: dict[str, Sequence[IndexModel]]
) -> None:
    """Create the given collections (all of them, also those listed with no index) and their
    indexes; idempotent. A collection first made by an insert on the event path costs that
    insert the DDL (on FerretDB: a table, its metadata, its `_id` index), in the middle of the
    traffic; made here, at start-up, it costs nothing later.

    One index per command: FerretDB v1 panics (drops the connection) on a createIndexes naming
    several indexes when some of them already exist, i.e. on every restart of a service."""
    existing = set(await db.list_collection_names())
    for collection in indexes:
        if collection not in existing:
            try:
                await db.create_collection(collection)
            except OperationFailure as exc:
                if exc.code != 48:  # NamespaceExists: another replica made it meanwhile
                    raise
    for collection, models in indexes.items():
        for model in models:
            await db[collection].create_indexes([model])


async def drop_databases(client: AsyncMongoClient[Document], prefix: str) -> None:
    """Drop every database of a deployment (`<prefix>_<service>`); for tests and benchmarks."""
    for name in await client.list_database_names():
        if name == prefix or name.startswith(f"{prefix}_"):
            await client.drop_database(name)


def is_store_busy(exc: BaseException) -> bool:
    """FerretDB's SQLite backend refusing a write while another writer holds the file
    (SQLITE_BUSY, "database is locked"): a transient fault, to be retried."""
    return isinstance(exc, OperationFailure) and _busy_text(str(exc))


def _busy_text(text: str) -> bool:
    return "SQLITE_BUSY" in text or "database is locked" in text


# Waits between tries of a write SQLite refused as busy: short, since the holder's write is short.
BUSY_BACKOFF = Backoff(first_s=0.01, max_s=0.5)


async def busy_retry(call: Callable[[], Awaitable[T]], *, attempts: int = 30) -> T:
    """Retry a write that SQLite refused because another writer held the lock (FerretDB).
    Writes are not serialized in-process on purpose: FerretDB's scan before each write runs in
    parallel; only SQLite's final write is one at a time. MongoDB never answers busy."""
    return await retry(call, backoff=BUSY_BACKOFF, when=is_store_busy, attempts=attempts)


async def insert_once(db: AsyncDatabase[Document], collection: str, doc: Document) -> bool:
    """Insert; a duplicate key means it is already there, which is success. True if inserted."""
    try:
        await db[collection].insert_one(doc)
        return True
    except DuplicateKeyError:
        return False


async def insert_new(
    collection: Any, docs: Sequence[Document], *, token: str | None = None
) -> set[str]:
    """Insert many at once; returns the `_id`s this call inserted. A duplicate key is someone
    else's document — unless it carries our `token` (an earlier try of this very call that the
    store took before refusing the rest as busy). Busy refusals are retried."""
    pending = list(docs)
    inserted: set[str] = set()
    delay = 0.01
    for _attempt in range(30):
        if not pending:
            break
        try:
            await collection.insert_many(pending, ordered=False)
            inserted |= {d["_id"] for d in pending}
            break
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            failed = {e["index"] for e in errors}
            inserted |= {d["_id"] for i, d in enumerate(pending) if i not in failed}
            duplicates = [pending[e["index"]]["_id"] for e in errors if e.get("code") == 11000]
            if duplicates and token is not None:
                mine = collection.find({"_id": {"$in": duplicates}, "token": token}, {"_id": 1})
                inserted |= {d["_id"] async for d in mine}
            others = [e for e in errors if e.get("code") != 11000]
            if others and not all(_busy_text(str(e)) for e in others):
                raise
            pending = [pending[e["index"]] for e in others]
            if not pending:
                break
        except OperationFailure as exc:
            if not is_store_busy(exc):
                raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.5)
    else:
        raise OperationFailure("store busy: bulk insert did not go through")
    return inserted
