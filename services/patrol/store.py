"""The patrol service's store port: what the use cases ask of storage, in domain models.

Never names a collection, a document layout or a limit of one particular store; the adapters
(`repository/` on MongoDB or FerretDB, `tests/fakes/patrol_store.py` in memory) keep to the
semantics written here, and `tests/contract/test_patrol_store.py` holds both to them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from services.patrol.domain.compliance import PatrolDays
from services.patrol.domain.patrol import Patrol
from services.patrol.domain.track import Fix, TrackSummary

Announced = Literal["started", "finished"]


@dataclass(frozen=True)
class StoredTrack:
    """What is kept about a patrol's track besides its fixes: the summary, how many times it was
    stored (`revision`), and the last signs of life the overdue rule reads."""

    summary: TrackSummary = TrackSummary()
    revision: int = 0
    last_point_at: datetime | None = None
    last_received_at: datetime | None = None
    last_seen_at: datetime | None = None


@dataclass(frozen=True)
class Position:
    """A ranger's latest known fix, and the patrol it came from."""

    ranger_id: str
    patrol_id: str
    village: str
    lat: float
    lon: float
    t: datetime
    accuracy_m: float | None = None


@dataclass(frozen=True)
class ListMark:
    """Where a page of a newest-first list ended: its last patrol's start and id. The next page
    is the patrols listed after it (started earlier, or at the same time with a smaller id)."""

    started_at: datetime
    patrol_id: str


class PatrolBook(Protocol):
    """Patrols as declared, and their lists (newest first: by `started_at`, then id)."""

    async def start(self, patrol: Patrol) -> tuple[bool, Patrol]:
        """Store a new patrol: (True, it), or (False, the one stored) when the id exists."""
        ...

    async def patrol(self, patrol_id: str) -> Patrol | None: ...

    async def mark_announced(self, patrol_id: str, event: Announced) -> None:
        """Remember that patrol.started / patrol.finished was published for this patrol."""
        ...

    async def finish(self, patrol_id: str, *, ended_at: datetime, now: datetime) -> Patrol | None:
        """Set the end once: the patrol after, or None when it had ended already."""
        ...

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
        """These rangers' patrols started in [from, to) (in `unit`, if given), newest first, at
        most `limit` (None: all), listed after `after` when given."""
        ...

    async def patrols_in(
        self,
        unit: str,
        *,
        started_from: datetime | None = None,
        started_to: datetime | None = None,
        limit: int | None = 500,
        after: ListMark | None = None,
    ) -> list[Patrol]:
        """Patrols of a village, township or district started in [from, to), newest first,
        listed after `after` when given."""
        ...

    async def open_patrols(self) -> list[Patrol]:
        """Every patrol not finished yet (the open work, whatever the history), newest first."""
        ...


class TrackStore(Protocol):
    """Fixes and track summaries. A fix is (patrol, seq): a later copy of a seq replaces an
    earlier one; storing the same fixes again is success and changes nothing."""

    async def track(self, patrol_id: str) -> StoredTrack | None: ...

    async def track_heads(self, patrol_ids: Sequence[str]) -> dict[str, StoredTrack]:
        """The tracks of many patrols for lists and scans: summaries without their stored seq
        ranges or flag examples (those are read per patrol)."""
        ...

    async def seq_ranges(self, patrol_id: str) -> tuple[tuple[int, int], ...]:
        """The seqs stored for the patrol, as sorted inclusive ranges."""
        ...

    async def append_fixes(self, patrol_id: str, fixes: Sequence[Fix], track: StoredTrack) -> None:
        """Store fixes (unique by seq) and the patrol's track as it now stands with them."""
        ...

    async def fixes_of(self, patrol_id: str) -> list[Fix]:
        """Every stored fix of the patrol, one per seq (the latest copy), in no given order."""
        ...


@dataclass(frozen=True)
class KeptDays:
    """A patrol's day summary as kept, with the track revision it was computed from."""

    days: PatrolDays
    revision: int


class DaySummaries(Protocol):
    """Each patrol's compliance day summary, kept per `basis` (a fingerprint of what it was
    computed against: the village boundary, the quality rules, the calendar). A summary is a
    cache: whoever reads it compares its revision with the track's before trusting it."""

    async def day_summaries(self, patrol_ids: Sequence[str], basis: str) -> dict[str, KeptDays]:
        """The kept summaries of these patrols on this basis, by patrol id (absent: none)."""
        ...

    async def keep_day_summary(self, basis: str, revision: int, days: PatrolDays) -> None:
        """Keep (or replace) the patrol's summary on this basis, computed at `revision`."""
        ...


class PositionBoard(Protocol):
    """Each ranger's latest position."""

    async def move_position(self, position: Position) -> bool:
        """Store the position if it is newer than the ranger's stored one; True if it was."""
        ...

    async def positions_in(self, villages: Sequence[str]) -> list[Position]:
        """The latest position of every ranger last seen in these villages, by ranger id."""
        ...


class OverdueClaims(Protocol):
    """One announcement of patrol.overdue per patrol, across replicas: claim, publish, mark."""

    async def overdue_announced(self, patrol_ids: Sequence[str]) -> set[str]:
        """Which of these patrols were announced overdue."""
        ...

    async def claim_overdue(
        self, patrol_id: str, token: str, *, now: datetime, lease_until: datetime
    ) -> bool:
        """Take the right to announce; False while another live claim or the announcement
        holds it. An expired, unpublished claim is taken over."""
        ...

    async def mark_overdue_published(self, patrol_id: str, token: str, now: datetime) -> None: ...

    async def release_overdue(self, patrol_id: str, token: str) -> None:
        """Give up an unpublished claim (the publish failed), so the next scan retries."""
        ...


class PatrolStore(PatrolBook, TrackStore, DaySummaries, PositionBoard, OverdueClaims, Protocol):
    """Everything the patrol use cases store."""
