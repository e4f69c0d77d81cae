"""The patrol service's MongoDB adapter (FerretDB v1 compatible): implements the `PatrolStore`
port (`services/patrol/store.py`), one module per concern. The only code of the patrol service
that talks to MongoDB; it stores and loads what the use cases decide, never a business rule.

Collections, each with ONE writer, because FerretDB v1 applies an update as read-modify-write of
the whole document (two concurrent `$set`s on different fields of one document can lose one):
`patrols` and their list copies (HTTP use cases: `patrols.py`, `lists.py`), `tracks` and
`track_chunks` (the points consumer: `tracks.py`, `chunks.py`), `positions` (the points consumer:
`positions.py`), `overdue` (the scan's claims: `overdue.py`), `patrol_days` (the compliance
query's day summaries: `day_summaries.py`).
"""

from __future__ import annotations

from collections.abc import Sequence

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from services.patrol.repository.chunks import CHUNKS
from services.patrol.repository.day_summaries import DAYS, MongoDaySummaries
from services.patrol.repository.documents import Document
from services.patrol.repository.lists import ACTIVE, LISTS
from services.patrol.repository.overdue import OVERDUE, MongoOverdue
from services.patrol.repository.patrols import PATROLS, MongoPatrols
from services.patrol.repository.positions import POSITIONS, MongoPositions
from services.patrol.repository.tracks import TRACKS, MongoTracks

# The collections and their indexes, made at start-up (also those with no index of their own,
# so the first batch does not make them). Patrols, lists and open work are read by `_id`.
INDEXES: dict[str, Sequence[IndexModel]] = {
    PATROLS: [],
    LISTS: [],
    ACTIVE: [],
    POSITIONS: [IndexModel([("village", ASCENDING)])],
    CHUNKS: [],
    TRACKS: [],
    OVERDUE: [],
    DAYS: [],
}


class MongoPatrolStore(MongoPatrols, MongoTracks, MongoDaySummaries, MongoPositions, MongoOverdue):
    """`PatrolStore` on one MongoDB database."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        MongoPatrols.__init__(self, db)
        MongoTracks.__init__(self, db)
        MongoDaySummaries.__init__(self, db)
        MongoPositions.__init__(self, db)
        MongoOverdue.__init__(self, db)


__all__ = ["INDEXES", "MongoPatrolStore"]
