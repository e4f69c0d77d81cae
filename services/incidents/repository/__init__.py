"""The documents of the incidents store on MongoDB (FerretDB v1 in dev and tests), below the port
(`repository/store.py` maps them to domain models). Nothing here knows a rule of the domain.

Every incident change is first *claimed* by inserting a small claim whose `_id` is
`<incident id>:<version it replaces>`: the unique `_id` makes the claim atomic on MongoDB and on
FerretDB alike (FerretDB v1's findAndModify is a read then a separate write, so a conditional
update is not a compare-and-set there). Before the claim, the change (new document and events to
publish) is staged in the outbox under the same id; it is deleted once published, so the outbox
holds only changes in flight and the relay's scan of it stays small. A relay replays and
publishes what a crash left there.

Stock FerretDB v1 hands SQLite only `{_id: x}` filters, and scans the table for them; incidents
therefore live in a few hash-sharded collections (`incidents_00`…) to keep each lookup short. The
local store (`infra/ferretdb`) serves `_id` and `_id $in` lookups from an index, as MongoDB does,
so reads of many ids go as one `$in` per collection.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import zlib
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import bson
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.incidents.repository.lists import LISTS, IncidentLists, ListPage, keep_all
from services.incidents.repository.timers import TIMERS, TimerEntries
from shared.clock import as_utc
from shared.db import busy_retry, insert_new
from shared.locks import LOCKS, locked

Document = dict[str, Any]
log = logging.getLogger(__name__)

REPORTS = "reports"
REPORT_LINKS = "report_links"  # report id → incident id (insert-only: cheap on FerretDB)
OUTBOX = "incident_outbox"  # staged changes not yet published (small: in-flight only)
SET_ASIDE = "outbox_set_aside"  # changes the store refused for good, with the error
CELLS = "merge_cells"  # grid cells → open incidents in them (hash-sharded like incidents)
POSITIONS = "ranger_positions"  # latest position per ranger (from patrol.position_updated)
DEFAULT_SHARDS = 16


def shard_name(index: int) -> str:
    return f"incidents_{index:02d}"


# Claims of incident versions, all in one collection: only inserted (unique `_id`), read by the
# relay now and then, swept of claims older than `change_retention_s`, so it stays small.
CHANGES = "incident_claims"


def indexes_for(shards: int = DEFAULT_SHARDS) -> dict[str, Sequence[IndexModel]]:
    """Indexes MongoDB uses for these queries (FerretDB v1 keeps them but scans anyway)."""
    out: dict[str, Sequence[IndexModel]] = {
        REPORTS: [IndexModel([("reporter_id", ASCENDING)])],
        POSITIONS: [IndexModel([("on_patrol", ASCENDING)])],
        OUTBOX: [IndexModel([("at", ASCENDING)])],
        SET_ASIDE: [],
        CHANGES: [IndexModel([("at", ASCENDING)])],
        REPORT_LINKS: [],  # no index: made at start-up, not by the first report
        LISTS: [],  # read by `_id` range only (repository/lists.py)
        TIMERS: [],  # read whole or by `_id` range (repository/timers.py)
        LOCKS: [],
    }
    for i in range(shards):
        out[f"{CELLS}_{i:02d}"] = []
        out[shard_name(i)] = []
    return out


# The local store hands SQLite an `_id` $in of at most this many ids (our FerretDB patch 0002),
# and scans the table for a longer one; MongoDB's index serves any length.
ID_LIST_MAX = 1000


async def by_ids(collection: AsyncCollection[Document], ids: Sequence[str]) -> list[Document]:
    """The documents of `collection` with these `_id`s: `_id` $in, ID_LIST_MAX ids a find."""
    docs: list[Document] = []
    for start in range(0, len(ids), ID_LIST_MAX):
        chunk = list(ids[start : start + ID_LIST_MAX])
        docs += await collection.find({"_id": {"$in": chunk}}).to_list()
    return docs


class IncidentsRepository:
    def __init__(self, db: AsyncDatabase[Document], *, shards: int = DEFAULT_SHARDS) -> None:
        self.db = db
        self.shards = shards
        self.lists = IncidentLists(db, busy_retry)
        self.timer_entries = TimerEntries(db, self._index, busy_retry)

    def _index(self, incident_id: str) -> int:
        return zlib.crc32(incident_id.encode()) % self.shards

    def _shard(self, incident_id: str) -> AsyncCollection[Document]:
        return self.db[shard_name(self._index(incident_id))]

    def _cells(self, key: str) -> AsyncCollection[Document]:
        return self.db[f"{CELLS}_{self._index(key):02d}"]

    def _all_shards(self) -> list[AsyncCollection[Document]]:
        return [self.db[shard_name(i)] for i in range(self.shards)]

    # --- incidents ------------------------------------------------------------------------------

    async def get_incident(self, incident_id: str) -> Document | None:
        return await self._shard(incident_id).find_one({"_id": incident_id})

    async def commit(
        self, *, base_version: int, doc: Document, events: Sequence[Document], at: datetime
    ) -> str | None:
        """Stage the change in the outbox, claim it from `base_version`, store `doc`; returns the
        change id, or None when someone else is changing or changed that version (reload and
        decide again)."""
        change_id = f"{doc['_id']}:{base_version}"
        if not await self.stage(change_id, doc=doc, events=events, at=at):
            return None
        if not await self.claim(change_id, at=at):
            await self.mark_published([change_id])  # our staged copy: the claim went elsewhere
            return None
        await self.apply(doc)
        return change_id

    async def commit_many(
        self, changes: Sequence[tuple[int, Document, Sequence[Document]]], *, at: datetime
    ) -> set[str]:
        """`commit` for a batch of changes to distinct incidents, in a few bulk writes instead of
        three writes each (FerretDB's SQLite takes one write at a time: a burst of single writes
        is a queue). Each (base version, document, events) is staged, claimed and written as in
        `commit`; returns the ids of the changes this call claimed and wrote."""
        if not changes:
            return set()
        token = uuid.uuid4().hex  # tells our own earlier try of a write from someone else's
        records = [
            {
                "_id": f"{doc['_id']}:{base}",
                "incident_id": doc["_id"],
                "base_version": base,
                "at": at,
                "change": self._pack(doc, events),
                "token": token,
            }
            for base, doc, events in changes
        ]
        staged = await insert_new(self.db[OUTBOX], records, token=token)
        claims = [{"_id": change_id, "at": at, "token": token} for change_id in sorted(staged)]
        claimed = await insert_new(self.db[CHANGES], claims, token=token) if claims else set()
        lost = staged - claimed
        if lost:  # claimed by someone else: our staged copies go
            await busy_retry(lambda: self.db[OUTBOX].delete_many({"_id": {"$in": sorted(lost)}}))
        new: dict[int, list[Document]] = {}
        changed: list[Document] = []
        for record, (_, doc, _) in zip(records, changes, strict=True):
            if record["_id"] in claimed:
                if record["base_version"] == 0:
                    new.setdefault(self._index(record["incident_id"]), []).append(doc)
                else:
                    changed.append(doc)
        await asyncio.gather(
            *(self._write_new(self.db[shard_name(i)], d) for i, d in new.items()),
            *(self._replace(doc) for doc in changed),
        )
        return claimed

    async def _put_read_models(self, docs: Sequence[Document]) -> None:
        """The lists and timers of these incidents, written before the incidents themselves."""
        await asyncio.gather(self.lists.put(docs), self.timer_entries.put(docs))

    async def _replace(self, doc: Document) -> None:
        await self._put_read_models([doc])
        shard = self._shard(doc["_id"])
        await busy_retry(lambda: shard.replace_one({"_id": doc["_id"]}, doc, upsert=True))

    async def _write_new(self, shard: AsyncCollection[Document], docs: list[Document]) -> None:
        """Write claimed documents: inserted in one go; one already there (a replay) replaced."""
        await self._put_read_models(docs)
        written = await insert_new(shard, docs)
        for doc in docs:
            if doc["_id"] not in written:
                await self._upsert(shard, doc)

    async def _upsert(self, shard: AsyncCollection[Document], doc: Document) -> None:
        await busy_retry(lambda: shard.replace_one({"_id": doc["_id"]}, doc, upsert=True))

    async def stage(
        self, change_id: str, *, doc: Document, events: Sequence[Document], at: datetime
    ) -> bool:
        """Put a change in the outbox before claiming it; False if that change is in flight."""
        incident_id, base = change_id.rsplit(":", 1)
        record = {
            "_id": change_id,
            "incident_id": incident_id,
            "base_version": int(base),
            "at": at,
            "change": self._pack(doc, events),
        }
        try:
            await busy_retry(lambda: self.db[OUTBOX].insert_one(record))
            return True
        except DuplicateKeyError:
            return False

    async def claim(self, change_id: str, *, at: datetime) -> bool:
        """The claim of a version: exactly one insert of this `_id` succeeds."""
        try:
            await busy_retry(lambda: self.db[CHANGES].insert_one({"_id": change_id, "at": at}))
            return True
        except DuplicateKeyError:
            return False

    async def is_claimed(self, change_id: str) -> bool:
        return await self.db[CHANGES].find_one({"_id": change_id}) is not None

    async def apply(self, doc: Document) -> None:
        """Write an incident document (a claimed change, or a replay of one)."""
        await self._put_read_models([doc])
        shard = self._shard(doc["_id"])
        if doc.get("version") == 1:
            try:
                await busy_retry(lambda: shard.insert_one(doc))
                return
            except DuplicateKeyError:
                pass
        await busy_retry(lambda: shard.replace_one({"_id": doc["_id"]}, doc, upsert=True))

    async def mark_published(self, change_ids: Iterable[str]) -> None:
        """Published (or abandoned): out of the outbox. The claim stays, guarding its version."""
        ids = list(change_ids)
        if not ids:
            return
        # One delete for the lot: one round trip to the store's single writer, not one per change.
        query = {"_id": ids[0]} if len(ids) == 1 else {"_id": {"$in": ids}}
        await busy_retry(lambda: self.db[OUTBOX].delete_many(query))

    async def set_aside(self, change_id: str, *, error: str, at: datetime) -> None:
        """Move a staged change the store refused for good to SET_ASIDE (packed as staged, with
        the error) and release its claim. The copy is written first: a crash after it leaves the
        change unclaimed in the outbox, which the relay drops."""
        record = await self.db[OUTBOX].find_one({"_id": change_id})
        if record is not None:
            record.update({"error": error, "set_aside_at": at})
            try:
                await busy_retry(lambda: self.db[SET_ASIDE].insert_one(record))
            except DuplicateKeyError:
                pass  # set aside before, by an earlier try of this call
        await busy_retry(lambda: self.db[CHANGES].delete_one({"_id": change_id}))
        await busy_retry(lambda: self.db[OUTBOX].delete_one({"_id": change_id}))

    async def set_aside_changes(self) -> list[Document]:
        """The changes set aside, each with its error (for an operator and for tests)."""
        return await self.db[SET_ASIDE].find({}).to_list()

    async def pending_changes(self, *, before: datetime, limit: int) -> list[Document]:
        """Staged changes older than `before`, oldest first, each with its `doc` and `events`
        (the outbox holds only in-flight changes, so this scan stays short however many
        incidents there are)."""
        query = {"at": {"$lte": before}}
        records = await self.db[OUTBOX].find(query).sort("at", ASCENDING).limit(limit).to_list()
        return [self._unpack(r) for r in records]

    # A staged change's document and events travel as one BSON value, opaque to the store: it
    # only ever stores and returns them, and FerretDB converts a nested document field by field
    # on every insert and again on the delete that reads it back (docs/scaling.md).
    def _pack(self, doc: Document, events: Sequence[Document]) -> bytes:
        return bson.encode(
            {"doc": doc, "events": list(events)}, codec_options=self.db.codec_options
        )

    def _unpack(self, record: Document) -> Document:
        """A record as staged, with `doc` and `events` in place of the packed `change`."""
        record.update(bson.decode(bytes(record.pop("change")), codec_options=self.db.codec_options))
        return record

    async def sweep_changes(self, *, before: datetime) -> int:
        """Delete claims older than `before` (a writer holding an older read re-reads first)."""
        result = await busy_retry(lambda: self.db[CHANGES].delete_many({"at": {"$lte": before}}))
        return result.deleted_count

    async def timers(self, shard: int | None = None) -> list[tuple[str, datetime]]:
        """(incident id, next_timer_at) of every incident with a timer set, in one shard or all:
        read from the timers' own entries, so it costs the open work (repository/timers.py)."""
        return await self.timer_entries.due_times(shard)

    async def incidents_in(
        self,
        unit: str,
        *,
        status: str | None,
        type_: str | None,
        since: datetime | None,
        limit: int,
        cursor: str | None = None,
    ) -> ListPage:
        """A page of the unit's incidents (in it or below it), newest opened first, without
        their timelines; of one status, type, or changed since, when asked. BadCursor when the
        cursor is not this list's."""

        # A type without a status is its own range; with a status, the status range filtered.
        by_type = type_ if status else None

        def keep(doc: Document) -> bool:
            if by_type and doc.get("type") != by_type:
                return False
            return not since or as_utc(doc["updated_at"]) >= since

        matches = keep if (by_type or since) else keep_all
        return await self.lists.page(
            unit, status=status, type_=type_, limit=limit, cursor=cursor, keep=matches
        )

    async def count_incidents(self) -> int:
        counts = await asyncio.gather(*(c.count_documents({}) for c in self._all_shards()))
        return sum(counts)

    # --- merge cells ----------------------------------------------------------------------------

    async def cells(self, keys: Sequence[str]) -> dict[str, dict[str, Document]]:
        """Each given cell's members (cell → incident id → {lat, lon}), read at the same time:
        one find by `_id` $in per shard the cells fall in."""
        unique = list(dict.fromkeys(keys))
        by_shard: dict[int, list[str]] = {}
        for key in unique:
            by_shard.setdefault(self._index(key), []).append(key)
        parts = await asyncio.gather(
            *(by_ids(self._cells(ids[0]), ids) for ids in by_shard.values())
        )
        found = {str(d["_id"]): dict(d.get("members", {})) for docs in parts for d in docs}
        return {k: found.get(k, {}) for k in unique}

    async def file_in_cells(self, members: Sequence[tuple[str, str, float, float]]) -> None:
        """File open incidents under their cells, (cell, incident id, lat, lon): one write per
        cell, under the cells' lock: FerretDB applies `$set` as a read then a write of the whole
        document, so two incidents filed at once into one cell (neighbouring villages, handled by
        different partitions) could lose one. One lock for a whole batch's cells: taking and
        releasing it are writes too, and FerretDB scans the table for every delete."""
        by_cell: dict[str, Document] = {}
        for key, incident_id, lat, lon in members:
            by_cell.setdefault(key, {})[f"members.{incident_id}"] = {"lat": lat, "lon": lon}
        if not by_cell:
            return

        async def one(key: str, fields: Document) -> None:
            await busy_retry(
                lambda: self._cells(key).update_one({"_id": key}, {"$set": fields}, upsert=True)
            )

        async with locked(self.db, CELLS, lease_s=30.0, wait_s=60.0):
            await asyncio.gather(*(one(k, f) for k, f in by_cell.items()))

    async def remove_from_cell(self, key: str, incident_id: str) -> None:
        async with locked(self.db, CELLS, lease_s=30.0, wait_s=60.0):
            await busy_retry(
                lambda: self._cells(key).update_one(
                    {"_id": key}, {"$unset": {f"members.{incident_id}": ""}}
                )
            )

    # --- reports --------------------------------------------------------------------------------

    async def insert_reports(self, docs: Sequence[Document]) -> set[str]:
        """Store reports in one insert; returns the ids this call stored (the others were there)."""
        return await insert_new(self.db[REPORTS], docs) if docs else set()

    async def link_reports(self, links: Sequence[tuple[str, str]], at: datetime) -> None:
        """`link_report` for many (report id, incident id) in one insert."""
        docs = [{"_id": r, "incident_id": i, "at": at} for r, i in links]
        if docs:
            await insert_new(self.db[REPORT_LINKS], docs)

    async def get_report(self, report_id: str) -> Document | None:
        return await self.db[REPORTS].find_one({"_id": report_id})

    async def get_reports(self, report_ids: Sequence[str]) -> dict[str, Document]:
        """Reports by id, in one find by `_id` $in."""
        return {str(d["_id"]): d for d in await by_ids(self.db[REPORTS], report_ids)}

    async def get_link(self, report_id: str) -> str | None:
        doc = await self.db[REPORT_LINKS].find_one({"_id": report_id})
        return None if doc is None else str(doc["incident_id"])

    # --- ranger positions -----------------------------------------------------------------------

    async def save_position(self, doc: Document) -> None:
        """Keep the latest position per ranger (one ranger's events arrive in order, on one
        partition, so read-then-write is safe here)."""
        current = await self.db[POSITIONS].find_one({"_id": doc["_id"]})
        if current is not None and current["t"] >= doc["t"]:
            if current.get("patrol_id") == doc.get("patrol_id") or current["t"] > doc["t"]:
                return
        await busy_retry(
            lambda: self.db[POSITIONS].replace_one({"_id": doc["_id"]}, doc, upsert=True)
        )

    async def end_patrol(self, ranger_id: str, patrol_id: str) -> None:
        current = await self.db[POSITIONS].find_one({"_id": ranger_id})
        if current is None or current.get("patrol_id") != patrol_id:
            return
        await busy_retry(
            lambda: self.db[POSITIONS].update_one(
                {"_id": ranger_id}, {"$set": {"on_patrol": False}}
            )
        )

    async def positions_on_patrol(self) -> list[Document]:
        return await self.db[POSITIONS].find({"on_patrol": True}).to_list()
