"""A person's inbox as read models keyed by `_id`, so a page costs the page, not the history.

Each notification is copied, under the key `<recipient>|<created at>|<notification id>`, into
`inbox_entries` (every notification a person got) and `inbox_unread` (until they read it). A page
is one `_id` range of the person's keys, newest first, from the cursor down: MongoDB serves it from
its `_id` index, the local store from patch 0005 (docs/scaling.md §6). The notification itself,
by id, stays in `notifications` for lookups by id.

The copies are written after the notification, from what was stored: a notification that existed
already (a redelivered event, another replica first) is read back and its copies written with its
own creation time, so a crash between the writes is mended by the redelivery and never makes a
second entry. Marking read takes the copy out of `inbox_unread` and sets `read_at` on both others,
each by exact `_id`; done again, it does the same.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from shared.cursors import decode_cursor, encode_cursor, sort_time
from shared.db import Document, insert_new

ENTRIES = "inbox_entries"  # every notification a person got, keyed by `inbox_key`
UNREAD = "inbox_unread"  # the ones not read yet, same keys
SEPARATOR = "|"
AFTER_SEPARATOR = chr(ord(SEPARATOR) + 1)  # "}": above every key of the person, below the next


def inbox_key(recipient_id: str, created_at: datetime, notification_id: str) -> str:
    """Sorts a person's notifications by creation time, then id (fixed width, UTC). To the
    millisecond, as BSON keeps it: the time read back from the store gives the same key."""
    return SEPARATOR.join((recipient_id, sort_time(created_at), notification_id))


def key_of(notification: Document) -> str:
    return inbox_key(
        str(notification["recipient_id"]), notification["created_at"], str(notification["_id"])
    )


def page_query(recipient_id: str, before: str | None) -> Document:
    """The person's keys, below `before` when a page was read already."""
    upper = before if before is not None else recipient_id + AFTER_SEPARATOR
    return {"_id": {"$gte": recipient_id + SEPARATOR, "$lt": upper}}


def as_copy(notification: Document) -> Document:
    return {**notification, "_id": key_of(notification), "notification_id": notification["_id"]}


def from_copy(copy: Document) -> Document:
    out = {k: v for k, v in copy.items() if k != "notification_id"}
    out["_id"] = copy["notification_id"]
    return out


@dataclass(frozen=True)
class InboxPage:
    notifications: list[Document]  # as stored, newest first (not folded with their changes)
    next: str | None  # the cursor of the next page, None on the last


class InboxEntries:
    """The two keyed copies of a person's notifications (see the module)."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db

    async def add(self, notifications: Sequence[Document]) -> None:
        """Copies stored notifications into their recipients' inboxes (new copies only)."""
        copies = [as_copy(n) for n in notifications]
        if not copies:
            return
        await insert_new(self.db[ENTRIES], copies)
        unread = [c for c in copies if c.get("read_at") is None]
        if unread:
            await insert_new(self.db[UNREAD], unread)

    async def page(
        self, recipient_id: str, *, unread: bool, limit: int, cursor: str | None
    ) -> InboxPage:
        before = decode_cursor(cursor, recipient_id + SEPARATOR) if cursor else None
        found = (
            self.db[UNREAD if unread else ENTRIES]
            .find(page_query(recipient_id, before))
            .sort("_id", DESCENDING)
            .limit(limit + 1)
        )
        copies = [d async for d in found]
        more = len(copies) > limit
        copies = copies[:limit]
        nxt = encode_cursor(str(copies[-1]["_id"])) if more and copies else None
        return InboxPage([from_copy(c) for c in copies], nxt)

    async def mark_read(self, notification: Document) -> None:
        """Carries the notification's (first) read time to its copies."""
        key = key_of(notification)
        await asyncio.gather(
            self.db[UNREAD].delete_one({"_id": key}),
            self.db[ENTRIES].update_one(
                {"_id": key}, {"$set": {"read_at": notification["read_at"]}}
            ),
        )
