"""Escalation timers in memory (a hint; the store holds the truth) and their reload from the
store. Never decides an escalation: the engine re-reads and claims each due incident."""

from __future__ import annotations

import heapq
from datetime import datetime

from services.incidents.store import Incidents
from shared.clock import as_utc


class TimerIndex:
    """Due times of incidents (a heap with lazy deletion)."""

    def __init__(self) -> None:
        self._heap: list[tuple[datetime, str]] = []
        self._due: dict[str, datetime] = {}

    def schedule(self, incident_id: str, at: datetime | None) -> None:
        if at is None:
            self._due.pop(incident_id, None)
            return
        at = as_utc(at)
        if self._due.get(incident_id) == at:
            return
        self._due[incident_id] = at
        heapq.heappush(self._heap, (at, incident_id))

    def pop_due(self, now: datetime, limit: int) -> list[str]:
        out: list[str] = []
        while self._heap and len(out) < limit and self._heap[0][0] <= now:
            at, incident_id = heapq.heappop(self._heap)
            if self._due.get(incident_id) == at:
                del self._due[incident_id]
                out.append(incident_id)
        return out

    def __len__(self) -> int:
        return len(self._due)


class TimerRescan:
    """Reloads timers from the store: all of them the first time (at start-up, so timers stored
    before a restart fire), then one part per call, so that no call stalls the store; the app
    calls it every `timer_rescan_s / timer_shards` seconds."""

    def __init__(self, *, store: Incidents, timers: TimerIndex) -> None:
        self.store = store
        self.timers = timers
        self._next_shard: int | None = None

    async def rescan(self) -> None:
        shard = self._next_shard
        for incident_id, at in await self.store.due_times(shard):
            self.timers.schedule(incident_id, at)
        self._next_shard = 0 if shard is None else (shard + 1) % self.store.timer_shards
