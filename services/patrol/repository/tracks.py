"""Track summaries in `tracks` and the fixes they index, for the patrol adapter. Never holds a
business rule: the summary arrives computed by the use case.

`tracks` has one writer, the points consumer (one per ranger, by partition): FerretDB v1 applies
an update as read-modify-write of the whole document. Its `chunks` list is the patrol's index of
its fixes (each chunk read by exact `_id`); a chunk stored again is listed once, where it was
first, and a seq's copy in a later chunk wins.
"""

from __future__ import annotations

from collections.abc import Sequence

from pymongo.asynchronous.database import AsyncDatabase

from services.patrol.domain.track import Fix
from services.patrol.repository.chunks import Chunks
from services.patrol.repository.documents import (
    Document,
    ranges_from_doc,
    track_from_doc,
    track_to_doc,
)
from services.patrol.store import StoredTrack

TRACKS = "tracks"
# What lists and scans read of many tracks at once.
HEAD_FIELDS = {"seq_ranges": 0, "flags.examples": 0, "chunks": 0}


class MongoTracks:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.tracks = db[TRACKS]
        self.chunks = Chunks(db)

    async def track(self, patrol_id: str) -> StoredTrack | None:
        doc = await self.tracks.find_one({"_id": patrol_id}, {"chunks": 0})
        return track_from_doc(doc) if doc else None

    async def track_heads(self, patrol_ids: Sequence[str]) -> dict[str, StoredTrack]:
        if not patrol_ids:
            return {}
        cursor = self.tracks.find({"_id": {"$in": list(patrol_ids)}}, HEAD_FIELDS)
        return {str(d["_id"]): track_from_doc(d) async for d in cursor}

    async def seq_ranges(self, patrol_id: str) -> tuple[tuple[int, int], ...]:
        doc = await self.tracks.find_one({"_id": patrol_id}, {"seq_ranges": 1})
        return ranges_from_doc((doc or {}).get("seq_ranges"))

    async def append_fixes(
        self, patrol_id: str, fixes: Sequence[Fix], track: StoredTrack
    ) -> None:
        digests = await self.chunks.insert(patrol_id, fixes)
        await self.tracks.update_one(
            {"_id": patrol_id},
            {"$set": track_to_doc(track), "$addToSet": {"chunks": {"$each": digests}}},
            upsert=True,
        )

    async def fixes_of(self, patrol_id: str) -> list[Fix]:
        doc = await self.tracks.find_one({"_id": patrol_id}, {"chunks": 1})
        stored = await self.chunks.load(patrol_id, (doc or {}).get("chunks") or [])
        return list({f.seq: f for f in stored}.values())
