"""The incidents with an escalation timer set, as a read model of open work: one small document
per incident whose timer is set (`<shard>|<incident id>` → its due time), none for the others.
Reloading every timer, or one shard's, reads only these (a `_id` range per shard), never the
closed incidents of past years (issue 15).

Written with the lists (`lists.py`), before the incident itself and only for a claimed change:
a writer that dies in between has its change replayed by the relay, and the timer with it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from pymongo import DeleteOne, ReplaceOne
from pymongo.asynchronous.database import AsyncDatabase

Document = dict[str, Any]
TIMERS = "incident_timers"
SEP = "|"


def timer_key(shard: int, incident_id: str) -> str:
    return f"{shard:02d}{SEP}{incident_id}"


class TimerEntries:
    def __init__(
        self,
        db: AsyncDatabase[Document],
        shard_of: Callable[[str], int],
        retry: Callable[[Callable[[], Awaitable[Any]]], Awaitable[Any]],
    ) -> None:
        self.db = db
        self.shard_of = shard_of
        self.retry = retry

    async def put(self, docs: Sequence[Document]) -> None:
        """Each incident's timer as its document now says: set, moved, or gone."""
        writes: list[ReplaceOne[Document] | DeleteOne] = []
        for doc in docs:
            key = timer_key(self.shard_of(str(doc["_id"])), str(doc["_id"]))
            at = doc.get("next_timer_at")
            if at is None:
                writes.append(DeleteOne({"_id": key}))
            else:
                row = {"_id": key, "incident_id": doc["_id"], "at": at}
                writes.append(ReplaceOne({"_id": key}, row, upsert=True))
        if writes:
            col = self.db[TIMERS]
            await self.retry(lambda: col.bulk_write(writes, ordered=False))

    async def due_times(self, shard: int | None) -> list[tuple[str, datetime]]:
        """(incident id, due time) of every timer set, in one shard or in all."""
        query: Document = {}
        if shard is not None:
            low = timer_key(shard, "")
            query = {"_id": {"$gte": low, "$lt": low[:-1] + chr(ord(SEP) + 1)}}
        rows = await self.db[TIMERS].find(query).to_list()
        return [(str(r["incident_id"]), r["at"]) for r in rows]
