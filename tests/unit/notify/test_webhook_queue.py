"""The webhook dispatcher's in-memory due queue and the delivery log folded from its records: no
store, no clock but the times passed in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.notify.domain.deliveries import (
    DEAD,
    DELIVERED,
    FAILED,
    PENDING,
    Delivery,
    Outcome,
    Try,
    delivery_state,
)
from services.notify.domain.delivery_queue import DeliveryQueue, Pending

T0 = datetime(2026, 3, 15, 8, 0, tzinfo=UTC)
REMEMBER = 100


def delivery(did: str, *, prev: str | None = None) -> Delivery:
    return Delivery(
        id=did,
        subscription_id="s",
        event_id=f"e-{did}",
        event_type="incident.opened",
        subject_id="i",
        order_key="s|i",
        seq=1,
        prev=prev,
        created_at=T0,
        body="{}",
    )


def pending(did: str, *, due: datetime = T0, prev: str | None = None) -> Pending:
    return Pending.of(delivery(did, prev=prev), tries=0, due_at=due)


def test_due_returns_only_deliveries_whose_time_has_come_earliest_first() -> None:
    q = DeliveryQueue(remember_done=REMEMBER)
    q.add(pending("b", due=T0 + timedelta(seconds=2)))
    q.add(pending("a", due=T0 + timedelta(seconds=1)))
    q.add(pending("c", due=T0 + timedelta(seconds=9)))
    assert [p.id for p in q.due(T0 + timedelta(seconds=5), 10)] == ["a", "b"]
    assert q.due(T0 + timedelta(seconds=5), 10) == []


def test_a_rescheduled_delivery_comes_due_once_at_its_new_time() -> None:
    q = DeliveryQueue(remember_done=REMEMBER)
    q.add(pending("a"))
    (taken,) = q.due(T0, 10)
    q.later(taken, T0 + timedelta(seconds=3))
    assert q.due(T0 + timedelta(seconds=2), 10) == []
    assert [p.id for p in q.due(T0 + timedelta(seconds=3), 10)] == ["a"]


def test_a_finished_delivery_is_never_queued_again_and_releases_its_successor() -> None:
    q = DeliveryQueue(remember_done=REMEMBER)
    first, second = pending("a"), pending("b", prev="a")
    q.add(first)
    q.add(second)
    assert [p.id for p in q.due(T0, 10)] == ["a", "b"]
    q.wait_for(second, "a")
    q.finish("a", T0 + timedelta(seconds=1))
    q.add(pending("a"))  # found again by a sweep
    assert [p.id for p in q.due(T0 + timedelta(seconds=1), 10)] == ["b"]


def test_each_delivery_names_the_latest_of_its_subscription_and_incident_as_predecessor() -> None:
    q = DeliveryQueue(remember_done=REMEMBER)
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
    d = delivery("a")
    t1 = Try(
        delivery_id="a",
        subscription_id="s",
        attempt=1,
        at=T0,
        finished_at=T0,
        ok=False,
        outcome=FAILED,
        status_code=500,
        error="HTTP 500",
        next_try_at=T0 + timedelta(seconds=10),
    )
    t2 = Try("a", "s", 2, T0, T0, ok=True, outcome=DELIVERED, status_code=204)
    state = delivery_state(d, [t1], None)
    assert state.status == PENDING and state.attempts == 1
    assert state.last_error == "HTTP 500" and state.next_try_at == t1.next_try_at
    done = delivery_state(d, [t2, t1], Outcome("a", "s", DELIVERED, T0, 2))
    assert done.status == DELIVERED and done.attempts == 2 and done.last_error is None
    assert [t.attempt for t in done.tries] == [1, 2] and done.next_try_at is None
    dead = delivery_state(d, [t1], Outcome("a", "s", DEAD, T0, 1))
    assert dead.status == DEAD and dead.dead_at == T0
    assert delivery_state(d, [], None).next_try_at == T0  # never tried: due since made
