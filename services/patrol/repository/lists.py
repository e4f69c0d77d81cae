"""Patrol lists as read models keyed by `_id` (issue 15; docs/scaling.md §6).

Each patrol has, in `patrol_lists`, a copy under `r|<ranger>|<started at>|<id>` and, for each
unit it lies in (its village, township, district), `u|<unit>|<started at>|<id>`: a ranger's or a
unit's patrols over a period are one `_id` range, newest first. `patrols_active` holds a copy of
each patrol not finished yet, under its id: the positions on patrol and the overdue scan read only
these, the open work, never the history.

The copies follow the patrol: written after it is stored (from the stored document, so a retried
start mends a crash in between), rewritten when it changes, the active one deleted when it ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import DESCENDING, ReplaceOne
from pymongo.asynchronous.database import AsyncDatabase

from services.patrol.store import ListMark
from shared.cursors import sort_time

Document = dict[str, Any]
LISTS = "patrol_lists"
ACTIVE = "patrols_active"
SEP = "|"
END = chr(ord(SEP) + 1)


def ranger_prefix(ranger_id: str) -> str:
    return SEP.join(("r", ranger_id, ""))


def unit_prefix(unit: str) -> str:
    return SEP.join(("u", unit, ""))


def keys_of(doc: Document) -> list[str]:
    tail = SEP.join((sort_time(doc["started_at"]), str(doc["_id"])))
    units = doc.get("scope_units") or [doc["village"]]
    return [ranger_prefix(str(doc["ranger_id"])) + tail] + [
        unit_prefix(str(u)) + tail for u in units
    ]


def as_patrol(row: Document) -> Document:
    out = {k: v for k, v in row.items() if k != "patrol_id"}
    out["_id"] = row["patrol_id"]
    return out


class PatrolLists:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db

    async def put(self, doc: Document) -> None:
        """The patrol's copies as it now stands (its active copy gone once it has ended)."""
        copy = {**doc, "patrol_id": doc["_id"]}
        writes = [ReplaceOne({"_id": k}, {**copy, "_id": k}, upsert=True) for k in keys_of(doc)]
        await self.db[LISTS].bulk_write(writes, ordered=False)
        if doc.get("ended_at") is None:
            await self.db[ACTIVE].replace_one({"_id": doc["_id"]}, doc, upsert=True)
        else:
            await self.db[ACTIVE].delete_one({"_id": doc["_id"]})

    async def between(
        self,
        prefix: str,
        *,
        started_from: datetime | None,
        started_to: datetime | None,
        limit: int | None,
        after: ListMark | None = None,
    ) -> list[Document]:
        """The patrols under `prefix` started in [from, to), newest first, at most `limit`
        (None: all of them), below `after`'s key when given."""
        low = prefix + (sort_time(started_from) if started_from else "")
        high = prefix + sort_time(started_to) if started_to else prefix[:-1] + END
        if after is not None:
            high = min(high, prefix + SEP.join((sort_time(after.started_at), after.patrol_id)))
        found = self.db[LISTS].find({"_id": {"$gte": low, "$lt": high}})
        rows = await found.sort("_id", DESCENDING).limit(limit or 0).to_list()
        return [as_patrol(r) for r in rows]

    async def active(self) -> list[Document]:
        """Every patrol not finished yet."""
        return await self.db[ACTIVE].find({}).to_list()


def newest_first(parts: Sequence[list[Document]], limit: int | None) -> list[Document]:
    docs = [d for part in parts for d in part]
    docs.sort(key=lambda d: (d["started_at"], str(d["_id"])), reverse=True)
    return docs[:limit] if limit is not None else docs
