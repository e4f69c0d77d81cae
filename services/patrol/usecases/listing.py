"""Lists in scope: patrols by ranger, unit and period (newest first), and the last position of
each ranger on patrol. Read from the store's lists, never by scanning the history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from services.patrol.store import ListMark, PatrolStore, Position
from services.patrol.usecases.common import Access, PatrolRead, Villages
from shared.clock import as_utc
from shared.cursors import BadCursor, decode_cursor, encode_cursor, sort_time
from shared.errors import InvalidInput
from shared.org import OrgDirectory, Person, Role

PAGE_MAX = 500


@dataclass(frozen=True)
class PatrolPage:
    """A page of a patrol list, and the cursor of the next one (None: this is the last)."""

    patrols: list[PatrolRead]
    next: str | None = None


def _mark(list_key: str, cursor: str | None) -> ListMark | None:
    """The end of the page a cursor of this list stands for."""
    if cursor is None:
        return None
    try:
        key = decode_cursor(cursor, list_key)
        at, patrol_id = key[len(list_key) :].split("|", 1)
        started = datetime.strptime(at + "000", "%Y%m%dT%H%M%S.%f").replace(tzinfo=UTC)
    except (BadCursor, ValueError) as exc:
        raise InvalidInput("cursor is not one this list gave you", field="cursor") from exc
    return ListMark(started, patrol_id)


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
        limit: int = PAGE_MAX,
        cursor: str | None = None,
    ) -> PatrolPage:
        """Patrols in the caller's scope started in [start, end), newest first, a page at a
        time; a ranger sees their own."""
        code = self.access.scope_unit(person, unit)
        lo = as_utc(start) if start else None
        hi = as_utc(end) if end else None
        if person.role == Role.RANGER:
            if ranger_id is not None and ranger_id != person.id:
                return PatrolPage([])
            ranger_id = person.id
        # A cursor names the list it came from, so it cannot page through another one.
        list_key = f"r|{ranger_id}|{code}|" if ranger_id is not None else f"u|{code}|"
        after = _mark(list_key, cursor)
        if ranger_id is not None:
            page = await self.store.patrols_of(
                [ranger_id], started_from=lo, started_to=hi, limit=limit, after=after
            )
            found = [p for p in page if p.in_unit(code)]
        else:
            page = await self.store.patrols_in(
                code, started_from=lo, started_to=hi, limit=limit, after=after
            )
            found = page
        tracks = await self.store.track_heads([p.id for p in found])
        last = page[-1] if len(page) == limit else None
        following = (
            encode_cursor(f"{list_key}{sort_time(last.started_at)}|{last.id}") if last else None
        )
        return PatrolPage([PatrolRead(p, tracks.get(p.id)) for p in found], following)

    async def positions(self, person: Person, unit: str | None) -> list[Position]:
        """The latest position of each ranger in scope whose patrol of it is still running."""
        code = self.access.scope_unit(person, unit)
        found = await self.store.positions_in(self.villages.villages_in(code))
        if person.role == Role.RANGER:
            found = [p for p in found if p.ranger_id == person.id]
        running = {p.id for p in await self.store.open_patrols()}
        return [p for p in found if p.patrol_id in running]
