"""Overdue claims (`overdue`, one per patrol under a unique `_id`), for the patrol adapter: an
insert on a unique `_id` is atomic even on FerretDB, so only one replica announces a patrol.
Never decides whether a patrol is overdue: `domain/overdue.py` does."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.patrol.repository.documents import Document
from shared.clock import as_utc

OVERDUE = "overdue"


class MongoOverdue:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.overdue = db[OVERDUE]

    async def overdue_announced(self, patrol_ids: Sequence[str]) -> set[str]:
        if not patrol_ids:
            return set()
        cursor = self.overdue.find({"_id": {"$in": list(patrol_ids)}})
        return {str(d["_id"]) async for d in cursor if d.get("published")}

    async def claim_overdue(
        self, patrol_id: str, token: str, *, now: datetime, lease_until: datetime
    ) -> bool:
        claim = {"_id": patrol_id, "token": token, "lease_until": lease_until, "published": False}
        try:
            await self.overdue.insert_one(claim)
            return True
        except DuplicateKeyError:
            pass
        old = await self.overdue.find_one({"_id": patrol_id})
        if old is None or old.get("published"):
            return False
        if as_utc(old["lease_until"]) >= now:
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
