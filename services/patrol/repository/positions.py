"""Each ranger's latest position (`positions`, one document per ranger, written by the points
consumer only), for the patrol adapter. Never compares anything but the fix time."""

from __future__ import annotations

from collections.abc import Sequence

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.patrol.repository.documents import Document, position_from_doc, position_to_doc
from services.patrol.store import Position

POSITIONS = "positions"


class MongoPositions:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.positions = db[POSITIONS]

    async def move_position(self, position: Position) -> bool:
        doc = position_to_doc(position)
        result = await self.positions.update_one(
            {"_id": position.ranger_id, "t": {"$lt": position.t}}, {"$set": doc}
        )
        if result.matched_count:
            return True
        try:
            await self.positions.insert_one({"_id": position.ranger_id, **doc})
            return True
        except DuplicateKeyError:
            return False  # a newer (or the same) position is stored

    async def positions_in(self, villages: Sequence[str]) -> list[Position]:
        cursor = self.positions.find({"village": {"$in": list(villages)}})
        found = [position_from_doc(d) async for d in cursor]
        return sorted(found, key=lambda p: p.ranger_id)
