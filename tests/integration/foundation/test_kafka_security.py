"""Issue 16, finding 10: the services' Kafka clients authenticate with SASL/SCRAM when the
settings say so. A broker of this test's own with a SCRAM listener (users made at format time,
as Strimzi's KafkaUser makes them): the right password publishes and reads, a wrong one or none
is refused."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from shared.events import PatrolStarted, PatrolStartedData
from shared.kafka import Publisher
from shared.kafka.security import client_options
from shared.settings import Settings
from tests.support.infra import ROOT, free_port

PASSWORD = "patrol-secret-0123456789"


@pytest.fixture(scope="module")
def scram_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    state = tmp_path_factory.mktemp("scram")
    plain, controller, scram = free_port(), free_port(), free_port()
    env = dict(os.environ) | {
        "HULIN_STATE_DIR": str(state),
        "HULIN_KAFKA_PORT": str(plain),
        "HULIN_KAFKA_CONTROLLER_PORT": str(controller),
        "HULIN_KAFKA_SCRAM_PORT": str(scram),
        "HULIN_KAFKA_SCRAM_USERS": f"hulin-patrol={PASSWORD}",
        "HULIN_KAFKA_HEAP": "384m",
    }
    infra = str(Path(ROOT) / "scripts" / "infra.sh")
    subprocess.run([infra, "start-kafka"], env=env, check=True)
    try:
        yield scram
    finally:
        subprocess.run([infra, "stop-kafka"], env=env, check=True)


def scram_settings(port: int, password: str) -> Settings:
    return Settings(
        service="patrol",
        kafka_bootstrap=f"127.0.0.1:{port}",
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="hulin-patrol",
        kafka_sasl_password=password,
        topic_prefix=f"scram{uuid.uuid4().hex[:6]}.",
    )


def started(patrol_id: str) -> PatrolStarted:
    from datetime import UTC, datetime

    return PatrolStarted.new(
        PatrolStartedData(
            patrol_id=patrol_id, ranger_id="rg-1", village="500114001001",
            started_at=datetime.now(UTC),
        ),
        key="rg-1",
        producer="patrol",
    )


async def test_the_right_scram_password_publishes_and_reads(scram_broker: int) -> None:
    settings = scram_settings(scram_broker, PASSWORD)
    topic = settings.topic("hulin.patrol")
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    await admin.create_topics([NewTopic(topic, 1, 1)])
    await admin.close()
    publisher = Publisher(settings)
    await publisher.start(timeout_s=20)
    try:
        await publisher.publish(started("p-1"))
    finally:
        await publisher.stop()
    consumer = AIOKafkaConsumer(topic, auto_offset_reset="earliest", **client_options(settings))
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=10_000)
    finally:
        await consumer.stop()
    values = [r.value for records in batch.values() for r in records]
    assert len(values) == 1 and b"p-1" in (values[0] or b"")


async def test_a_wrong_password_is_refused(scram_broker: int) -> None:
    publisher = Publisher(scram_settings(scram_broker, "not-the-password"))
    with pytest.raises(KafkaError):
        await publisher.start(timeout_s=3)


def test_sasl_without_a_user_is_refused_at_start_up() -> None:
    with pytest.raises(ValueError, match="HULIN_KAFKA_SASL_USERNAME"):
        Settings(kafka_security_protocol="SASL_SSL")


async def test_the_init_step_that_waits_for_topics_lists_them_over_scram(scram_broker: int) -> None:
    """The Deployments' wait-for-topics init container talks to the same SCRAM listener as the
    services: it must authenticate too, or it would wait for ever."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "wait_for_topics", Path(ROOT) / "deploy" / "docker" / "wait_for_topics.py"
    )
    assert spec is not None and spec.loader is not None
    wait_for_topics = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(wait_for_topics)

    settings = scram_settings(scram_broker, PASSWORD)
    present, absent = settings.topic("hulin.patrol"), settings.topic("hulin.reports")
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    await admin.create_topics([NewTopic(present, 1, 1)])
    await admin.close()
    assert await wait_for_topics.missing_topics(settings, {present, absent}) == {absent}
