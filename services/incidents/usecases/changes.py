"""How a change of an incident is made: read, decide (a domain function), commit the version it
was decided on, then publish; a lost race reads and decides again. Never publishes before the
store holds the change, and holds no rule of the domain."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime

from services.incidents.domain import escalation
from services.incidents.domain.incident import Incident, Outcome
from services.incidents.settings import IncidentsSettings
from services.incidents.store import Change, IncidentStore
from services.incidents.usecases.events import events_for
from services.incidents.usecases.timers import TimerIndex
from shared.clock import Clock
from shared.errors import Conflict, NotFound
from shared.kafka import Publisher
from shared.lane import Lane
from shared.policy import Policy
from shared.retry import Backoff, retry

log = logging.getLogger(__name__)
RACE_BACKOFF = Backoff(first_s=0.01, max_s=0.2, factor=1.5)


class _LostRace(Exception):
    """Someone else changed the incident since it was read: read again and decide again."""


def _lost(exc: BaseException) -> bool:
    return isinstance(exc, _LostRace)


class ChangeWriter:
    def __init__(
        self,
        *,
        store: IncidentStore,
        publisher: Publisher,
        policy: Policy,
        settings: IncidentsSettings,
        clock: Clock,
        timers: TimerIndex,
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.policy = policy
        self.settings = settings
        self.clock = clock
        self.timers = timers
        # published changes leave the outbox in the background, many in one delete
        self._published_lane: Lane[str] = Lane(self._forget)
        self._tidying: set[asyncio.Task[None]] = set()

    def timer_of(self, incident: Incident) -> datetime | None:
        return escalation.next_timer_at(self.policy, incident)

    def change(self, base: int, incident: Incident, outcome: Outcome) -> Change:
        """The change that stores `incident` (the outcome's, at its new version) over `base`."""
        events = events_for(outcome.notices, incident, self.settings.service)
        return Change(base, incident, events, self.timer_of(incident))

    async def mutate(
        self, incident_id: str, decide: Callable[[Incident], Outcome], *, attempts: int = 20
    ) -> Outcome:
        """Read, decide, commit the change of that version, publish. If someone else changed
        the incident in between, read again and decide again."""

        async def attempt() -> Outcome:
            read_at = time.monotonic()
            current = await self.store.get(incident_id)
            if current is None:
                raise NotFound("incident not found")
            outcome = decide(current)
            if outcome.incident == current:
                self.timers.schedule(incident_id, self.timer_of(current))
                return outcome
            if time.monotonic() - read_at > self.settings.change_retention_s / 2:
                raise _LostRace  # a read this old may predate a swept claim: read again
            new = outcome.incident.model_copy(update={"version": current.version + 1})
            change = self.change(current.version, new, outcome)
            if not await self.store.commit(change, at=self.clock.now()):
                raise _LostRace
            self.timers.schedule(new.id, change.timer_at)
            await self.publish([change])
            return Outcome(new, outcome.notices)

        try:
            return await retry(attempt, backoff=RACE_BACKOFF, when=_lost, attempts=attempts)
        except _LostRace:
            raise Conflict(
                "the incident is being changed by others; try again", field="id"
            ) from None

    async def publish(self, changes: Sequence[Change]) -> None:
        """Publish committed changes' events; on failure they stay in the outbox for the relay."""
        if not changes:
            return
        try:
            await self.publisher.publish_many([e for c in changes for e in c.events])
        except Exception:
            log.warning("publish failed; the relay will retry", exc_info=True)
            return
        self.forget_published([c.change_id for c in changes])

    def forget_published(self, change_ids: list[str]) -> None:
        """Take published changes out of the outbox in the background: neither a batch of
        reports nor an escalation waits for the delete. If it never happens (a crash, the store
        away), the relay publishes the change again after its grace, with the same event ids,
        which every consumer drops as seen."""
        task = asyncio.create_task(self._published_lane.run(change_ids), name="outbox-tidy")
        self._tidying.add(task)
        task.add_done_callback(self._tidied)

    async def _forget(self, change_ids: list[str]) -> None:
        await self.store.forget_published(change_ids)

    async def settle(self) -> None:
        """Wait for the outbox tidying under way (tests, shutdown)."""
        while self._tidying:
            await asyncio.gather(*self._tidying, return_exceptions=True)

    def _tidied(self, task: asyncio.Task[None]) -> None:
        self._tidying.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning(
                "could not take published changes out of the outbox; the relay will",
                exc_info=task.exception(),
            )
