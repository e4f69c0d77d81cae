"""Creates Hulin's topics with their planned partition counts; idempotent (existing ones stay)."""

from __future__ import annotations

import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shared.kafka.publisher import CONNECT_BACKOFF
from shared.kafka.security import client_options
from shared.retry import retry
from shared.settings import Settings
from shared.topics import TOPICS

log = logging.getLogger(__name__)


async def delete_topics_with_prefix(bootstrap: str, prefix: str) -> list[str]:
    """Delete every topic whose name starts with `prefix` (a test's or a benchmark's own); an
    empty prefix is refused, so this can never wipe a deployment's topics."""
    if not prefix:
        raise ValueError("refusing to delete topics without a prefix")
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="hulin-cleanup")
    await admin.start()
    try:
        doomed = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if doomed:
            await admin.delete_topics(doomed)
        return doomed
    finally:
        await admin.close()


async def ensure_topics(
    settings: Settings, *, replication_factor: int = 1, timeout_s: float = 30.0
) -> list[str]:
    """Create every planned topic that is missing; returns the names created."""
    admin = AIOKafkaAdminClient(**client_options(settings), client_id=f"{settings.service}-admin")
    await retry(admin.start, backoff=CONNECT_BACKOFF, within_s=timeout_s)
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
