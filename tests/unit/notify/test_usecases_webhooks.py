"""HQ's webhooks on the fakes: subscribing, the outbox a batch of alerts makes, and the dispatch
retried on the backoff as the fake clock moves, then dead-lettered; in order per incident."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest

from services.notify.domain.dedup import delivery_id
from services.notify.domain.deliveries import DEAD, DELIVERED, PENDING, Delivery
from services.notify.store import Webhook
from services.notify.usecases import subscriptions
from services.notify.usecases.webhook_dispatch import Sent
from shared.errors import Forbidden, InvalidInput, NotFound
from tests.unit.notify.usecase_support import (
    CHAIN,
    HQ,
    ORG,
    Notify,
    ScriptedSender,
    escalated,
    opened,
    snapshot,
)


async def subscribe(n: Notify, **extra: object) -> Webhook:
    hq = ORG.person(HQ)
    assert hq is not None
    args: dict[str, object] = {"types": None, "incident_types": None, "min_level": 0, **extra}
    return await subscriptions.subscribe(
        subscriptions=n.store.subscriptions,
        person=hq,
        url="http://hq.example/hook",
        secret="s3cret",
        clock=n.clock,
        **args,  # type: ignore[arg-type]
    )


async def log_of(n: Notify, webhook: Webhook) -> list[tuple[str, str, int]]:
    page = await n.store.deliveries.log(webhook.id, limit=50)
    return [(s.delivery.event_type, s.status, s.attempts) for s in page.deliveries]


async def test_a_delivery_is_retried_on_the_backoff_as_the_clock_moves_then_dead_lettered() -> None:
    n = Notify()
    n.sender.answers = [500, 500, 500]
    webhook = await subscribe(n)
    await n.chain.handle([opened(snapshot())])

    assert await n.dispatcher.run_once() == 1  # at once
    n.advance(9)
    assert await n.dispatcher.run_once() == 0  # the first wait is 10 s
    n.advance(1)
    assert await n.dispatcher.run_once() == 1
    n.advance(19)
    assert await n.dispatcher.run_once() == 0  # then 20 s
    assert await log_of(n, webhook) == [("incident.opened", PENDING, 2)]
    n.advance(1)
    assert await n.dispatcher.run_once() == 1  # 30 s after the first: past the retry period

    assert await log_of(n, webhook) == [("incident.opened", DEAD, 3)]
    (dead,) = n.publisher.of_type("webhook.deadlettered")
    assert dead.data.attempts == 3 and dead.data.last_error == "HTTP 500"  # type: ignore[attr-defined]
    n.advance(600)
    assert await n.dispatcher.run_once() == 0 and len(n.sender.sent) == 3  # never sent again
    assert await n.store.deliveries.open() == []


async def test_every_try_carries_the_same_delivery_id_and_is_signed_with_the_secret() -> None:
    n = Notify()
    n.sender.answers = [503]
    await subscribe(n)
    await n.chain.handle([opened(snapshot())])
    await n.dispatcher.run_once()
    n.advance(10)
    await n.dispatcher.run_once()

    first, second = n.sender.sent
    assert first["delivery_id"] == second["delivery_id"] and first["body"] == second["body"]
    assert (first["attempt"], second["attempt"]) == (1, 2)
    assert first["secret"] == "s3cret" and first["url"] == "http://hq.example/hook"


async def test_an_incidents_next_delivery_waits_until_the_one_before_it_is_delivered() -> None:
    n = Notify()
    n.sender.answers = [500]
    webhook = await subscribe(n)
    snap = snapshot()
    await n.chain.handle([opened(snap)])
    later = snap.model_copy(update={"escalation_level": 1})
    await n.chain.handle([escalated(later, 0, 1)])

    assert await n.dispatcher.run_once() == 1  # the first fails; the second waits for it
    n.advance(10)
    await n.dispatcher.run_once()  # the first is delivered; the second is let go
    await n.dispatcher.run_once()

    assert [s["event_type"] for s in n.sender.sent] == [
        "incident.opened",
        "incident.opened",
        "incident.escalated",
    ]
    assert sorted(await log_of(n, webhook)) == [
        ("incident.escalated", DELIVERED, 1),
        ("incident.opened", DELIVERED, 2),
    ]


async def test_a_subscription_gets_only_the_event_types_and_levels_it_asked_for() -> None:
    n = Notify()
    webhook = await subscribe(n, types=["incident.escalated"], min_level=1)
    await n.chain.handle([opened(snapshot())])
    assert await log_of(n, webhook) == []


async def test_subscriptions_are_for_hq_and_admin_and_others_see_none() -> None:
    n = Notify()
    webhook = await subscribe(n)
    chief = ORG.person(CHAIN[0])
    assert chief is not None
    with pytest.raises(Forbidden):
        await subscriptions.subscribe(
            subscriptions=n.store.subscriptions,
            person=chief,
            url="http://x/hook",
            secret="s",
            types=None,
            incident_types=None,
            min_level=0,
            clock=n.clock,
        )
    with pytest.raises(NotFound):
        await subscriptions.own(
            subscriptions=n.store.subscriptions, org=ORG, person=chief, webhook_id=webhook.id
        )
    with pytest.raises(InvalidInput):
        await subscribe(n, types=["incident.nonsense"])


async def test_a_batch_handed_in_again_after_a_failed_store_names_the_same_predecessors() -> None:
    n = Notify()
    webhook = await subscribe(n)
    deliveries = n.store.deliveries
    add = deliveries.add
    calls = 0

    async def away_once(made: Sequence[Delivery]) -> set[str]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("store away")
        return await add(made)

    deliveries.add = away_once  # type: ignore[method-assign]
    snap = snapshot()
    batch = [opened(snap), escalated(snap.model_copy(update={"escalation_level": 1}), 0, 1)]
    with pytest.raises(ConnectionError):
        await n.chain.handle(batch)
    await n.chain.handle(batch)

    first, second = [await deliveries.get(delivery_id(webhook.id, str(e.id))) for e in batch]
    assert first is not None and second is not None
    assert first.prev is None and second.prev == first.id
    assert n.queue.predecessor(first.order_key) == second.id


async def test_disabled_or_deleted_webhooks_get_no_deliveries_and_a_new_secret_is_kept() -> None:
    n = Notify()
    hq = ORG.person(HQ)
    assert hq is not None
    kept, off, gone = await subscribe(n), await subscribe(n), await subscribe(n)
    common = {"subscriptions": n.store.subscriptions, "org": ORG, "person": hq}
    await subscriptions.set_active(**common, webhook_id=off.id, active=False)  # type: ignore[arg-type]
    await subscriptions.delete(**common, webhook_id=gone.id)  # type: ignore[arg-type]
    minted = await subscriptions.rotate_secret(
        **common, webhook_id=kept.id, secret=None  # type: ignore[arg-type]
    )
    assert len(minted) >= 32
    assert (await n.store.subscriptions.get(kept.id)).secret == minted  # type: ignore[union-attr]
    assert await n.store.subscriptions.get(gone.id) is None
    with pytest.raises(NotFound):
        await subscriptions.delete(**common, webhook_id=gone.id)  # type: ignore[arg-type]

    await n.chain.handle([opened(snapshot())])
    await n.dispatcher.run_once()
    assert await log_of(n, off) == [] and await log_of(n, gone) == []
    assert await log_of(n, kept) == [("incident.opened", DELIVERED, 1)]


async def test_someone_not_hq_cannot_manage_a_webhook() -> None:
    n = Notify()
    webhook = await subscribe(n)
    chief = ORG.person(CHAIN[0])
    assert chief is not None
    with pytest.raises(NotFound):
        await subscriptions.set_active(
            subscriptions=n.store.subscriptions, org=ORG, person=chief,
            webhook_id=webhook.id, active=False,
        )
    assert (await n.store.subscriptions.get(webhook.id)).active  # type: ignore[union-attr]


class OneSlowReceiver(ScriptedSender):
    """Every receiver answers at once but `slow`, which holds each try until released."""

    def __init__(self, slow: str) -> None:
        super().__init__()
        self.slow = slow
        self.release = asyncio.Event()

    async def send(self, **request: Any) -> Sent:
        if request["url"] == self.slow:
            await self.release.wait()
        return await super().send(**request)


async def test_a_slow_receiver_does_not_hold_back_another_subscriptions_deliveries() -> None:
    sender = OneSlowReceiver("http://slow.example/hook")
    n = Notify(sender=sender)
    n.dispatcher.rules = replace(n.dispatcher.rules, run_wait_s=0.01)
    hq = ORG.person(HQ)
    assert hq is not None
    hooks = [
        await subscriptions.subscribe(
            subscriptions=n.store.subscriptions,
            person=hq,
            url=url,
            secret="s3cret",
            types=None,
            incident_types=None,
            min_level=0,
            clock=n.clock,
        )
        for url in ("http://slow.example/hook", "http://fast.example/hook")
    ]
    slow, fast = hooks
    await n.chain.handle([opened(snapshot())])
    assert await n.dispatcher.run_once() == 2
    await n.chain.handle([opened(snapshot())])
    assert await n.dispatcher.run_once() == 2
    assert [s for _, s, _ in await log_of(n, fast)] == [DELIVERED, DELIVERED]
    assert [s for _, s, _ in await log_of(n, slow)] == [PENDING, PENDING]
    sender.release.set()
    for _ in range(3):
        await asyncio.sleep(0.01)
        await n.dispatcher.run_once()
    assert [s for _, s, _ in await log_of(n, slow)] == [DELIVERED, DELIVERED]
    await n.dispatcher.close()


async def test_a_hanging_receiver_holds_its_own_slots_of_the_batch_not_all_of_them() -> None:
    sender = OneSlowReceiver("http://hq.example/hook")
    n = Notify(sender=sender)
    n.dispatcher.rules = replace(n.dispatcher.rules, run_wait_s=0.01, per_receiver=2)
    await subscribe(n)
    await n.chain.handle([opened(snapshot()) for _ in range(5)])
    assert await n.dispatcher.run_once() == 2
    assert await n.dispatcher.run_once() == 0  # the other three wait for a free slot
    sender.release.set()
    for _ in range(4):
        await asyncio.sleep(0.01)
        n.advance(1)
        await n.dispatcher.run_once()
    assert len(sender.sent) == 5
