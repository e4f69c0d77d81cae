"""Creates Hulin's topics with their planned partition counts; idempotent (existing ones stay)."""

from __future__ import annotations

import asyncio
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shared.settings import Settings
from shared.topics import TOPICS

log = logging.getLogger(__name__)


async def ensure_topics(
    settings: Settings, *, replication_factor: int = 1, timeout_s: float = 30.0
) -> list[str]:
    """Create every planned topic that is missing; returns the names created."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap, client_id=f"{settings.service}-admin"
    )
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        try:
            await admin.start()
            break
        except Exception:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(settings.topic(t.name), t.partitions, replication_factor)
            for t in TOPICS
            if settings.topic(t.name) not in existing
        ]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # another replica created them in between: that is the goal
            log.info("topics created", extra={"topics": [t.name for t in missing]})
        return [t.name for t in missing]
    finally:
        await admin.close()
