"""The outbox relay: publishes committed changes whose writer died before publishing (storing
the incident first if it never got there), drops changes never committed, and sweeps old claims.
Never publishes a change that was not committed."""

from __future__ import annotations

from datetime import timedelta

from services.incidents.settings import IncidentsSettings
from services.incidents.store import IncidentStore
from services.incidents.usecases.timers import TimerIndex
from shared.clock import Clock, as_utc
from shared.kafka import Publisher


class OutboxRelay:
    def __init__(
        self,
        *,
        store: IncidentStore,
        publisher: Publisher,
        settings: IncidentsSettings,
        clock: Clock,
        timers: TimerIndex,
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.settings = settings
        self.clock = clock
        self.timers = timers

    async def relay(self) -> int:
        """Publish what was left in the outbox past its grace; returns how many changes."""
        now = self.clock.now()
        before = now - timedelta(seconds=self.settings.relay_grace_s)
        abandoned = now - timedelta(seconds=4 * self.settings.relay_grace_s)
        handled = 0
        for change in await self.store.pending(before=before, limit=self.settings.relay_batch):
            if not await self.store.is_claimed(change.change_id):
                # Put in the outbox, never committed: its writer died in between (or lost the
                # claim and then died). Nothing changed; after a long grace it is dropped.
                if as_utc(change.at) <= abandoned:
                    await self.store.forget_published([change.change_id])
                continue
            if await self.store.replay(change):
                self.timers.schedule(change.incident_id, change.timer_at)
            await self.publisher.publish_many(list(change.events))
            await self.store.forget_published([change.change_id])
            handled += 1
        return handled

    async def sweep(self) -> None:
        before = self.clock.now() - timedelta(seconds=self.settings.change_retention_s)
        await self.store.sweep_claims(before=before)
