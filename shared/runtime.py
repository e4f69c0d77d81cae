"""The adapters a service process runs with — database, publisher, consumers, background loops —
started and stopped in the right order by the app's lifespan.

Shutdown order matters for at-least-once: stop taking new work, let handlers finish and commit,
then close Kafka and the database. Nothing here knows a service's rules.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from pymongo import IndexModel

from shared import db as dbmod
from shared.kafka import ConsumerRunner, Publisher, ensure_topics
from shared.org import OrgDirectory
from shared.policy import Policy
from shared.retry import Backoff, retry
from shared.settings import Settings

log = logging.getLogger(__name__)


class Periodic:
    """A loop calling `fn` every `interval_s`; an exception is logged and the loop goes on."""

    def __init__(self, name: str, interval_s: float, fn: Callable[[], Awaitable[object]]) -> None:
        self.name = name
        self.interval_s = interval_s
        self.fn = fn
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"periodic:{self.name}")

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.fn()
            except Exception:
                log.exception("periodic task failed", extra={"task": self.name})
            try:
                await asyncio.wait_for(self._stop.wait(), self.interval_s)
            except TimeoutError:
                pass

    async def stop(self, timeout_s: float = 15.0) -> None:
        self._stop.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout_s)
            except TimeoutError:
                self._task.cancel()


class Runtime:
    def __init__(self, settings: Settings, *, org: OrgDirectory, policy: Policy) -> None:
        self.settings = settings
        self.org = org
        self.policy = policy
        self.client = dbmod.connect(settings)
        self.db = dbmod.database(self.client, settings)
        self.publisher = Publisher(settings)
        self.consumers: list[ConsumerRunner] = []
        self.periodics: list[Periodic] = []

    async def start(
        self,
        *,
        indexes: dict[str, Sequence[IndexModel]] | None = None,
        consumers: Sequence[ConsumerRunner] = (),
        periodics: Sequence[Periodic] = (),
        startup_timeout_s: float = 120.0,
    ) -> None:
        if self.settings.create_topics:
            await ensure_topics(
                self.settings,
                replication_factor=self.settings.topic_replication_factor,
                timeout_s=startup_timeout_s,
            )
        await self.publisher.start(timeout_s=startup_timeout_s)
        await self._wait_for_database(indexes or {}, startup_timeout_s)
        for consumer in consumers:
            await consumer.start(timeout_s=startup_timeout_s)
            self.consumers.append(consumer)
        for periodic in periodics:
            periodic.start()
            self.periodics.append(periodic)
        log.info("runtime started", extra={"consumers": [c.group for c in self.consumers]})

    async def _wait_for_database(
        self, indexes: dict[str, Sequence[IndexModel]], timeout_s: float
    ) -> None:
        await retry(
            lambda: dbmod.ensure_indexes(self.db, indexes),
            backoff=Backoff(first_s=1.0, max_s=1.0),
            within_s=timeout_s,
            on_retry=lambda exc: log.warning("database not ready; waiting"),
        )

    async def stop(self) -> None:
        for periodic in reversed(self.periodics):
            await periodic.stop()
        for consumer in reversed(self.consumers):
            await consumer.stop()
        await self.publisher.stop()
        await self.client.close()
        log.info("runtime stopped")

    async def kafka_ready(self) -> bool:
        """The broker answers and every consumer's loop is running."""
        if any(not c.running for c in self.consumers):
            return False
        return await self.publisher.ping()

    async def database_ready(self) -> bool:
        return await dbmod.ping(self.db)
