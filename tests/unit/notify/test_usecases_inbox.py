"""The inbox use cases on the fake store: a page of one's own notifications, marking one read."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.notify.usecases import inbox
from shared.errors import InvalidInput, NotFound
from tests.unit.notify.usecase_support import CHAIN, ORG, Notify, opened, snapshot


async def test_marking_read_removes_it_from_unread_and_keeps_the_first_read_time() -> None:
    n = Notify()
    await n.chain.handle([opened(snapshot()), opened(snapshot())])
    chief = ORG.person(CHAIN[0])
    assert chief is not None
    unread = await inbox.page(inbox=n.store.inbox, person=chief, unread=True, limit=10, cursor=None)
    newest = unread.notifications[0]

    read = await inbox.mark_read(
        inbox=n.store.inbox, person=chief, notification_id=newest.id, clock=n.clock
    )
    n.advance(60)
    again = await inbox.mark_read(
        inbox=n.store.inbox, person=chief, notification_id=newest.id, clock=n.clock
    )

    assert read.read_at == again.read_at == n.clock.now() - timedelta(seconds=60)
    left = await inbox.page(inbox=n.store.inbox, person=chief, unread=True, limit=10, cursor=None)
    assert [x.id for x in left.notifications] == [unread.notifications[1].id]


async def test_another_persons_notification_is_not_found_and_their_cursor_is_refused() -> None:
    n = Notify()
    await n.chain.handle([opened(snapshot()), opened(snapshot())])
    chief, supervisor = ORG.person(CHAIN[0]), ORG.person(CHAIN[1])
    assert chief is not None and supervisor is not None
    theirs = await inbox.page(
        inbox=n.store.inbox, person=supervisor, unread=False, limit=1, cursor=None
    )
    with pytest.raises(NotFound):
        await inbox.mark_read(
            inbox=n.store.inbox,
            person=chief,
            notification_id=theirs.notifications[0].id,
            clock=n.clock,
        )
    with pytest.raises(InvalidInput) as refused:
        await inbox.page(
            inbox=n.store.inbox, person=chief, unread=False, limit=1, cursor=theirs.next
        )
    assert refused.value.field == "cursor"
