"""The webhook dispatcher's in-memory due queue and the delivery log folded from insert-only
records: no store, no clock but the one passed in."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.notify.catalog import load_catalog
from services.notify.channels.base import Dispatch
from services.notify.channels.webhook import DeliveryQueue, Pending, WebhookChannel
from services.notify.domain.dedup import delivery_id
from services.notify.domain.deliveries import DEAD, DELIVERED, PENDING, delivery_state
from shared.clock import FakeClock

T0 = datetime(2026, 3, 15, 8, 0, tzinfo=UTC)


def pending(did: str, *, due: datetime = T0, prev: str | None = None) -> Pending:
    return Pending(
        id=did,
        subscription_id="s",
        event_id=f"e-{did}",
        event_type="incident.opened",
        subject_id="i",
        prev=prev,
        order_key="s|i",
        created_at=T0,
        due_at=due,
        tries=0,
        body="{}",
    )


def test_due_returns_only_deliveries_whose_time_has_come_earliest_first() -> None:
    q = DeliveryQueue()
    q.add(pending("b", due=T0 + timedelta(seconds=2)))
    q.add(pending("a", due=T0 + timedelta(seconds=1)))
    q.add(pending("c", due=T0 + timedelta(seconds=9)))
    assert [p.id for p in q.due(T0 + timedelta(seconds=5), 10)] == ["a", "b"]
    assert q.due(T0 + timedelta(seconds=5), 10) == []


def test_a_rescheduled_delivery_comes_due_once_at_its_new_time() -> None:
    q = DeliveryQueue()
    item = pending("a")
    q.add(item)
    (taken,) = q.due(T0, 10)
    q.later(taken, T0 + timedelta(seconds=3))
    assert q.due(T0 + timedelta(seconds=2), 10) == []
    assert [p.id for p in q.due(T0 + timedelta(seconds=3), 10)] == ["a"]


def test_a_finished_delivery_is_never_queued_again_and_releases_its_successor() -> None:
    q = DeliveryQueue()
    first, second = pending("a"), pending("b", prev="a")
    q.add(first)
    q.add(second)
    assert [p.id for p in q.due(T0, 10)] == ["a", "b"]
    q.wait_for(second, "a")
    q.finish("a", T0 + timedelta(seconds=1))
    q.add(pending("a"))  # found again by a sweep
    assert [p.id for p in q.due(T0 + timedelta(seconds=1), 10)] == ["b"]


def test_each_delivery_names_the_latest_of_its_subscription_and_incident_as_predecessor() -> None:
    q = DeliveryQueue()
    assert q.predecessor("s|i") is None
    q.note("s|i", 5, "a")
    q.note("s|i", 7, "b")
    q.note("s|i", 6, "late")  # an older one found by the sweep does not move the line back
    assert q.predecessor("s|i") == "b"


def test_a_finished_last_delivery_is_nobody_s_predecessor_and_is_forgotten_in_time() -> None:
    q = DeliveryQueue(remember_done=2)
    q.add(pending("a"))
    q.note("s|i", 1, "a")
    q.finish("a", T0)
    assert q.predecessor("s|i") is None and q.is_done("a")
    for did in ("b", "c"):
        q.add(pending(did))
        q.finish(did, T0)
    assert not q.is_done("a") and q.is_done("c")


def test_the_log_shows_a_delivery_pending_until_its_outcome_then_delivered_or_dead() -> None:
    d = {"_id": "a", "created_at": T0}
    t1 = {
        "attempt": 1,
        "at": T0,
        "ok": False,
        "error": "HTTP 500",
        "status_code": 500,
        "next_try_at": T0 + timedelta(seconds=10),
    }
    t2 = {"attempt": 2, "at": T0, "ok": True, "error": None, "status_code": 204}
    state = delivery_state(d, [t1], None)
    assert state["status"] == PENDING and state["attempts"] == 1
    assert state["last_error"] == "HTTP 500" and state["next_try_at"] == t1["next_try_at"]
    done = delivery_state(d, [t2, t1], {"_id": "a", "status": DELIVERED, "at": T0})
    assert done["status"] == DELIVERED and done["attempts"] == 2 and done["last_error"] is None
    assert [t["attempt"] for t in done["tries"]] == [1, 2] and done["next_try_at"] is None
    dead = delivery_state(d, [t1], {"_id": "a", "status": DEAD, "at": T0})
    assert dead["status"] == DEAD and dead["dead_at"] == T0


class FailingOnceRepo:
    """Stores deliveries; the first insert fails (the batch is handed in again)."""

    def __init__(self) -> None:
        self.stored: dict[str, dict[str, Any]] = {}
        self.heads: dict[str, tuple[int, str]] = {}
        self.fail = True

    async def active_subscriptions(self) -> list[dict[str, Any]]:
        return [{"_id": "s", "url": "http://hq/hook", "unit": "500114", "min_level": 0}]

    async def insert_deliveries(self, docs: Sequence[dict[str, Any]]) -> set[str]:
        if self.fail:
            self.fail = False
            raise ConnectionError("store away")
        known = {d["_id"] for d in docs if d["_id"] in self.stored}
        self.stored.update({d["_id"]: d for d in docs if d["_id"] not in known})
        return known

    async def order_heads(self, keys: Sequence[str]) -> dict[str, tuple[int, str]]:
        return {k: v for k, v in self.heads.items() if k in keys}

    async def set_order_heads(self, heads: dict[str, tuple[int, str]]) -> None:
        self.heads.update(heads)


async def test_a_batch_handed_in_again_names_the_same_predecessors() -> None:
    repo = FailingOnceRepo()
    channel = WebhookChannel(
        repo,  # type: ignore[arg-type]
        load_catalog(),
        FakeClock(T0),
        utc_offset_h=8.0,
    )
    alert = {
        "subject_id": "inc-1",
        "incident_id": "inc-1",
        "kind": "alarm",
        "alarm": True,
        "level": 1,
        "type": "fire",
        "severity": "general",
        "status": "reported",
        "village": "500114001001",
        "township": "500114001",
        "district": "500114",
        "lat": 29.4,
        "lon": 108.6,
        "at": T0,
        "scope_units": ["500114"],
        "facts": {},
        "event_type": "incident.opened",
    }
    batch = [
        Dispatch(
            event_id=f"e{i}",
            event_type="incident.opened",
            occurred_at=T0,
            alert={**alert, "seq": i, "_id": f"500114:{i}", "event_id": f"e{i}"},
            notifications=(),
        )
        for i in (1, 2)
    ]
    with pytest.raises(ConnectionError):
        await channel.send_many(batch)
    await channel.send_many(batch)
    first, second = (repo.stored[delivery_id("s", f"e{i}")] for i in (1, 2))
    assert first["prev"] is None and second["prev"] == first["_id"]
    assert channel.queue.predecessor(first["order_key"]) == second["_id"]
