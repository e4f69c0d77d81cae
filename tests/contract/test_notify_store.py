"""The notify store port's promises, held to both implementations: the in-memory fake the use-case
tests run on and the MongoDB adapter on the local FerretDB. One set of tests, run on each; a test
failing on one only means the two have drifted apart."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.notify.domain.alerts import AlertDraft
from services.notify.domain.deliveries import (
    DEAD,
    DELIVERED,
    FAILED,
    PENDING,
    Delivery,
    Outcome,
    Try,
)
from services.notify.domain.notifications import (
    Acknowledged,
    Created,
    FactsChanged,
    Notification,
    Updated,
)
from services.notify.domain.webhooks import Subscription
from services.notify.repository import COLLECTIONS, mongo_store
from services.notify.settings import NotifySettings
from services.notify.store import NotifyStore, Webhook
from shared import db as dbmod
from shared.cursors import BadCursor
from tests.fakes.notify_store import fake_store
from tests.support.infra import unique_name

T0 = datetime(2026, 4, 1, 8, 0, tzinfo=UTC)  # whole milliseconds: what BSON keeps
DISTRICT = "500114"
VILLAGE = "500114001001"


@pytest.fixture(params=["fake", "ferretdb"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[NotifyStore]:
    if request.param == "fake":
        yield fake_store()
        return
    request.getfixturevalue("infra")
    settings = NotifySettings(mongo_db=f"hulin_{unique_name()}", env="test")
    client = dbmod.connect(settings)
    try:
        db = dbmod.database(client, settings)
        await dbmod.ensure_indexes(db, COLLECTIONS)
        yield mongo_store(db)
    finally:
        await client.drop_database(settings.database_name)
        await client.close()


def note(n: int, recipient: str = "p-chief", *, subject: str | None = None) -> Notification:
    at = T0 + timedelta(minutes=n)
    return Notification(
        id=f"n{n:04d}",
        key=f"inc-{n}|{recipient}|new_incident|0",
        subject_id=subject or f"inc-{n}",
        incident_id=subject or f"inc-{n}",
        recipient_id=recipient,
        role="village_chief",
        unit=VILLAGE,
        reason="village chain",
        kind="new_incident",
        level=0,
        facts={"type": "fire", "reports": 1},
        reports=1,
        created_at=at,
        updated_at=at,
        event_id=f"ev-{n}",
    )


def ids(notes: list[Notification]) -> list[str]:
    return [n.id for n in notes]


# ---- inbox ----------------------------------------------------------------------------------
async def test_a_notification_delivered_twice_is_stored_once_and_the_first_stays(
    store: NotifyStore,
) -> None:
    assert await store.inbox.deliver([note(1), note(2)]) == set()
    changed = replace(note(1), reason="other")
    assert await store.inbox.deliver([changed, note(3)]) == {"n0001"}
    page = await store.inbox.page("p-chief", unread=False, limit=10)
    assert ids(page.notifications) == ["n0003", "n0002", "n0001"]
    assert page.notifications[-1] == note(1) and page.next is None


async def test_pages_run_newest_first_and_stay_put_when_notifications_arrive_meanwhile(
    store: NotifyStore,
) -> None:
    await store.inbox.deliver([note(n) for n in range(1, 8)] + [note(50, "p-other")])
    first = await store.inbox.page("p-chief", unread=False, limit=3)
    await store.inbox.deliver([note(8)])
    second = await store.inbox.page("p-chief", unread=False, limit=3, cursor=first.next)
    third = await store.inbox.page("p-chief", unread=False, limit=3, cursor=second.next)
    assert ids(first.notifications) == ["n0007", "n0006", "n0005"]
    assert ids(second.notifications) == ["n0004", "n0003", "n0002"]
    assert ids(third.notifications) == ["n0001"] and third.next is None
    newest = await store.inbox.page("p-chief", unread=False, limit=1)
    assert ids(newest.notifications) == ["n0008"]


async def test_another_persons_cursor_or_a_made_up_one_is_refused(store: NotifyStore) -> None:
    await store.inbox.deliver([note(n, "p-other") for n in range(1, 4)])
    theirs = await store.inbox.page("p-other", unread=False, limit=1)
    for cursor in (theirs.next, "not-a-cursor!"):
        assert cursor is not None
        with pytest.raises(BadCursor):
            await store.inbox.page("p-chief", unread=False, limit=1, cursor=cursor)


async def test_marking_read_drops_it_from_unread_and_the_first_read_time_stays(
    store: NotifyStore,
) -> None:
    await store.inbox.deliver([note(n) for n in range(1, 5)])
    read = await store.inbox.mark_read("n0003", "p-chief", T0 + timedelta(hours=1))
    again = await store.inbox.mark_read("n0003", "p-chief", T0 + timedelta(hours=2))
    assert read is not None and again is not None
    assert read.read_at == again.read_at == T0 + timedelta(hours=1)
    unread = await store.inbox.page("p-chief", unread=True, limit=10)
    assert ids(unread.notifications) == ["n0004", "n0002", "n0001"]
    everything = (await store.inbox.page("p-chief", unread=False, limit=10)).notifications
    assert next(n for n in everything if n.id == "n0003").read_at == T0 + timedelta(hours=1)
    assert await store.inbox.mark_read("n0003", "p-other", T0) is None
    assert await store.inbox.mark_read("missing", "p-chief", T0) is None


async def test_changes_reach_the_subjects_notifications_created_before_them_once_per_event(
    store: NotifyStore,
) -> None:
    first, later = note(1, subject="inc"), note(2, "p-other", subject="inc")
    at = T0 + timedelta(hours=1)
    update = Updated("ev-merge", {"event_id": "ev-merge", "reports": 2}, {"reports": 2}, at)
    await store.inbox.record([("inc", Created((first.id,)))], opened={"inc"})
    await store.inbox.deliver([first])
    await store.inbox.record([("inc", update), ("inc", update)])  # a redelivered event
    await store.inbox.record([("inc", Created((later.id,)))])
    await store.inbox.deliver([later])
    ack_at = at + timedelta(minutes=5)
    await store.inbox.record(
        [
            ("inc", Acknowledged("vc-1", ack_at, ack_at, {"status": "acknowledged"})),
            ("inc", Acknowledged("vc-2", ack_at + timedelta(1), ack_at, {})),
            ("inc", FactsChanged({"severity": "major"}, ack_at)),
        ]
    )
    (mine,) = (await store.inbox.page("p-chief", unread=False, limit=5)).notifications
    assert mine.reports == 2 and len(mine.updates) == 1
    assert mine.acknowledged and mine.acknowledged_by == "vc-1"
    assert mine.acknowledged_at == ack_at and mine.updated_at == ack_at
    assert mine.facts == {
        "type": "fire",
        "reports": 2,
        "status": "acknowledged",
        "severity": "major",
    }
    (theirs,) = (await store.inbox.page("p-other", unread=False, limit=5)).notifications
    assert theirs.reports == 1 and theirs.updates == ()  # created after the merged report
    assert theirs.acknowledged_by == "vc-1"
    assert sorted(ids(await store.inbox.of_subject("inc"))) == ["n0001", "n0002"]


async def test_announced_notifications_are_remembered(store: NotifyStore) -> None:
    assert await store.inbox.announced_among(["a", "b"]) == set()
    await store.inbox.mark_announced(["a"], T0)
    await store.inbox.mark_announced(["a"], T0)
    assert await store.inbox.announced_among(["a", "b"]) == {"a"}


# ---- alerts ---------------------------------------------------------------------------------
def draft(event_id: str, district: str = DISTRICT, scope: tuple[str, ...] = ()) -> AlertDraft:
    return AlertDraft(
        event_id=event_id,
        event_type="incident.opened",
        kind="new_incident",
        subject_id=f"inc-{event_id}",
        incident_id=f"inc-{event_id}",
        level=0,
        type="fire",
        severity="general",
        status="reported",
        village=VILLAGE,
        township=VILLAGE[:9],
        district=district,
        lat=29.43,
        lon=108.65,
        at=T0,
        scope_units=scope or (VILLAGE, VILLAGE[:9], district),
        alarm=True,
        facts={"reports": 1},
    )


async def test_each_district_numbers_its_alerts_from_one_without_a_gap(store: NotifyStore) -> None:
    got = await store.alerts.append([draft("a"), draft("b"), draft("x", "500115")], at=T0)
    assert [(a.district, a.seq) for a in got] == [(DISTRICT, 1), (DISTRICT, 2), ("500115", 1)]
    more = await store.alerts.append([draft("c")], at=T0)
    assert more[0].seq == 3 and more[0].stored_at == T0
    assert await store.alerts.highest(DISTRICT) == 3
    assert await store.alerts.highest("500116") == 0


async def test_a_redelivered_event_gets_its_alert_back_not_a_new_number(
    store: NotifyStore,
) -> None:
    (first,) = await store.alerts.append([draft("a")], at=T0)
    again = await store.alerts.append([draft("a"), draft("b")], at=T0 + timedelta(1))
    assert again[0] == first
    assert again[1].seq == 2
    assert await store.alerts.highest(DISTRICT) == 2


async def test_alerts_read_by_number_after_a_number_and_newest_in_a_units_scope(
    store: NotifyStore,
) -> None:
    other = ("500114002001", "500114002", DISTRICT)
    await store.alerts.append(
        [draft("a"), draft("b", scope=other), draft("c"), draft("d", scope=other)], at=T0
    )
    at2 = await store.alerts.at(DISTRICT, 2)
    assert at2 is not None and at2.event_id == "b"
    assert await store.alerts.at(DISTRICT, 5) is None
    assert [a.seq for a in await store.alerts.after(DISTRICT, 1, limit=10)] == [2, 3, 4]
    assert [a.seq for a in await store.alerts.after(DISTRICT, 0, limit=2)] == [1, 2]
    assert [a.seq for a in await store.alerts.after(DISTRICT, 0, limit=9, unit=VILLAGE)] == [1, 3]
    assert [a.seq for a in await store.alerts.latest(DISTRICT, VILLAGE, limit=9)] == [3, 1]
    assert [a.seq for a in await store.alerts.latest(DISTRICT, DISTRICT, limit=2)] == [4, 3]


# ---- subscriptions --------------------------------------------------------------------------
def webhook(sid: str, unit: str = DISTRICT, *, active: bool = True, n: int = 0) -> Webhook:
    return Webhook(
        rule=Subscription(sid, "http://hq/hook", ("incident.opened",), 1, unit, ("fire",)),
        secret="s3cret",
        active=active,
        created_by="hq-1",
        created_at=T0 + timedelta(minutes=n),
    )


async def test_subscriptions_are_kept_with_their_secret_and_listed_by_unit_oldest_first(
    store: NotifyStore,
) -> None:
    await store.subscriptions.add(webhook("s2", n=2))
    await store.subscriptions.add(webhook("s1", n=1))
    await store.subscriptions.add(webhook("s3", "500115", n=3, active=False))
    assert await store.subscriptions.get("s1") == webhook("s1", n=1)
    assert await store.subscriptions.get("nope") is None
    assert sorted(w.id for w in await store.subscriptions.active()) == ["s1", "s2"]
    listed = await store.subscriptions.in_units([DISTRICT, "500115"])
    assert [w.id for w in listed] == ["s1", "s2", "s3"]


async def test_a_subscription_is_disabled_given_a_new_secret_and_removed(
    store: NotifyStore,
) -> None:
    await store.subscriptions.add(webhook("s1", n=1))
    assert [w.id for w in await store.subscriptions.active()] == ["s1"]
    off = await store.subscriptions.update("s1", active=False)
    assert off is not None and not off.active and off.secret == "s3cret"
    assert await store.subscriptions.active() == []
    rotated = await store.subscriptions.update("s1", secret="n3w")
    assert rotated is not None and rotated.secret == "n3w" and not rotated.active
    assert await store.subscriptions.get("s1") == rotated
    assert await store.subscriptions.update("nope", active=True) is None
    assert await store.subscriptions.remove("s1") is True
    assert await store.subscriptions.get("s1") is None
    assert await store.subscriptions.remove("s1") is False


# ---- deliveries -----------------------------------------------------------------------------
def delivery(did: str, seq: int, sub: str = "s1", prev: str | None = None) -> Delivery:
    return Delivery(
        id=did,
        subscription_id=sub,
        event_id=f"ev-{did}",
        event_type="incident.opened",
        subject_id="inc",
        order_key=f"{sub}|inc",
        seq=seq,
        prev=prev,
        created_at=T0,
        body=f'{{"delivery_id": "{did}"}}',
    )


def a_try(did: str, attempt: int, outcome: str = FAILED) -> Try:
    at = T0 + timedelta(seconds=attempt)
    return Try(
        delivery_id=did,
        subscription_id="s1",
        attempt=attempt,
        at=at,
        finished_at=at,
        ok=outcome == DELIVERED,
        outcome=outcome,
        status_code=204 if outcome == DELIVERED else 500,
        error=None if outcome == DELIVERED else "HTTP 500",
        duration_ms=1.5,
        next_try_at=at + timedelta(seconds=10) if outcome == FAILED else None,
    )


async def test_a_delivery_stored_twice_is_stored_once_and_open_until_closed(
    store: NotifyStore,
) -> None:
    assert await store.deliveries.add([delivery("d1", 1), delivery("d2", 2, prev="d1")]) == set()
    assert await store.deliveries.add([delivery("d1", 1)]) == {"d1"}
    assert await store.deliveries.get("d2") == delivery("d2", 2, prev="d1")
    heads = sorted(await store.deliveries.open(), key=lambda d: d.id)
    assert heads == [
        replace(delivery("d1", 1), body=None),
        replace(delivery("d2", 2, prev="d1"), body=None),
    ]
    await store.deliveries.close(["d1"])
    assert [d.id for d in await store.deliveries.open()] == ["d2"]


async def test_a_try_is_claimed_once_recorded_once_and_an_outcome_kept_once(
    store: NotifyStore,
) -> None:
    await store.deliveries.add([delivery("d1", 1)])
    lease = T0 + timedelta(minutes=1)
    assert await store.deliveries.claim_try("d1", 1, token="a", at=T0, lease_until=lease)
    assert not await store.deliveries.claim_try("d1", 1, token="b", at=T0, lease_until=lease)
    claim = await store.deliveries.claim_of("d1", 1)
    assert claim is not None and claim.token == "a" and claim.lease_until == lease
    assert await store.deliveries.claim_of("d1", 2) is None
    assert await store.deliveries.record_try(a_try("d1", 2, DELIVERED))
    assert await store.deliveries.record_try(a_try("d1", 1))
    assert not await store.deliveries.record_try(a_try("d1", 1, DELIVERED))
    assert await store.deliveries.try_of("d1", 1) == a_try("d1", 1)
    assert [t.attempt for t in await store.deliveries.tries_of("d1")] == [1, 2]
    done = Outcome("d1", "s1", DELIVERED, T0, 2, None, 204)
    assert await store.deliveries.record_outcome(done)
    assert not await store.deliveries.record_outcome(replace(done, status=DEAD))
    assert await store.deliveries.outcome("d1") == done
    assert await store.deliveries.outcomes_of(["d1", "d2"]) == {"d1": done}
    await store.deliveries.mark_announced("d1", T0)
    assert await store.deliveries.announced_among(["d1", "d2"]) == {"d1"}


async def test_order_heads_name_each_keys_latest_delivery(store: NotifyStore) -> None:
    assert await store.deliveries.order_heads(["s1|inc"]) == {}
    await store.deliveries.set_order_heads({"s1|inc": (1, "d1")})
    await store.deliveries.set_order_heads({"s1|inc": (2, "d2"), "s1|other": (1, "d9")})
    assert await store.deliveries.order_heads(["s1|inc", "s1|none"]) == {"s1|inc": (2, "d2")}


async def test_the_log_pages_newest_alert_first_with_each_deliverys_state(
    store: NotifyStore,
) -> None:
    await store.deliveries.add([delivery(f"d{n}", n) for n in range(1, 5)])
    await store.deliveries.add([delivery("x1", 9, sub="s2")])
    await store.deliveries.record_try(a_try("d4", 1))
    await store.deliveries.record_try(a_try("d4", 2, DELIVERED))
    await store.deliveries.record_outcome(Outcome("d4", "s1", DELIVERED, T0, 2, None, 204))
    await store.deliveries.record_try(a_try("d3", 1))
    first = await store.deliveries.log("s1", limit=2)
    assert [s.delivery.id for s in first.deliveries] == ["d4", "d3"]
    done, waiting = first.deliveries
    assert done.status == DELIVERED and done.attempts == 2 and done.delivered_at == T0
    assert waiting.status == PENDING and waiting.next_try_at == a_try("d3", 1).next_try_at
    assert waiting.last_error == "HTTP 500" and waiting.delivery.body is None
    rest = await store.deliveries.log("s1", limit=2, cursor=first.next)
    assert [s.delivery.id for s in rest.deliveries] == ["d2", "d1"] and rest.next is None
    assert rest.deliveries[0].next_try_at == T0  # never tried: due since it was made
    with pytest.raises(BadCursor):
        await store.deliveries.log("s2", limit=2, cursor=first.next)
