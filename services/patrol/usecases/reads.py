"""Reading one patrol: its summary as stored (and whether it was announced overdue), and its
track, every stored fix in time order. Never recomputes a summary on read."""

from __future__ import annotations

from dataclasses import dataclass

from services.patrol.domain.track import Fix, order_fixes
from services.patrol.store import PatrolStore
from services.patrol.usecases.common import Access, PatrolRead
from shared.org import OrgDirectory, Person


@dataclass(frozen=True)
class TrackRead:
    read: PatrolRead
    fixes: list[Fix]  # in time order, one per seq


class PatrolReads:
    def __init__(self, *, store: PatrolStore, org: OrgDirectory) -> None:
        self.store = store
        self.access = Access(org)

    async def patrol(self, person: Person, patrol_id: str) -> PatrolRead:
        patrol = await self.access.visible(self.store, person, patrol_id)
        overdue = await self.store.overdue_announced([patrol_id])
        return PatrolRead(patrol, await self.store.track(patrol_id), patrol_id in overdue)

    async def track(self, person: Person, patrol_id: str) -> TrackRead:
        patrol = await self.access.visible(self.store, person, patrol_id)
        track = await self.store.track(patrol_id)
        fixes = order_fixes(await self.store.fixes_of(patrol_id))
        return TrackRead(PatrolRead(patrol, track), fixes)
