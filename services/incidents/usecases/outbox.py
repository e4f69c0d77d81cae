"""The outbox relay: publishes committed changes whose writer died before publishing (storing
the incident first if it never got there), drops changes never committed, sets aside a change
the store refuses for good (so it blocks neither the relay nor its incident), and sweeps old
claims. Never publishes a change that was not committed."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from prometheus_client import Counter

from services.incidents.settings import IncidentsSettings
from services.incidents.store import IncidentStore, PendingChange, Unstorable
from services.incidents.usecases.timers import TimerIndex
from shared.clock import Clock, as_utc
from shared.events import DeadLetterData, MessageDeadLettered
from shared.kafka import Publisher
from shared.topics import INCIDENTS

log = logging.getLogger(__name__)

changes_set_aside_total = Counter(
    "hulin_outbox_set_aside_total",
    "Committed changes the store refused for good, set aside with the error",
    ["service"],
)


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
            try:
                replayed = await self.store.replay(change)
            except Unstorable as exc:
                await self.set_aside(change, str(exc))
                continue
            if replayed:
                self.timers.schedule(change.incident_id, change.timer_at)
            await self.publisher.publish_many(list(change.events))
            await self.store.forget_published([change.change_id])
            handled += 1
        return handled

    async def set_aside(self, change: PendingChange, error: str) -> None:
        """Keep the change apart with its error, release its claim (the incident stays at the
        version stored and takes later changes), count it, and tell the dead-letter topic."""
        now = self.clock.now()
        await self.store.set_aside(change, error=error, at=now)
        changes_set_aside_total.labels(self.settings.service).inc()
        log.error(
            "change set aside: the store refuses it",
            extra={"change_id": change.change_id, "error": error},
        )
        summary = {
            "change_id": change.change_id,
            "incident_id": change.incident_id,
            "base": change.base,
            "event_ids": [e.id for e in change.events],
        }
        letter = MessageDeadLettered.new(
            DeadLetterData(
                original_topic=INCIDENTS,
                partition=-1,  # never on the topic: set aside before its events were published
                offset=-1,
                original_key=change.incident_id,
                value=json.dumps(summary),
                error=error[:4000],
                attempts=1,
                consumer_group="outbox-relay",
                failed_at=now,
            ),
            key=change.incident_id,
            producer=self.settings.service,
        )
        try:
            await self.publisher.publish(letter)
        except Exception:
            log.warning("could not publish the set-aside change's dead letter", exc_info=True)

    async def sweep(self) -> None:
        before = self.clock.now() - timedelta(seconds=self.settings.change_retention_s)
        await self.store.sweep_claims(before=before)
