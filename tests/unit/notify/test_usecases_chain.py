"""Chain notifications on the fakes: an incident event reaches the chain's inboxes, the district's
alert sequence, the live stream and the announcements once, however often it is delivered."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.fakes.publisher import PublishFailed
from tests.unit.notify.usecase_support import (
    CHAIN,
    DISTRICT,
    T0,
    Notify,
    acknowledged,
    merged,
    opened,
    snapshot,
)


async def inbox_of(n: Notify, person: str, incident_id: str) -> list[object]:
    page = await n.store.inbox.page(person, unread=False, limit=100)
    return [x for x in page.notifications if x.incident_id == incident_id]


async def test_an_opened_incident_reaches_the_village_chain_once_each_when_redelivered() -> None:
    n = Notify()
    snap = snapshot()
    event = opened(snap)

    await n.chain.handle([event])
    await n.chain.handle([event])  # redelivered

    for person in CHAIN:
        assert len(await inbox_of(n, person, snap.id)) == 1, person
    announced = n.publisher.of_type("notification.created")
    assert sorted(e.data.recipient_id for e in announced) == sorted(CHAIN)  # type: ignore[attr-defined]


async def test_a_fire_gets_the_next_alert_number_of_its_district_and_a_redelivery_keeps_it() -> (
    None
):
    n = Notify()
    first, second = opened(snapshot()), opened(snapshot())

    await n.chain.handle([first])
    await n.chain.handle([second, first])

    assert await n.store.alerts.highest(DISTRICT) == 2
    numbers = {a.event_id: a.seq for a in await n.store.alerts.after(DISTRICT, 0, limit=10)}
    assert numbers == {str(first.id): 1, str(second.id): 2}
    assert [a.seq for a in n.live] == [1, 2, 1]  # the stream drops a number seen before


async def test_a_merged_report_updates_the_notifications_sent_without_a_new_alarm() -> None:
    n = Notify()
    snap = snapshot(reports=1)
    await n.chain.handle([opened(snap)])
    announced = len(n.publisher.of_type("notification.created"))

    later = snap.model_copy(update={"report_ids": ("r0", "r1", "r2")})
    event = merged(later)
    await n.chain.handle([event])
    await n.chain.handle([event])  # redelivered: counted once

    (note,) = await inbox_of(n, CHAIN[0], snap.id)
    assert note.reports == 3 and len(note.updates) == 1  # type: ignore[attr-defined]
    assert len(n.publisher.of_type("notification.created")) == announced


async def test_an_acknowledgement_marks_all_the_incidents_notifications_first_one_stays() -> None:
    n = Notify()
    snap = snapshot()
    await n.chain.handle([opened(snap)])
    first_at = T0 + timedelta(minutes=3)

    await n.chain.handle([acknowledged(snap, CHAIN[0], first_at)])
    await n.chain.handle([acknowledged(snap, CHAIN[1], first_at + timedelta(minutes=1))])

    notes = await n.store.inbox.of_subject(snap.id)
    assert {x.recipient_id for x in notes} == set(CHAIN)
    assert all(x.acknowledged_by == CHAIN[0] and x.acknowledged_at == first_at for x in notes)


async def test_notifications_are_announced_only_once_stored_and_a_redelivery_announces() -> None:
    n = Notify()
    snap = snapshot()
    event = opened(snap)
    n.publisher.failing = True

    with pytest.raises(PublishFailed):
        await n.chain.handle([event])

    assert len(await inbox_of(n, CHAIN[0], snap.id)) == 1  # stored before the publish
    n.publisher.failing = False
    await n.chain.handle([event])
    await n.chain.handle([event])
    announced = n.publisher.of_type("notification.created")
    assert len(announced) == len(CHAIN) == len({e.data.notification_id for e in announced})  # type: ignore[attr-defined]
