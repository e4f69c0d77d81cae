"""Webhooks for HQ against a real HTTP receiver: signed deliveries, one delivery id across retries,
per-incident order, dead-lettering, and at most one send per try across replicas."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from services.notify.domain.dedup import delivery_id
from services.notify.domain.deliveries import DEAD, DELIVERED, Delivery, Outcome
from services.notify.domain.webhooks import delivery_body, verify
from services.notify.repository.deliveries import DELIVERIES
from services.notify.settings import NotifySettings
from shared.events import WebhookDeadLettered
from shared.topics import DEADLETTER
from tests.integration.notify.conftest import (
    FAST,
    Notify,
    escalated,
    opened,
    snapshot,
    start_notify,
)
from tests.support.kafka import read_topic, wait_until

SECRET = "hq-shared-secret-0123456789"
HQ = "hq-500114"


async def subscribe(n: Notify, url: str, **extra: Any) -> dict[str, Any]:
    async with n.client(HQ) as c:
        r = await c.post("/v1/webhooks", json={"url": url, "secret": SECRET, **extra})
    assert r.status_code == 201, r.text
    body = r.json()
    assert "secret" not in body and SECRET not in r.text
    return dict(body)


async def deliveries(n: Notify, sub_id: str) -> list[dict[str, Any]]:
    async with n.client(HQ) as c:
        r = await c.get(f"/v1/webhooks/{sub_id}/deliveries")
    r.raise_for_status()
    assert SECRET not in r.text
    return list(r.json()["deliveries"])


async def test_hq_webhook_receives_a_correctly_signed_delivery(
    notify: Notify, receiver: Any
) -> None:
    rec = await receiver()
    sub = await subscribe(notify, rec.url)
    snap = snapshot(level=0)
    await notify.publisher.publish(opened(snap))

    await wait_until(lambda: rec.requests)
    req = rec.requests[0]
    headers, body = req["headers"], req["body"]
    assert headers["x-hulin-signature"].startswith("sha256=")
    assert verify(SECRET, body, headers["x-hulin-signature"])
    assert not verify("another-secret", body, headers["x-hulin-signature"])
    assert headers["x-hulin-event"] == "incident.opened"
    doc = orjson.loads(body)
    assert doc["delivery_id"] == headers["x-hulin-delivery"]
    assert doc["alert"]["incident_id"] == snap.id and doc["event"] == "incident.opened"
    assert "枫香村" in doc["message"]["title"]

    async def delivered() -> Any:
        ds = await deliveries(notify, sub["id"])
        return ds if ds and ds[0]["status"] == "delivered" else None

    ds = await wait_until(delivered)
    assert ds[0]["id"] == headers["x-hulin-delivery"]
    assert [(t["attempt"], t["status_code"], t["ok"]) for t in ds[0]["tries"]] == [(1, 204, True)]


async def test_receiver_failing_three_times_gets_a_fourth_try_with_the_same_delivery_id(
    notify: Notify, receiver: Any
) -> None:
    rec = await receiver(fail_first=3)
    sub = await subscribe(notify, rec.url)
    await notify.publisher.publish(opened(snapshot()))

    await wait_until(lambda: len(rec.requests) >= 4, timeout_s=20)
    ids = {r["headers"]["x-hulin-delivery"] for r in rec.requests}
    assert len(ids) == 1
    assert len({r["body"] for r in rec.requests}) == 1  # the same signed bytes every time
    assert all(verify(SECRET, r["body"], r["headers"]["x-hulin-signature"]) for r in rec.requests)

    async def delivered() -> Any:
        ds = await deliveries(notify, sub["id"])
        return ds if ds and ds[0]["status"] == "delivered" else None

    ds = await wait_until(delivered)
    tries = ds[0]["tries"]
    assert [t["status_code"] for t in tries] == [500, 500, 500, 204]
    assert ds[0]["attempts"] == 4 and ds[0]["last_error"] is None
    await asyncio.sleep(0.6)
    assert len(rec.requests) == 4  # nothing after success


async def test_an_incident_events_reach_hq_in_order_even_when_the_first_is_retried(
    notify: Notify, receiver: Any
) -> None:
    rec = await receiver(fail_first=2)
    await subscribe(notify, rec.url)
    snap = snapshot()
    await notify.publisher.publish_many([opened(snap), escalated(snap, 0, 1)])

    async def both_ok() -> bool:
        return len(rec.requests) >= 4

    await wait_until(both_ok, timeout_s=20)
    events = [r["headers"]["x-hulin-event"] for r in rec.requests]
    assert events == ["incident.opened"] * 3 + ["incident.escalated"]


async def test_order_holds_when_the_next_event_is_handled_by_another_replica(
    notify: Notify, token: Any, receiver: Any
) -> None:
    """The incident's partition moves to another replica while its first delivery waits for a
    retry: the second replica never held that delivery, and still sends the next one after it."""
    rec = await receiver(fail_first=2)
    await subscribe(notify, rec.url)
    snap = snapshot()
    second = start_notify(notify.settings, token)
    other = await second.__anext__()
    try:
        first_event, next_event = opened(snap), escalated(snap, 0, 1)
        await notify.app.state.chain.handle([first_event])
        await wait_until(lambda: rec.requests)  # the first try went out, and failed
        await other.app.state.chain.handle([next_event])

        store = other.app.state.store
        sub_id = (await store.subscriptions.active())[0].id
        later = await store.deliveries.get(delivery_id(sub_id, str(next_event.id)))
        assert later is not None
        assert later.prev == delivery_id(sub_id, str(first_event.id))

        await wait_until(lambda: len(rec.requests) >= 4, timeout_s=20)
        events = [r["headers"]["x-hulin-event"] for r in rec.requests]
        assert events == ["incident.opened"] * 3 + ["incident.escalated"]
    finally:
        await second.aclose()


async def test_filters_by_event_type_and_level(notify: Notify, receiver: Any) -> None:
    rec = await receiver()
    await subscribe(notify, rec.url, types=["incident.escalated"], min_level=2)
    snap = snapshot()
    await notify.publisher.publish_many(
        [opened(snap), escalated(snap, 0, 1), escalated(snap, 1, 2)]
    )
    await wait_until(lambda: rec.requests)
    await asyncio.sleep(0.5)
    assert len(rec.requests) == 1
    doc = orjson.loads(rec.requests[0]["body"])
    assert doc["event"] == "incident.escalated" and doc["alert"]["level"] == 2


async def test_delivery_is_dead_lettered_after_the_retry_period(
    settings_for: Any, token: Any, receiver: Any
) -> None:
    settings = settings_for(NotifySettings, **{**FAST, "webhook_retry_for_s": 0.8})
    async for n in start_notify(settings, token):
        rec = await receiver(always_fail=True)
        sub = await subscribe(n, rec.url)
        snap = snapshot()
        await n.publisher.publish(opened(snap))

        async def dead(n: Notify = n, sub_id: str = sub["id"]) -> Any:
            ds = await deliveries(n, sub_id)
            return ds if ds and ds[0]["status"] == "dead" else None

        ds = await wait_until(dead, timeout_s=20)
        assert len(ds[0]["tries"]) >= 2 and ds[0]["last_error"] == "HTTP 500"
        events = await read_topic(settings, DEADLETTER, 1, timeout_s=10)
        dl = [e for e in events if isinstance(e, WebhookDeadLettered)]
        assert len(dl) == 1 and dl[0].data.delivery_id == ds[0]["id"]
        assert dl[0].data.subject_id == snap.id and SECRET not in dl[0].to_json().decode()
        tries = len(rec.requests)
        await asyncio.sleep(0.6)
        assert len(rec.requests) == tries  # a dead delivery is never sent again


async def test_two_dispatchers_never_send_the_same_try_twice(
    notify: Notify, token: Any, receiver: Any
) -> None:
    rec = await receiver()
    await subscribe(notify, rec.url)
    second = start_notify(notify.settings, token)
    other = await second.__anext__()
    try:
        snaps = [snapshot() for _ in range(5)]
        # Stop both periodic dispatchers from racing the test: call run_once by hand, together.
        await notify.publisher.publish_many([opened(s) for s in snaps])

        async def queued() -> bool:
            db = notify.app.state.runtime.db
            return await db[DELIVERIES].count_documents({}) >= 5

        await wait_until(queued)
        a, b = notify.app.state.dispatcher, other.app.state.dispatcher
        await asyncio.gather(*(d.run_once() for d in (a, b, a, b)))
        await wait_until(lambda: len(rec.requests) >= 5)
        await asyncio.sleep(0.5)
    finally:
        await second.aclose()
    ids = [r["headers"]["x-hulin-delivery"] for r in rec.requests]
    assert len(ids) == 5 and len(set(ids)) == 5


async def stored_by_another_replica(
    n: Notify, sub_id: str, *, prev: str | None = None, claimed_until: Any = None
) -> str:
    """A delivery another replica stored (and maybe claimed try 1 of, then died): only the
    store knows it."""
    now = datetime.now(UTC)
    event_id = str(uuid.uuid4())
    did = delivery_id(sub_id, event_id)
    body = delivery_body(
        delivery_id=did,
        event_id=event_id,
        event_type="incident.opened",
        occurred_at=now,
        alert={"incident_id": "i-1"},
        message={"title": "t", "body": "b"},
    )
    deliveries = n.app.state.store.deliveries
    await deliveries.add(  # as the other replica's adapter wrote it
        [
            Delivery(
                id=did,
                subscription_id=sub_id,
                event_id=event_id,
                event_type="incident.opened",
                subject_id="i-1",
                order_key=f"{sub_id}|i-1",
                seq=1,
                prev=prev,
                created_at=now,
                body=body.decode(),
            )
        ]
    )
    if claimed_until is not None:
        await deliveries.claim_try(did, 1, token="other", at=now, lease_until=claimed_until)
    return did


async def test_a_delivery_left_by_another_replica_is_sent_by_the_sweep(
    notify: Notify, receiver: Any
) -> None:
    rec = await receiver()
    sub = await subscribe(notify, rec.url)
    did = await stored_by_another_replica(notify, sub["id"])
    await notify.app.state.dispatcher.sweep()

    await wait_until(lambda: rec.requests)
    await asyncio.sleep(0.5)
    assert [r["headers"]["x-hulin-delivery"] for r in rec.requests] == [did]
    assert verify(SECRET, rec.requests[0]["body"], rec.requests[0]["headers"]["x-hulin-signature"])


async def test_a_try_whose_sender_died_mid_send_is_tried_again_after_its_lease(
    notify: Notify, receiver: Any
) -> None:
    rec = await receiver()
    sub = await subscribe(notify, rec.url)
    gone = datetime.now(UTC) - timedelta(seconds=1)
    did = await stored_by_another_replica(notify, sub["id"], claimed_until=gone)
    await notify.app.state.dispatcher.sweep()

    async def delivered() -> Any:
        ds = await deliveries(notify, sub["id"])
        return ds if ds and ds[0]["status"] == "delivered" else None

    ds = await wait_until(delivered)
    assert ds[0]["id"] == did
    assert [(t["attempt"], t["ok"]) for t in ds[0]["tries"]] == [(1, False), (2, True)]
    assert [r["headers"]["x-hulin-attempt"] for r in rec.requests] == ["2"]


async def test_a_delivery_waits_for_its_predecessor_held_by_another_replica(
    notify: Notify, receiver: Any
) -> None:
    rec = await receiver()
    sub = await subscribe(notify, rec.url)
    # the predecessor's try 1 is out at another replica for a while yet
    first = await stored_by_another_replica(
        notify, sub["id"], claimed_until=datetime.now(UTC) + timedelta(seconds=60)
    )
    second = await stored_by_another_replica(notify, sub["id"], prev=first)
    await notify.app.state.dispatcher.sweep()
    await asyncio.sleep(1.0)
    assert rec.requests == []

    await notify.app.state.store.deliveries.record_outcome(
        Outcome(first, sub["id"], DELIVERED, datetime.now(UTC), attempts=1)
    )
    dispatcher = notify.app.state.dispatcher
    # (the other replica's outcome is looked at again this often)
    dispatcher.rules = replace(dispatcher.rules, recheck_s=0.2)
    await notify.app.state.dispatcher.sweep()
    await wait_until(lambda: rec.requests)
    assert [r["headers"]["x-hulin-delivery"] for r in rec.requests] == [second]


async def test_the_sweep_keeps_only_deliveries_in_flight_open_and_the_log_pages_by_cursor(
    notify: Notify,
) -> None:
    store = notify.app.state.store.deliveries
    sub = await subscribe(notify, "http://127.0.0.1:9/never")  # nothing goes out in this test
    notify.app.state.dispatcher.queue.pending.clear()
    now = datetime.now(UTC)
    made = [
        Delivery(
            id=f"d-{n}",
            subscription_id=sub["id"],
            event_id=f"e-{n}",
            event_type="incident.opened",
            subject_id=f"i-{n}",
            order_key=f"{sub['id']}|i-{n}",
            seq=n,
            prev=None,
            created_at=now,
            body="{}",
        )
        for n in range(1, 5)
    ]
    await store.add(made)
    for did, status in (("d-1", DELIVERED), ("d-2", DEAD), ("d-3", DEAD)):
        await store.record_outcome(Outcome(did, sub["id"], status, now, attempts=1))
    await store.mark_announced("d-2", now)

    await notify.app.state.dispatcher.sweep()

    # d-3 waits to be announced (its recorder may still be at it); d-4 is still to go out
    assert sorted(d.id for d in await store.open()) == ["d-3", "d-4"]
    first = await store.log(sub["id"], limit=3)
    rest = await store.log(sub["id"], limit=3, cursor=first.next)
    assert [d.delivery.id for d in first.deliveries] == ["d-4", "d-3", "d-2"]
    assert first.next is not None and rest.next is None
    assert [(d.delivery.id, d.status) for d in rest.deliveries] == [("d-1", "delivered")]
    assert [d.status for d in first.deliveries] == ["pending", "dead", "dead"]
