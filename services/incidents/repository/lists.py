"""Incident lists as a read model keyed by `_id`, so a unit's page costs the page, not the
history (issue 15; docs/scaling.md §6).

Each incident has, in `incident_lists`, a copy without its timeline under nine keys: for each of
its village, township and district, `u|<unit>|<opened at>|<id>`,
`s|<unit>|<status>|<opened at>|<id>` and `t|<unit>|<type>|<opened at>|<id>`. A unit's newest
incidents, of every status, of one status or of one type, are one `_id` range read from the
cursor down: MongoDB's `_id` index, the local store's patch 0005. (An incident's type never
changes, so its `t|` keys never go stale.)

The copies are written before the incident itself, and only for a change already claimed: if the
writer dies between the two writes, the relay replays the claimed change from the outbox, and the
copies with it. A status change writes the new keys, then deletes the keys of every other status.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pymongo import DESCENDING, ReplaceOne
from pymongo.asynchronous.database import AsyncDatabase

from services.incidents.domain.incident import STATUSES
from shared.cursors import decode_cursor, encode_cursor, sort_time

Document = dict[str, Any]
LISTS = "incident_lists"
SEP = "|"
END = chr(ord(SEP) + 1)  # "}": above every key under a prefix ending in SEP
LEVELS = ("village", "township", "district")
CHUNK = 200  # entries read at a time while filters (type, since) skip some


def prefix(unit: str, status: str | None, type_: str | None = None) -> str:
    """The key prefix of a unit's list: of one status, else of one type, else of all."""
    if status:
        return SEP.join(("s", unit, status, ""))
    if type_:
        return SEP.join(("t", unit, type_, ""))
    return SEP.join(("u", unit, ""))


def keys_of(doc: Document, status: str | None = None) -> list[str]:
    """The keys the incident is listed under (with `status`: its keys under that status)."""
    tail = SEP.join((sort_time(doc["opened_at"]), str(doc["_id"])))
    units = [str(doc[level]) for level in LEVELS if doc.get(level)]
    if status is None:
        return (
            [prefix(u, None) + tail for u in units]
            + [prefix(u, doc["status"]) + tail for u in units]
            + [prefix(u, None, doc["type"]) + tail for u in units]
        )
    return [prefix(u, status) + tail for u in units]


def keep_all(_: Document) -> bool:
    return True


@dataclass(frozen=True)
class ListPage:
    incidents: list[Document]  # stored documents without timeline, newest opened first
    next: str | None


class IncidentLists:
    def __init__(
        self,
        db: AsyncDatabase[Document],
        retry: Callable[[Callable[[], Awaitable[Any]]], Awaitable[Any]],
    ) -> None:
        self.db = db
        self.retry = retry  # the store's busy retry

    async def put(self, docs: Sequence[Document]) -> None:
        """Lists the incidents as they now stand (several in two writes)."""
        writes: list[ReplaceOne[Document]] = []
        stale: list[str] = []
        for doc in docs:
            copy = {k: v for k, v in doc.items() if k != "timeline"}
            copy["incident_id"] = doc["_id"]
            for key in keys_of(doc):
                writes.append(ReplaceOne({"_id": key}, {**copy, "_id": key}, upsert=True))
            for other in STATUSES:
                if other != doc["status"]:
                    stale += keys_of(doc, other)
        if not writes:
            return
        col = self.db[LISTS]
        await self.retry(lambda: col.bulk_write(writes, ordered=False))
        for start in range(0, len(stale), 900):  # the local store's `_id $in` pushdown limit
            chunk = stale[start : start + 900]

            async def delete(ids: list[str] = chunk) -> Any:
                return await col.delete_many({"_id": {"$in": ids}})

            await self.retry(delete)

    async def page(
        self,
        unit: str,
        *,
        status: str | None,
        limit: int,
        cursor: str | None = None,
        keep: Callable[[Document], bool] = keep_all,
        type_: str | None = None,
    ) -> ListPage:
        """The unit's newest incidents (of `status`, else of `type_`), those `keep` accepts, from
        `cursor` on."""
        low = prefix(unit, status, type_)
        upper = decode_cursor(cursor, low) if cursor else low[:-1] + END
        out: list[Document] = []
        last_key: str | None = None
        while len(out) <= limit:
            want = limit + 1 - len(out)
            size = want if keep is keep_all else max(want, CHUNK)
            found = self.db[LISTS].find({"_id": {"$gte": low, "$lt": upper}})
            rows = await found.sort("_id", DESCENDING).limit(size).to_list()
            for row in rows:
                if keep(row):
                    out.append(row)
                    if len(out) == limit:
                        last_key = str(row["_id"])
            if len(rows) < size:
                break
            upper = str(rows[-1]["_id"])
        more = len(out) > limit
        incidents = [as_incident(r) for r in out[:limit]]
        return ListPage(incidents, encode_cursor(last_key) if more and last_key else None)


def as_incident(row: Document) -> Document:
    out = {k: v for k, v in row.items() if k != "incident_id"}
    out["_id"] = row["incident_id"]
    return out
