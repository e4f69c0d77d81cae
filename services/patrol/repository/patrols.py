"""Patrols as declared (`patrols`, written by the HTTP use cases only) and their keyed list
copies (`lists.py`), for the patrol adapter. Every read is by exact `_id` or an `_id` range:
FerretDB v1 (SQLite) serves nothing else from an index."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.patrol.domain.patrol import FINISHED, Patrol
from services.patrol.repository.documents import Document, patrol_from_doc, patrol_to_doc
from services.patrol.repository.lists import PatrolLists, newest_first, ranger_prefix, unit_prefix
from services.patrol.store import Announced, ListMark

PATROLS = "patrols"
_FLAGS: dict[Announced, str] = {"started": "started_published", "finished": "finished_published"}


class MongoPatrols:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.patrols = db[PATROLS]
        self.lists = PatrolLists(db)

    async def start(self, patrol: Patrol) -> tuple[bool, Patrol]:
        """Insert and list it; an existing id is listed again from what is stored, so a start
        retried after a crash between the two writes mends the lists."""
        doc = patrol_to_doc(patrol)
        try:
            await self.patrols.insert_one(doc)
            created = True
        except DuplicateKeyError:
            created = False
        stored = doc if created else await self.patrols.find_one({"_id": patrol.id})
        if stored is None:  # pragma: no cover - deleted in between
            return False, patrol
        await self.lists.put(stored)
        return created, patrol_from_doc(stored)

    async def patrol(self, patrol_id: str) -> Patrol | None:
        doc = await self.patrols.find_one({"_id": patrol_id})
        return patrol_from_doc(doc) if doc else None

    async def mark_announced(self, patrol_id: str, event: Announced) -> None:
        await self.patrols.update_one({"_id": patrol_id}, {"$set": {_FLAGS[event]: True}})
        await self._relist(patrol_id)

    async def _relist(self, patrol_id: str) -> None:
        stored = await self.patrols.find_one({"_id": patrol_id})
        if stored is not None:
            await self.lists.put(stored)

    async def finish(self, patrol_id: str, *, ended_at: datetime, now: datetime) -> Patrol | None:
        after = await self.patrols.find_one_and_update(
            {"_id": patrol_id, "ended_at": None},
            {"$set": {"ended_at": ended_at, "finished_at": now, "status": FINISHED}},
            return_document=ReturnDocument.AFTER,
        )
        if after is None:  # finished already: its lists as stored (mends a crash in between)
            await self._relist(patrol_id)
            return None
        await self.lists.put(after)
        return patrol_from_doc(after)

    async def patrols_of(
        self,
        ranger_ids: Sequence[str],
        *,
        unit: str | None = None,
        started_from: datetime | None = None,
        started_to: datetime | None = None,
        limit: int | None = 500,
        after: ListMark | None = None,
    ) -> list[Patrol]:
        parts = await asyncio.gather(
            *(
                self.lists.between(
                    ranger_prefix(r),
                    started_from=started_from,
                    started_to=started_to,
                    limit=limit,
                    after=after,
                )
                for r in dict.fromkeys(ranger_ids)
            )
        )
        patrols = [patrol_from_doc(d) for d in newest_first(list(parts), limit)]
        return [p for p in patrols if unit is None or p.in_unit(unit)]

    async def patrols_in(
        self,
        unit: str,
        *,
        started_from: datetime | None = None,
        started_to: datetime | None = None,
        limit: int | None = 500,
        after: ListMark | None = None,
    ) -> list[Patrol]:
        docs = await self.lists.between(
            unit_prefix(unit),
            started_from=started_from,
            started_to=started_to,
            limit=limit,
            after=after,
        )
        return [patrol_from_doc(d) for d in docs]

    async def open_patrols(self) -> list[Patrol]:
        docs = newest_first([await self.lists.active()], None)
        return [patrol_from_doc(d) for d in docs]
