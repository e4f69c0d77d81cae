"""Poison messages on every topic a service consumes go to `hulin.deadletter`, and the consumer
keeps going: a valid event after the poison is still handled.

For each consumer group of each service (found from the running app, not hard-coded), on each of
its topics: garbage bytes, and valid JSON of an event type the group handles but with invalid data.
Each must arrive on the dead-letter topic naming that topic and group; then the group's committed
offset must move past a valid message sent after them, and the valid message's effect must show
through the HTTP API (a report becomes an incident; a patrol's points are stored; an incident event
reaches the village chief's inbox).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.events import BY_TYPE, IncidentChangeData, IncidentOpened, IncidentSnapshot
from shared.topics import DEADLETTER, INCIDENTS
from tests.e2e.hulin_system import (
    HulinSystem,
    bearer,
    incident_of,
    interior_villages,
    running_system,
    the_org,
    wait_for,
)
from tests.support.kafka import read_topic

ORG = the_org()
VILLAGE, _ = interior_villages(ORG)
RANGER = f"rg-{VILLAGE}-1"
CHIEF = f"vc-{VILLAGE}"
GARBAGE = b"\xff\x00 not json {{{"


def now(minus_s: float = 0) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=minus_s)


def invalid_event(event_type: str) -> bytes:
    """A well-formed envelope of a known type whose data cannot be valid."""
    return orjson.dumps({
        "id": str(uuid.uuid4()), "type": event_type, "version": 1,
        "occurred_at": now().isoformat(), "producer": "poison-test", "key": "poison",
        "correlation_id": "poison", "data": {"lat": "north", "points": "many"},
    })


def consumed(system: HulinSystem) -> list[tuple[str, str, str, str]]:
    """(service, group, full topic, an event type the group handles on that topic)."""
    out = []
    for service, server in system.servers.items():
        for runner in server.app.state.runtime.consumers:
            types = list(runner.handlers) + list(runner.batch_handlers)
            for topic in runner.topics:
                logical = topic[len(system.prefix):]
                handled = [t for t in types if t in BY_TYPE and BY_TYPE[t].topic == logical]
                out.append((service, runner.group, topic, handled[0] if handled else "x.unknown"))
    return out


async def committed(bootstrap: str, group: str) -> dict[TopicPartition, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
        return {tp: meta.offset for tp, meta in offsets.items()}
    finally:
        await admin.close()


async def test_poison_on_every_consumed_topic_is_deadlettered_and_consumers_keep_going() -> None:
    async with running_system() as system, httpx.AsyncClient(timeout=30) as client:
        await system.consumers_assigned()
        targets = consumed(system)
        assert {s for s, *_ in targets} >= {"patrol", "incidents", "notify"}, targets
        settings = next(iter(system.settings.values()))
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
        await producer.start()
        sent: dict[tuple[str, str], tuple[TopicPartition, int]] = {}
        try:
            for _service, group, topic, event_type in targets:
                for value in (GARBAGE, invalid_event(event_type)):
                    await producer.send_and_wait(topic, value=value, key=b"poison")
                # a valid (but unknown to everyone) event after the poison on the same partition:
                # the consumer must commit past it, so it did not stop at the poison
                meta = await producer.send_and_wait(topic, key=b"poison", value=orjson.dumps({
                    "id": str(uuid.uuid4()), "type": "test.after_poison", "version": 1,
                    "occurred_at": now().isoformat(), "producer": "t", "key": "poison",
                    "correlation_id": "t", "data": {}}))
                sent[(group, topic)] = (TopicPartition(topic, meta.partition), meta.offset)
        finally:
            await producer.stop()

        # 1. every poison is on the dead-letter topic, naming its topic and group
        want = {(topic, group) for _s, group, topic, _t in targets}
        got: dict[tuple[str, str], int] = {}

        async def all_deadlettered() -> bool:
            got.clear()
            for letter in await read_topic(settings, DEADLETTER, count=10**6, timeout_s=2):
                data: Any = letter.data
                key = (data.original_topic, data.consumer_group)
                got[key] = got.get(key, 0) + 1
            return all(got.get(key, 0) >= 2 for key in want)

        try:
            await wait_for(all_deadlettered, 60, 0.5)
        except AssertionError:
            missing = {k: got.get(k, 0) for k in want if got.get(k, 0) < 2}
            raise AssertionError(f"poisons not dead-lettered (of 2 each): {missing}") from None

        # 2. each group committed past the message after the poison
        async def all_committed() -> bool:
            for (group, _topic), (tp, offset) in sent.items():
                offsets = await committed(settings.kafka_bootstrap, group)
                if offsets.get(tp, -1) <= offset:  # committed = next offset to read
                    return False
            return True

        await wait_for(all_committed, 60, 0.5)

        # 3. real work still flows through each service
        lat, lon = ORG.unit(VILLAGE).point
        report_id = str(uuid.uuid4())
        r = await client.post(f"{system.url('incidents')}/v1/reports", headers=bearer(RANGER),
                              json={"id": report_id, "type": "pest", "lat": lat, "lon": lon,
                                    "observed_at": now(60).isoformat()})
        assert r.status_code == 202, r.text
        assert await incident_of(client, system.url("incidents"), report_id, RANGER)

        patrol_id = str(uuid.uuid4())
        r = await client.post(f"{system.url('patrol')}/v1/patrols", headers=bearer(RANGER),
                              json={"id": patrol_id, "started_at": now(300).isoformat()})
        assert r.status_code == 201, r.text
        r = await client.post(
            f"{system.url('patrol')}/v1/patrols/{patrol_id}/points", headers=bearer(RANGER),
            json={"points": [{"seq": i, "t": now(200 - 15 * i).isoformat(),
                              "lat": lat + 0.0002 * i, "lon": lon} for i in range(4)]})
        assert r.status_code == 202, r.text

        async def stored() -> bool:
            g = await client.get(f"{system.url('patrol')}/v1/patrols/{patrol_id}",
                                 headers=bearer(RANGER))
            return g.status_code == 200 and g.json().get("points") == 4

        await wait_for(stored, 30)

        incident = direct_incident(VILLAGE, lat, lon)
        pub = system.runtime("incidents").publisher
        await pub.publish(IncidentOpened.new(
            IncidentChangeData(incident=incident, reason="opened"), key=incident.id,
            producer="poison-test"))
        assert IncidentOpened.topic == INCIDENTS

        async def notified() -> bool:
            g = await client.get(f"{system.url('notify')}/v1/inbox", headers=bearer(CHIEF))
            body: Any = g.json()
            items = body.get("notifications", body.get("items", [])) if isinstance(
                body, dict) else body
            return any(i.get("incident_id") == incident.id for i in items)

        await wait_for(notified, 30)


def direct_incident(village: str, lat: float, lon: float) -> IncidentSnapshot:
    township = ORG.township_of(village).code
    return IncidentSnapshot(
        id=str(uuid.uuid4()), type="illegal_digging", family="sisluan", status="reported",
        severity="general", verified=True, village=village, township=township,
        district=ORG.district.code, lat=lat, lon=lon, report_ids=(str(uuid.uuid4()),),
        escalation_level=0, opened_at=now(), observed_at=now(60), police=True,
        reporter_id=f"rg-{village}-2",
    )


async def test_a_poison_too_large_to_deadletter_whole_is_cut_and_the_partition_goes_on() -> None:
    """Issue 16, finding 15: a dead letter the broker refuses for good (its JSON, with the
    message's quotes escaped, passes the broker's message size) used to be retried for ever,
    and nothing after it on the partition was handled."""
    async with running_system() as system:
        await system.consumers_assigned()
        settings = next(iter(system.settings.values()))
        topic = settings.topic("hulin.reports")
        group = next(
            r.group for r in system.runtime("incidents").consumers if topic in r.topics
        )
        big = b'"' * 600_000  # 600 KB accepted; as a dead letter's JSON string, 1.2 MB
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap, acks="all", max_request_size=2**21
        )
        await producer.start()
        try:
            await producer.send_and_wait(topic, value=big, key=b"poison-big")
            meta = await producer.send_and_wait(topic, key=b"poison-big", value=orjson.dumps({
                "id": str(uuid.uuid4()), "type": "test.after_poison", "version": 1,
                "occurred_at": now().isoformat(), "producer": "t", "key": "poison-big",
                "correlation_id": "t", "data": {}}))
        finally:
            await producer.stop()
        tp = TopicPartition(topic, meta.partition)

        async def moved_on() -> bool:
            return (await committed(settings.kafka_bootstrap, group)).get(tp, -1) > meta.offset

        await wait_for(moved_on, 60, 0.5)
        letters = [
            letter.data for letter in await read_topic(settings, DEADLETTER, 10**6, timeout_s=2)
            if letter.data.original_topic == topic and letter.data.original_key == "poison-big"
        ]
        assert len(letters) == 1
        assert letters[0].value.endswith("…[cut: the message was 600000 bytes]")
        assert len(letters[0].value) < 100_100
