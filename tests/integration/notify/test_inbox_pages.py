"""A person's inbox on the real store, read from its keyed copies: a crash between storing a
notification and copying it is mended by the redelivery, with one entry per notification and
its first creation time. (Paging, cursors and marking read are the port's contract, held to
both implementations in tests/contract/test_notify_store.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from services.notify.domain.notifications import Notification
from services.notify.repository import COLLECTIONS
from services.notify.repository.inbox import ENTRIES, NOTIFICATIONS, UNREAD, MongoInbox, to_doc
from services.notify.settings import NotifySettings
from shared import db as dbmod
from shared.db import Document

T0 = datetime(2026, 4, 1, 8, 0, tzinfo=UTC)


def note(n: int, recipient: str = "p-chief") -> Notification:
    at = T0 + timedelta(minutes=n)
    return Notification(
        id=f"n{n:04d}",
        key=f"inc-{n}|{recipient}|new_incident|1",
        subject_id=f"inc-{n}",
        incident_id=f"inc-{n}",
        recipient_id=recipient,
        role="village_chief",
        unit="500114001001",
        reason="village chain",
        kind="new_incident",
        level=1,
        facts={"type": "fire"},
        reports=1,
        created_at=at,
        updated_at=at,
        event_id=f"ev-{n}",
    )


@pytest.fixture
async def store(
    settings_for: Callable[..., NotifySettings],
) -> AsyncIterator[tuple[MongoInbox, AsyncDatabase[Document]]]:
    settings = settings_for(NotifySettings)
    client = dbmod.connect(settings)
    try:
        db = dbmod.database(client, settings)
        await dbmod.ensure_indexes(db, COLLECTIONS)
        yield MongoInbox(db), db
    finally:
        await client.drop_database(settings.database_name)
        await client.close()


async def test_a_redelivered_event_and_a_crash_between_the_writes_leave_one_entry_each(
    store: tuple[MongoInbox, AsyncDatabase[Document]],
) -> None:
    inbox, db = store
    await inbox.deliver([note(1)])
    # the process died after storing n0002 and before its copies: the event comes again later,
    # with a later processing time
    await db[NOTIFICATIONS].insert_one(to_doc(note(2)))
    later = [replace(n, created_at=T0 + timedelta(days=1)) for n in (note(1), note(2))]

    existed = await inbox.deliver(later)

    assert existed == {"n0001", "n0002"}
    assert await db[ENTRIES].count_documents({}) == 2
    assert await db[UNREAD].count_documents({}) == 2
    page = await inbox.page("p-chief", unread=False, limit=10)
    assert [n.id for n in page.notifications] == ["n0002", "n0001"]
    assert [n.created_at for n in page.notifications] == [
        T0 + timedelta(minutes=2),
        T0 + timedelta(minutes=1),
    ]


async def test_a_read_notification_read_again_mends_copies_a_crash_left_behind(
    store: tuple[MongoInbox, AsyncDatabase[Document]],
) -> None:
    inbox, db = store
    await inbox.deliver([note(1)])
    await db[NOTIFICATIONS].update_one({"_id": "n0001"}, {"$set": {"read_at": T0}})  # died here

    read = await inbox.mark_read("n0001", "p-chief", T0 + timedelta(hours=1))

    assert read is not None and read.read_at == T0
    assert (await inbox.page("p-chief", unread=True, limit=10)).notifications == []
    (entry,) = (await inbox.page("p-chief", unread=False, limit=10)).notifications
    assert entry.read_at == T0
