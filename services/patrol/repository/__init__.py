"""The only module of the patrol service that talks to MongoDB (FerretDB v1 compatible).

Collections, each with ONE writer, because FerretDB v1 applies an update as read-modify-write of
the whole document: two concurrent `$set`s on different fields of one document can lose one.
- `patrols`: the patrol as the app declared it (start, finish) — written by HTTP handlers only;
- `tracks`: the track summary, the list of the patrol's chunks and last sign of life — written
  by the points consumer only (one consumer per ranger, by partition);
- `track_chunks`: the fixes, insert-only: one document per stored group of fixes, its `_id`
  `<patrol>:<digest of its content>`, so storing the same group again is a duplicate insert
  (success). Fixes are packed as little-endian columns (`seq` int64, `t` epoch seconds, `lat`,
  `lon`, `acc` float64, NaN = no accuracy): FerretDB stores one binary value per column instead
  of thousands of numbers. Chunks may overlap (a resend grouped differently): a point is
  (patrol, seq), and readers keep the copy of the latest chunk listed in `tracks.chunks`;
- `track_buckets`: the fixes before chunks (`points.<seq>` per block of seqs): read only, for
  tracks whose summary says `legacy_buckets`;
- `positions`: each ranger's latest fix — points consumer only;
- `overdue`: one claim per patrol (unique `_id`), so only one replica announces it.
Every query on the points path is by exact `_id`: FerretDB v1 (SQLite) pushes down only that and
scans the whole collection for anything else. Never holds a business rule: it stores and loads
what handlers decide.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import sys
from array import array
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.patrol.domain.track import Fix, QualityFlags, TrackSummary
from services.patrol.repository.lists import ACTIVE as ACTIVE_PATROLS
from services.patrol.repository.lists import LISTS as PATROL_LISTS
from services.patrol.repository.lists import PatrolLists, newest_first, ranger_prefix, unit_prefix
from shared.clock import as_utc

Document = dict[str, Any]

PATROLS = "patrols"
TRACKS = "tracks"
CHUNKS = "track_chunks"
BUCKETS = "track_buckets"  # legacy layout, read only
POSITIONS = "positions"
OVERDUE = "overdue"

INDEXES: dict[str, Sequence[IndexModel]] = {
    PATROLS: [],  # read by `_id`; lists and open work from the read models (lists.py)
    PATROL_LISTS: [],
    ACTIVE_PATROLS: [],
    BUCKETS: [IndexModel([("patrol_id", ASCENDING), ("b", ASCENDING)])],
    POSITIONS: [IndexModel([("village", ASCENDING)])],
    # no index of their own: listed so start-up makes them, not the first batch
    CHUNKS: [],
    TRACKS: [],
    OVERDUE: [],
}

# Fixes per chunk document: a consumer group of many batches becomes a few documents of ~400 KB.
CHUNK_MAX_FIXES = 10000
# Chunk reads in flight at once (each is a find by exact _id).
CHUNK_READS = 16
_LITTLE = sys.byteorder == "little"

# What the points endpoint needs to accept a batch (not the whole summary).
INGEST_FIELDS = {"ranger_id": 1, "village": 1, "started_at": 1, "ended_at": 1, "finished_at": 1}


def _fix_out(f: Fix) -> list[Any]:
    return [f.seq, f.t, f.lat, f.lon, f.accuracy_m]


def _fix_in(v: Sequence[Any] | None) -> Fix | None:
    if not v:
        return None
    return Fix(int(v[0]), float(v[1]), float(v[2]), float(v[3]), v[4])


def summary_to_doc(s: TrackSummary, rev: int) -> Document:
    f = s.flags
    return {
        "rev": rev,
        "points": s.points,
        "distance_m": s.distance_m,
        "first": _fix_out(s.first) if s.first else None,
        "last": _fix_out(s.last) if s.last else None,
        # FerretDB v1 stores no nested arrays: ranges are flattened to [lo0, hi0, lo1, hi1, …].
        "seq_ranges": [v for r in s.seq_ranges for v in r],
        "flags": {
            "speed": f.speed,
            "jumps": f.jumps,
            "gaps": f.gaps,
            "gap_s_total": f.gap_s_total,
            "outside": f.outside,
            "examples": f.examples,
        },
    }


def ranges_from_doc(flat: Sequence[Any] | None) -> tuple[tuple[int, int], ...]:
    values = [int(v) for v in flat or ()]
    return tuple(zip(values[0::2], values[1::2], strict=True))


def summary_from_doc(doc: Document | None) -> tuple[TrackSummary, int]:
    """The stored summary and its revision (0 when none stored yet)."""
    if not doc:
        return TrackSummary(), 0
    fl = doc.get("flags") or {}
    flags = QualityFlags(
        speed=int(fl.get("speed", 0)),
        jumps=int(fl.get("jumps", 0)),
        gaps=int(fl.get("gaps", 0)),
        gap_s_total=float(fl.get("gap_s_total", 0.0)),
        outside=int(fl.get("outside", 0)),
        examples={k: list(v) for k, v in (fl.get("examples") or {}).items()},
    )
    summary = TrackSummary(
        points=int(doc.get("points", 0)),
        distance_m=float(doc.get("distance_m", 0.0)),
        first=_fix_in(doc.get("first")),
        last=_fix_in(doc.get("last")),
        flags=flags,
        seq_ranges=ranges_from_doc(doc.get("seq_ranges")),
    )
    return summary, int(doc.get("rev", 0))


def is_legacy(track: Document) -> bool:
    """A track stored before chunks: its fixes are in `track_buckets` (alone or beside chunks)."""
    return bool(track.get("legacy_buckets")) or (
        "chunks" not in track and int(track.get("points", 0)) > 0
    )


def _column(code: str, values: Sequence[float] | Sequence[int]) -> bytes:
    col = array(code, values)
    if not _LITTLE:  # pragma: no cover - the stored layout is little-endian everywhere
        col.byteswap()
    return col.tobytes()


def _uncolumn(code: str, raw: bytes) -> array[Any]:
    col = array(code)
    col.frombytes(raw)
    if not _LITTLE:  # pragma: no cover
        col.byteswap()
    return col


def pack_chunk(patrol_id: str, fixes: Sequence[Fix]) -> Document:
    """A chunk document; its `_id` ends with a digest of the packed fixes."""
    seq = _column("q", [f.seq for f in fixes])
    t = _column("d", [f.t for f in fixes])
    lat = _column("d", [f.lat for f in fixes])
    lon = _column("d", [f.lon for f in fixes])
    acc = _column("d", [math.nan if f.accuracy_m is None else f.accuracy_m for f in fixes])
    digest = hashlib.blake2b(seq + t + lat + lon + acc, digest_size=12).hexdigest()
    return {
        "_id": f"{patrol_id}:{digest}",
        "patrol_id": patrol_id,
        "n": len(fixes),
        "seq": seq,
        "t": t,
        "lat": lat,
        "lon": lon,
        "acc": acc,
    }


def unpack_chunk(doc: Document) -> list[Fix]:
    accs = [None if math.isnan(a) else a for a in _uncolumn("d", doc["acc"])]
    return list(
        map(
            Fix,
            _uncolumn("q", doc["seq"]),
            _uncolumn("d", doc["t"]),
            _uncolumn("d", doc["lat"]),
            _uncolumn("d", doc["lon"]),
            accs,
        )
    )


class PatrolRepository:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db
        self.patrols = db[PATROLS]
        self.chunks = db[CHUNKS]
        self.buckets = db[BUCKETS]
        self.positions = db[POSITIONS]
        self.tracks = db[TRACKS]
        self.overdue = db[OVERDUE]
        self.lists = PatrolLists(db)

    # --- patrols --------------------------------------------------------------------------------
    async def insert_patrol(self, doc: Document) -> bool:
        """Insert a new patrol and list it; False when the id exists already (listed again from
        what is stored: a start retried after a crash between the writes mends the lists)."""
        try:
            await self.patrols.insert_one(doc)
            created = True
        except DuplicateKeyError:
            created = False
        stored = doc if created else await self.get(str(doc["_id"]))
        if stored is not None:
            await self.lists.put(stored)
        return created

    async def get(self, patrol_id: str) -> Document | None:
        return await self.patrols.find_one({"_id": patrol_id})

    async def get_for_ingest(self, patrol_id: str) -> Document | None:
        return await self.patrols.find_one({"_id": patrol_id}, INGEST_FIELDS)

    async def set_flag(self, patrol_id: str, field: str, value: Any = True) -> None:
        await self.patrols.update_one({"_id": patrol_id}, {"$set": {field: value}})
        await self._relist(patrol_id)

    async def _relist(self, patrol_id: str) -> None:
        stored = await self.get(patrol_id)
        if stored is not None:
            await self.lists.put(stored)

    async def finish(self, patrol_id: str, ended_at: datetime, now: datetime) -> Document | None:
        """Set the end once (only if not finished); returns the document after, or None when it
        was finished already (the caller reloads it)."""
        after = await self.patrols.find_one_and_update(
            {"_id": patrol_id, "ended_at": None},
            {"$set": {"ended_at": ended_at, "finished_at": now, "status": "finished"}},
            return_document=ReturnDocument.AFTER,
        )
        if after is not None:
            await self.lists.put(after)
        else:  # finished already: its lists as stored (mends a crash after the first write)
            await self._relist(patrol_id)
        return after

    async def get_track(self, patrol_id: str) -> Document | None:
        return await self.tracks.find_one({"_id": patrol_id})

    async def get_seq_ranges(self, patrol_id: str) -> Document | None:
        return await self.tracks.find_one({"_id": patrol_id}, {"seq_ranges": 1})

    async def get_tracks(self, patrol_ids: Sequence[str]) -> dict[str, Document]:
        if not patrol_ids:
            return {}
        cursor = self.tracks.find(
            {"_id": {"$in": list(patrol_ids)}},
            {"seq_ranges": 0, "flags.examples": 0, "chunks": 0},
        )
        return {d["_id"]: d async for d in cursor}

    async def save_summary(
        self, patrol_id: str, summary: TrackSummary, *, rev: int, extra: Document
    ) -> None:
        """Store the track summary (the points consumer is its only writer)."""
        doc = summary_to_doc(summary, rev)
        await self.tracks.update_one({"_id": patrol_id}, {"$set": {**doc, **extra}}, upsert=True)

    async def find_patrols(
        self,
        *,
        ranger_ids: Sequence[str] | None = None,
        unit: str | None = None,
        started_from: datetime | None = None,
        started_to: datetime | None = None,
        active_only: bool = False,
        limit: int | None = 500,
    ) -> list[Document]:
        """Patrols newest first: of these rangers, or in this unit (its village, township or
        district), or both, started in [from, to); with `active_only`, the unfinished ones (the
        open work, whatever the history). Read from the lists (`lists.py`), never by a scan."""
        if active_only:
            docs = [
                d
                for d in await self.lists.active()
                if (ranger_ids is None or d["ranger_id"] in ranger_ids)
                and (unit is None or unit in (d.get("scope_units") or [d["village"]]))
                and (started_from is None or as_utc(d["started_at"]) >= started_from)
                and (started_to is None or as_utc(d["started_at"]) < started_to)
            ]
            return newest_first([docs], limit)

        async def under(prefix: str) -> list[Document]:
            return await self.lists.between(
                prefix, started_from=started_from, started_to=started_to, limit=limit
            )

        if ranger_ids is not None:
            parts = await asyncio.gather(
                *(under(ranger_prefix(r)) for r in dict.fromkeys(ranger_ids))
            )
            docs = newest_first(list(parts), limit)
            if unit is not None:
                docs = [d for d in docs if unit in (d.get("scope_units") or [d["village"]])]
            return docs
        if unit is None:
            raise ValueError("find_patrols needs rangers, a unit or active_only")
        return await under(unit_prefix(unit))

    # --- fixes ------------------------------------------------------------------------------------
    async def store_fixes(self, patrol_id: str, fixes: Sequence[Fix]) -> list[str]:
        """Insert the fixes as chunk documents; returns their digests (in order). Inserting a
        chunk that exists already is success: its `_id` is a digest of its content."""
        docs = [
            pack_chunk(patrol_id, fixes[i : i + CHUNK_MAX_FIXES])
            for i in range(0, len(fixes), CHUNK_MAX_FIXES)
        ]
        if not docs:
            return []
        try:
            await self.chunks.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                raise
        return [d["_id"].rsplit(":", 1)[1] for d in docs]

    async def load_chunks(self, patrol_id: str, digests: Sequence[str]) -> list[Fix]:
        """The fixes of these chunks, in chunk order (a later chunk's copy of a seq comes later)."""
        gate = asyncio.Semaphore(CHUNK_READS)

        async def one(digest: str) -> Document | None:
            async with gate:
                return await self.chunks.find_one({"_id": f"{patrol_id}:{digest}"})

        out: list[Fix] = []
        for doc in await asyncio.gather(*(one(d) for d in digests)):
            if doc is not None:
                out.extend(unpack_chunk(doc))
        return out

    async def load_legacy_fixes(self, patrol_id: str) -> list[Fix]:
        """Fixes stored in the bucket layout (before chunks); a scan on FerretDB, legacy only."""
        out: list[Fix] = []
        async for doc in self.buckets.find({"patrol_id": patrol_id}):
            for seq, v in (doc.get("points") or {}).items():
                out.append(Fix(int(seq), float(v[0]), float(v[1]), float(v[2]), v[3]))
        return out

    async def load_track_fixes(self, patrol_id: str, track: Document | None) -> list[Fix]:
        """Every stored fix of a patrol, given its `tracks` document: unordered, one per seq (the
        copy of the latest chunk)."""
        if not track:
            return []
        legacy = await self.load_legacy_fixes(patrol_id) if is_legacy(track) else []
        chunks = await self.load_chunks(patrol_id, track.get("chunks") or [])
        return list({f.seq: f for f in (*legacy, *chunks)}.values())

    async def load_fixes(self, patrol_ids: Sequence[str]) -> dict[str, list[Fix]]:
        """Every stored fix of these patrols (unordered, one per seq)."""
        out: dict[str, list[Fix]] = {}
        for pid in patrol_ids:  # one at a time: each already reads its chunks concurrently
            out[pid] = await self.load_track_fixes(pid, await self.get_track(pid))
        return out

    # --- positions --------------------------------------------------------------------------------
    async def update_position(self, ranger_id: str, doc: Document) -> bool:
        """Store the ranger's position if it is newer than the stored one; True if it was."""
        t = doc["t"]
        result = await self.positions.update_one({"_id": ranger_id, "t": {"$lt": t}}, {"$set": doc})
        if result.matched_count:
            return True
        try:
            await self.positions.insert_one({"_id": ranger_id, **doc})
            return True
        except DuplicateKeyError:
            return False  # a newer (or the same) position is stored

    async def positions_in(self, villages: Sequence[str]) -> list[Document]:
        cursor = self.positions.find({"village": {"$in": list(villages)}})
        return [d async for d in cursor]

    # --- overdue ----------------------------------------------------------------------------------
    async def overdue_states(self, patrol_ids: Sequence[str]) -> dict[str, Document]:
        cursor = self.overdue.find({"_id": {"$in": list(patrol_ids)}})
        return {d["_id"]: d async for d in cursor}

    async def claim_overdue(
        self, patrol_id: str, token: str, *, now: datetime, lease_until: datetime
    ) -> bool:
        """Claim the right to announce a patrol overdue: an insert on a unique `_id` (atomic even
        on FerretDB). An expired, unpublished claim is removed (by its token) and claimed anew."""
        claim = {"_id": patrol_id, "token": token, "lease_until": lease_until, "published": False}
        try:
            await self.overdue.insert_one(claim)
            return True
        except DuplicateKeyError:
            pass
        old = await self.overdue.find_one({"_id": patrol_id})
        if old is None or old.get("published"):
            return False
        if old["lease_until"].replace(tzinfo=UTC) >= now:
            return False  # another replica holds a live lease
        await self.overdue.delete_one({"_id": patrol_id, "token": old["token"]})
        try:
            await self.overdue.insert_one(claim)
            return True
        except DuplicateKeyError:
            return False

    async def mark_overdue_published(self, patrol_id: str, token: str, now: datetime) -> None:
        await self.overdue.update_one(
            {"_id": patrol_id, "token": token},
            {"$set": {"published": True, "published_at": now}},
        )

    async def release_overdue(self, patrol_id: str, token: str) -> None:
        await self.overdue.delete_one({"_id": patrol_id, "token": token, "published": False})
