"""The patrol store port (`services/patrol/store.py`) in memory, for use-case tests: the same
semantics as the MongoDB adapter (newest-first lists, one copy per seq with the latest winning, a
duplicate batch is success, one overdue claim per patrol), held to them by the contract suite."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from services.patrol.domain.compliance import PatrolDays
from services.patrol.domain.patrol import Patrol
from services.patrol.domain.track import Fix
from services.patrol.store import Announced, KeptDays, ListMark, Position, StoredTrack
from shared.cursors import sort_time


@dataclass
class _Claim:
    token: str
    lease_until: datetime
    published: bool = False


def _newest_first(patrols: list[Patrol], limit: int | None) -> list[Patrol]:
    ordered = sorted(patrols, key=lambda p: (p.started_at, p.id), reverse=True)
    return ordered[:limit] if limit is not None else ordered


def _started_in(p: Patrol, started_from: datetime | None, started_to: datetime | None) -> bool:
    return (started_from is None or p.started_at >= started_from) and (
        started_to is None or p.started_at < started_to
    )


def _listed_after(p: Patrol, after: ListMark | None) -> bool:
    """Below the mark in newest-first order, times compared to the millisecond as stored."""
    if after is None:
        return True
    return (sort_time(p.started_at), p.id) < (sort_time(after.started_at), after.patrol_id)


class InMemoryPatrolStore:
    def __init__(self) -> None:
        self.patrols: dict[str, Patrol] = {}
        self.tracks: dict[str, StoredTrack] = {}
        self.fixes: dict[str, dict[int, Fix]] = {}
        self.positions: dict[str, Position] = {}
        self.claims: dict[str, _Claim] = {}
        self.day_rows: dict[tuple[str, str], KeptDays] = {}

    # --- patrols ---------------------------------------------------------------------------------
    async def start(self, patrol: Patrol) -> tuple[bool, Patrol]:
        stored = self.patrols.get(patrol.id)
        if stored is not None:
            return False, stored
        self.patrols[patrol.id] = patrol
        return True, patrol

    async def patrol(self, patrol_id: str) -> Patrol | None:
        return self.patrols.get(patrol_id)

    async def mark_announced(self, patrol_id: str, event: Announced) -> None:
        p = self.patrols.get(patrol_id)
        if p is None:
            return
        if event == "started":
            self.patrols[patrol_id] = replace(p, started_published=True)
        else:
            self.patrols[patrol_id] = replace(p, finished_published=True)

    async def finish(self, patrol_id: str, *, ended_at: datetime, now: datetime) -> Patrol | None:
        p = self.patrols.get(patrol_id)
        if p is None or p.finished:
            return None
        self.patrols[patrol_id] = p.finish(ended_at, now)
        return self.patrols[patrol_id]

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
        rangers = set(ranger_ids)
        found = [
            p
            for p in self.patrols.values()
            if p.ranger_id in rangers
            and _started_in(p, started_from, started_to)
            and _listed_after(p, after)
        ]
        return [p for p in _newest_first(found, limit) if unit is None or p.in_unit(unit)]

    async def patrols_in(
        self,
        unit: str,
        *,
        started_from: datetime | None = None,
        started_to: datetime | None = None,
        limit: int | None = 500,
        after: ListMark | None = None,
    ) -> list[Patrol]:
        found = [
            p
            for p in self.patrols.values()
            if p.in_unit(unit)
            and _started_in(p, started_from, started_to)
            and _listed_after(p, after)
        ]
        return _newest_first(found, limit)

    async def open_patrols(self) -> list[Patrol]:
        return _newest_first([p for p in self.patrols.values() if not p.finished], None)

    # --- tracks ----------------------------------------------------------------------------------
    async def track(self, patrol_id: str) -> StoredTrack | None:
        return self.tracks.get(patrol_id)

    async def track_heads(self, patrol_ids: Sequence[str]) -> dict[str, StoredTrack]:
        out = {}
        for pid in patrol_ids:
            t = self.tracks.get(pid)
            if t is not None:
                flags = replace(t.summary.flags, examples={})
                out[pid] = replace(t, summary=replace(t.summary, flags=flags, seq_ranges=()))
        return out

    async def seq_ranges(self, patrol_id: str) -> tuple[tuple[int, int], ...]:
        t = self.tracks.get(patrol_id)
        return t.summary.seq_ranges if t else ()

    async def append_fixes(self, patrol_id: str, fixes: Sequence[Fix], track: StoredTrack) -> None:
        stored = self.fixes.setdefault(patrol_id, {})
        for f in fixes:
            stored[f.seq] = f
        self.tracks[patrol_id] = track

    async def fixes_of(self, patrol_id: str) -> list[Fix]:
        return list(self.fixes.get(patrol_id, {}).values())

    # --- compliance day summaries ----------------------------------------------------------------
    async def day_summaries(self, patrol_ids: Sequence[str], basis: str) -> dict[str, KeptDays]:
        found = ((pid, self.day_rows.get((pid, basis))) for pid in patrol_ids)
        return {pid: kept for pid, kept in found if kept is not None}

    async def keep_day_summary(self, basis: str, revision: int, days: PatrolDays) -> None:
        self.day_rows[(days.patrol_id, basis)] = KeptDays(days, revision)

    # --- positions -------------------------------------------------------------------------------
    async def move_position(self, position: Position) -> bool:
        old = self.positions.get(position.ranger_id)
        if old is not None and old.t >= position.t:
            return False
        self.positions[position.ranger_id] = position
        return True

    async def positions_in(self, villages: Sequence[str]) -> list[Position]:
        wanted = set(villages)
        found = [p for p in self.positions.values() if p.village in wanted]
        return sorted(found, key=lambda p: p.ranger_id)

    # --- overdue ---------------------------------------------------------------------------------
    async def overdue_announced(self, patrol_ids: Sequence[str]) -> set[str]:
        return {
            pid for pid in patrol_ids if (c := self.claims.get(pid)) is not None and c.published
        }

    async def claim_overdue(
        self, patrol_id: str, token: str, *, now: datetime, lease_until: datetime
    ) -> bool:
        old = self.claims.get(patrol_id)
        if old is not None and (old.published or old.lease_until >= now):
            return False
        self.claims[patrol_id] = _Claim(token, lease_until)
        return True

    async def mark_overdue_published(self, patrol_id: str, token: str, now: datetime) -> None:
        claim = self.claims.get(patrol_id)
        if claim is not None and claim.token == token:
            claim.published = True

    async def release_overdue(self, patrol_id: str, token: str) -> None:
        claim = self.claims.get(patrol_id)
        if claim is not None and claim.token == token and not claim.published:
            del self.claims[patrol_id]
