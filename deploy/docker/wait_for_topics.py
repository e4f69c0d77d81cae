"""Init step for Kubernetes: wait until every planned topic exists, then exit 0.

Why: at start-up each service creates the topics it finds missing, with replication factor 1
(right for a laptop, wrong for production). On Kubernetes the topics are declared as Strimzi
KafkaTopic resources with replication 3; if a service reached the fresh cluster before the topic
operator did, it would create them single-copy first. Running this as an initContainer makes the
services start only once the operator's topics are there. Reads the same HULIN_* settings as the
services (bootstrap servers, SASL/TLS, topic prefix) and the plan in shared/topics.py.
"""

from __future__ import annotations

import asyncio
import sys

from aiokafka.admin import AIOKafkaAdminClient

from shared.kafka.security import client_options
from shared.settings import Settings
from shared.topics import TOPICS

POLL_S = 5.0


async def missing_topics(settings: Settings, wanted: set[str]) -> set[str]:
    admin = AIOKafkaAdminClient(**client_options(settings))
    try:
        await admin.start()
        return wanted - set(await admin.list_topics())
    finally:
        try:
            await admin.close()
        except Exception:  # closing a client that never connected may fail; nothing to undo
            pass


async def main() -> int:
    settings = Settings()
    wanted = {settings.topic(t.name) for t in TOPICS}
    while True:
        try:
            missing = await missing_topics(settings, wanted)
        except Exception as e:  # broker not up yet: the same wait as for missing topics
            print(f"waiting for Kafka at {settings.kafka_bootstrap}: {e!r}", flush=True)
        else:
            if not missing:
                print(f"all {len(wanted)} topics exist", flush=True)
                return 0
            print(f"waiting for topics: {', '.join(sorted(missing))}", flush=True)
        await asyncio.sleep(POLL_S)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
