"""Lists in scope: patrols by ranger, unit and period (newest first), and the last position of
each ranger on patrol. Read from the store's lists, never by scanning the history."""

from __future__ import annotations

from datetime import datetime

from services.patrol.store import PatrolStore, Position
from services.patrol.usecases.common import Access, PatrolRead, Villages
from shared.clock import as_utc
from shared.org import OrgDirectory, Person, Role


class Listings:
    def __init__(self, *, store: PatrolStore, org: OrgDirectory) -> None:
        self.store = store
        self.access = Access(org)
        self.villages = Villages(org)

    async def patrols(
        self,
        person: Person,
        *,
        ranger_id: str | None,
        unit: str | None,
        start: datetime | None,
        end: datetime | None,
    ) -> list[PatrolRead]:
        """Patrols in the caller's scope started in [start, end); a ranger sees their own."""
        code = self.access.scope_unit(person, unit)
        lo = as_utc(start) if start else None
        hi = as_utc(end) if end else None
        if person.role == Role.RANGER:
            if ranger_id is not None and ranger_id != person.id:
                return []
            ranger_id = person.id
        if ranger_id is not None:
            found = await self.store.patrols_of(
                [ranger_id], unit=code, started_from=lo, started_to=hi
            )
        else:
            found = await self.store.patrols_in(code, started_from=lo, started_to=hi)
        tracks = await self.store.track_heads([p.id for p in found])
        return [PatrolRead(p, tracks.get(p.id)) for p in found]

    async def positions(self, person: Person, unit: str | None) -> list[Position]:
        """The latest position of each ranger in scope whose patrol of it is still running."""
        code = self.access.scope_unit(person, unit)
        found = await self.store.positions_in(self.villages.villages_in(code))
        if person.role == Role.RANGER:
            found = [p for p in found if p.ranger_id == person.id]
        running = {p.id for p in await self.store.open_patrols()}
        return [p for p in found if p.patrol_id in running]
