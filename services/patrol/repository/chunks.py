"""Fixes stored as packed chunk documents in `track_chunks` (insert-only), a limit of the local
store kept out of the use cases. Never decides which copy of a seq counts: `tracks.py` does.

One document per stored group of fixes, its `_id` `<patrol>:<digest of its content>`, so storing
the same group again is a duplicate insert (success). Fixes are packed as little-endian columns
(`seq` int64, `t` epoch seconds, `lat`, `lon`, `acc` float64, NaN = no accuracy): FerretDB stores
one binary value per column instead of thousands of numbers.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import sys
from array import array
from collections.abc import Sequence
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from services.patrol.domain.track import Fix

Document = dict[str, Any]
CHUNKS = "track_chunks"
# Fixes per chunk document: a consumer group of many batches becomes a few documents of ~400 KB.
CHUNK_MAX_FIXES = 10000
# Chunk reads in flight at once (each is a find by exact _id).
CHUNK_READS = 16
DUPLICATE_KEY = 11000
_LITTLE = sys.byteorder == "little"


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


class Chunks:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[CHUNKS]

    async def insert(self, patrol_id: str, fixes: Sequence[Fix]) -> list[str]:
        """Insert the fixes as chunks; their digests in order. A chunk stored already (its `_id`
        is a digest of its content) is success."""
        docs = [
            pack_chunk(patrol_id, fixes[i : i + CHUNK_MAX_FIXES])
            for i in range(0, len(fixes), CHUNK_MAX_FIXES)
        ]
        if not docs:
            return []
        try:
            await self.collection.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            if any(e.get("code") != DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
                raise
        return [d["_id"].rsplit(":", 1)[1] for d in docs]

    async def load(self, patrol_id: str, digests: Sequence[str]) -> list[Fix]:
        """The fixes of these chunks, in chunk order (a later chunk's copy of a seq comes later)."""
        gate = asyncio.Semaphore(CHUNK_READS)

        async def one(digest: str) -> Document | None:
            async with gate:
                return await self.collection.find_one({"_id": f"{patrol_id}:{digest}"})

        out: list[Fix] = []
        for doc in await asyncio.gather(*(one(d) for d in digests)):
            if doc is not None:
                out.extend(unpack_chunk(doc))
        return out
