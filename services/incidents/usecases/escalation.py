"""The escalation engine: fires the timers that are due, each incident re-read and its change
claimed, so a timer fires once even with several replicas. The climb itself is the domain's."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from services.incidents.domain import escalation
from services.incidents.settings import IncidentsSettings
from services.incidents.usecases.changes import ChangeWriter
from services.incidents.usecases.timers import TimerIndex
from shared.clock import Clock
from shared.errors import NotFound
from shared.policy import Policy

log = logging.getLogger(__name__)


class EscalationEngine:
    def __init__(
        self,
        *,
        writer: ChangeWriter,
        timers: TimerIndex,
        policy: Policy,
        settings: IncidentsSettings,
        clock: Clock,
    ) -> None:
        self.writer = writer
        self.timers = timers
        self.policy = policy
        self.settings = settings
        self.clock = clock
        self._limit = asyncio.Semaphore(settings.escalation_concurrency)

    async def run_due(self) -> int:
        """Fire every due timer (in batches while there is a backlog); returns how many fired."""
        fired = 0
        while True:
            due = self.timers.pop_due(self.clock.now(), self.settings.escalation_batch)
            if not due:
                return fired
            await asyncio.gather(*(self.fire(i) for i in due))
            fired += len(due)

    async def fire(self, incident_id: str) -> None:
        async with self._limit:
            try:
                await self.writer.mutate(
                    incident_id,
                    lambda inc: escalation.on_timer(self.policy, inc, now=self.clock.now()),
                )
            except NotFound:
                self.timers.schedule(incident_id, None)
            except Exception:
                log.exception("escalation failed; retrying soon", extra={"incident": incident_id})
                retry_at = self.clock.now() + timedelta(seconds=self.settings.escalation_retry_s)
                self.timers.schedule(incident_id, retry_at)
