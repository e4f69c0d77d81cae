"""A person's inbox on the real store, read from its keyed copies: pages newest first that do not
shift when notifications arrive meanwhile, unread pages that lose what was read, one entry per
notification however often its event is delivered, and a crash between the writes mended by the
redelivery."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from services.notify.repository import INDEXES, NOTIFICATIONS, NotifyRepository
from services.notify.repository.inbox import ENTRIES, UNREAD
from services.notify.settings import NotifySettings
from shared import db as dbmod
from shared.cursors import BadCursor
from shared.db import Document

T0 = datetime(2026, 4, 1, 8, 0, tzinfo=UTC)


def note(n: int, recipient: str = "p-chief", *, at: datetime | None = None) -> Document:
    return {
        "_id": f"n{n:04d}",
        "key": f"inc-{n}|{recipient}|opened|1",
        "subject_id": f"inc-{n}",
        "incident_id": f"inc-{n}",
        "recipient_id": recipient,
        "kind": "opened",
        "level": 1,
        "facts": {"type": "fire"},
        "reports": 1,
        "updates": [],
        "update_event_ids": [],
        "created_at": at or T0 + timedelta(minutes=n),
        "updated_at": at or T0 + timedelta(minutes=n),
        "read_at": None,
        "acknowledged": False,
        "event_id": f"ev-{n}",
    }


@pytest.fixture
async def store(
    settings_for: Callable[..., NotifySettings],
) -> AsyncIterator[tuple[NotifyRepository, AsyncDatabase[Document]]]:
    settings = settings_for(NotifySettings)
    client = dbmod.connect(settings)
    try:
        db = dbmod.database(client, settings)
        await dbmod.ensure_indexes(db, INDEXES)
        yield NotifyRepository(db), db
    finally:
        await client.drop_database(settings.database_name)
        await client.close()


def ids(docs: list[Document]) -> list[str]:
    return [str(d["_id"]) for d in docs]


async def test_pages_run_newest_first_and_stay_put_when_notifications_arrive_meanwhile(
    store: tuple[NotifyRepository, AsyncDatabase[Document]],
) -> None:
    repo, _ = store
    await repo.insert_notifications([note(n) for n in range(1, 8)])
    await repo.insert_notifications([note(50, "p-other")])  # someone else's

    first = await repo.inbox("p-chief", unread=False, limit=3)
    assert ids(first.notifications) == ["n0007", "n0006", "n0005"]
    await repo.insert_notifications([note(8)])  # arrives while the chief pages on
    second = await repo.inbox("p-chief", unread=False, limit=3, cursor=first.next)
    third = await repo.inbox("p-chief", unread=False, limit=3, cursor=second.next)

    assert ids(second.notifications) == ["n0004", "n0003", "n0002"]
    assert ids(third.notifications) == ["n0001"] and third.next is None
    assert ids((await repo.inbox("p-chief", unread=False, limit=1)).notifications) == ["n0008"]


async def test_a_read_notification_leaves_the_unread_pages_and_shows_read_in_the_inbox(
    store: tuple[NotifyRepository, AsyncDatabase[Document]],
) -> None:
    repo, _ = store
    await repo.insert_notifications([note(n) for n in range(1, 5)])

    read = await repo.mark_read("n0003", "p-chief", T0 + timedelta(hours=1))
    again = await repo.mark_read("n0003", "p-chief", T0 + timedelta(hours=2))

    assert read is not None and again is not None
    assert again["read_at"] == read["read_at"]  # the first read time stays
    unread = await repo.inbox("p-chief", unread=True, limit=10)
    assert ids(unread.notifications) == ["n0004", "n0002", "n0001"]
    everything = (await repo.inbox("p-chief", unread=False, limit=10)).notifications
    assert [d["read_at"] is not None for d in everything] == [False, True, False, False]
    assert await repo.mark_read("n0003", "p-other", T0) is None  # not theirs


async def test_a_redelivered_event_and_a_crash_between_the_writes_leave_one_entry_each(
    store: tuple[NotifyRepository, AsyncDatabase[Document]],
) -> None:
    repo, db = store
    await repo.insert_notifications([note(1)])
    # the process died after storing n0002 and before its copies: the event comes again later,
    # with a later processing time
    await db[NOTIFICATIONS].insert_one(note(2))
    later = [note(1, at=T0 + timedelta(days=1)), note(2, at=T0 + timedelta(days=1))]

    existed = await repo.insert_notifications(later)

    assert existed == {"n0001", "n0002"}
    assert await db[ENTRIES].count_documents({}) == 2
    assert await db[UNREAD].count_documents({}) == 2
    page = await repo.inbox("p-chief", unread=False, limit=10)
    assert ids(page.notifications) == ["n0002", "n0001"]
    assert [d["created_at"] for d in page.notifications] == [
        T0 + timedelta(minutes=2),
        T0 + timedelta(minutes=1),
    ]


async def test_a_cursor_from_another_inbox_or_made_up_is_refused(
    store: tuple[NotifyRepository, AsyncDatabase[Document]],
) -> None:
    repo, _ = store
    await repo.insert_notifications([note(n, "p-other") for n in range(1, 4)])
    theirs = await repo.inbox("p-other", unread=False, limit=1)
    assert theirs.next is not None

    for cursor in (theirs.next, "not-a-cursor!", "cC1jaGllZg"):
        with pytest.raises(BadCursor):
            await repo.inbox("p-chief", unread=False, limit=1, cursor=cursor)
