"""People's notifications on MongoDB (FerretDB v1 locally): each stored once by id, copied into
keyed read models for the pages, changed only through the subjects' change logs (`changes.py`).

Each notification is copied, under the key `<recipient>|<created at>|<notification id>`, into
`inbox_entries` (every notification a person got) and `inbox_unread` (until they read it). A page
is one `_id` range of the person's keys, newest first, from the cursor down: MongoDB serves it from
its `_id` index, the local store from patch 0005 (docs/scaling.md §6).

The copies are written after the notification, from what was stored: a notification that existed
already (a redelivered event, another replica first) is read back and its copies written with its
own creation time, so a crash between the writes is mended by the redelivery and never makes a
second entry. Marking read takes the copy out of `inbox_unread` and sets `read_at` on the others,
each by exact `_id`; done again, it does the same. Never decides who hears what.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from services.notify.domain.notifications import Change, Created, Notification, fold_changes
from services.notify.repository.changes import ChangeLogs
from services.notify.repository.writes import insert_many_new
from services.notify.store import InboxPage
from shared.cursors import decode_cursor, encode_cursor, sort_time
from shared.db import Document, insert_new

NOTIFICATIONS = "notifications"
ENTRIES = "inbox_entries"  # every notification a person got, keyed by `inbox_key`
UNREAD = "inbox_unread"  # the ones not read yet, same keys
PUBLISHED = "notifications_published"  # one marker per notification announced on Kafka
SEPARATOR = "|"
AFTER_SEPARATOR = chr(ord(SEPARATOR) + 1)  # "}": above every key of the person, below the next


def inbox_key(recipient_id: str, created_at: datetime, notification_id: str) -> str:
    """Sorts a person's notifications by creation time, then id (fixed width, UTC). To the
    millisecond, as BSON keeps it: the time read back from the store gives the same key."""
    return SEPARATOR.join((recipient_id, sort_time(created_at), notification_id))


def to_doc(n: Notification) -> Document:
    return {
        "_id": n.id,
        "key": n.key,
        "subject_id": n.subject_id,
        "incident_id": n.incident_id,
        "recipient_id": n.recipient_id,
        "role": n.role,
        "unit": n.unit,
        "reason": n.reason,
        "kind": n.kind,
        "level": n.level,
        "facts": dict(n.facts),
        "reports": n.reports,
        "updates": [dict(u) for u in n.updates],
        "update_event_ids": list(n.update_event_ids),
        "created_at": n.created_at,
        "updated_at": n.updated_at,
        "read_at": n.read_at,
        "acknowledged": n.acknowledged,
        "acknowledged_at": n.acknowledged_at,
        "acknowledged_by": n.acknowledged_by,
        "event_id": n.event_id,
    }


def from_doc(doc: Mapping[str, Any]) -> Notification:
    return Notification(
        id=str(doc["_id"]),
        key=doc["key"],
        subject_id=doc["subject_id"],
        incident_id=doc["incident_id"],
        recipient_id=doc["recipient_id"],
        role=doc["role"],
        unit=doc["unit"],
        reason=doc["reason"],
        kind=doc["kind"],
        level=int(doc["level"]),
        facts=doc["facts"],
        reports=int(doc["reports"]),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        event_id=doc["event_id"],
        updates=tuple(doc["updates"]),
        update_event_ids=tuple(doc["update_event_ids"]),
        read_at=doc["read_at"],
        acknowledged=bool(doc["acknowledged"]),
        acknowledged_at=doc["acknowledged_at"],
        acknowledged_by=doc["acknowledged_by"],
    )


def key_of(doc: Mapping[str, Any]) -> str:
    return inbox_key(str(doc["recipient_id"]), doc["created_at"], str(doc["_id"]))


def page_query(recipient_id: str, before: str | None) -> Document:
    """The person's keys, below `before` when a page was read already."""
    upper = before if before is not None else recipient_id + AFTER_SEPARATOR
    return {"_id": {"$gte": recipient_id + SEPARATOR, "$lt": upper}}


def as_copy(doc: Mapping[str, Any]) -> Document:
    return {**doc, "_id": key_of(doc), "notification_id": doc["_id"]}


def from_copy(copy: Mapping[str, Any]) -> Document:
    out = {k: v for k, v in copy.items() if k != "notification_id"}
    out["_id"] = copy["notification_id"]
    return out


class MongoInbox:
    """The `Inbox` port (store.py) on MongoDB."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db
        self.changes = ChangeLogs(db)

    async def deliver(self, notifications: Sequence[Notification]) -> set[str]:
        """One write for many notifications, then their copies. The caller records each
        subject's `Created` entry at the same time: the log may name one not stored yet (the
        redelivered event stores it), never the other way for long."""
        unique = list({n.id: to_doc(n) for n in notifications}.values())
        existed = await insert_many_new(self.db[NOTIFICATIONS], unique)
        stored_before = await asyncio.gather(
            *(self.db[NOTIFICATIONS].find_one({"_id": i}) for i in sorted(existed))
        )
        await self._copy(
            [d for d in unique if d["_id"] not in existed]
            + [d for d in stored_before if d is not None]
        )
        return existed

    async def _copy(self, docs: Sequence[Document]) -> None:
        copies = [as_copy(d) for d in docs]
        if not copies:
            return
        await insert_new(self.db[ENTRIES], copies)
        unread = [c for c in copies if c.get("read_at") is None]
        if unread:
            await insert_new(self.db[UNREAD], unread)

    async def record(
        self, changes: Sequence[tuple[str, Change]], *, opened: Collection[str] = ()
    ) -> None:
        await self.changes.append(changes, new=opened)

    async def page(
        self, person_id: str, *, unread: bool, limit: int, cursor: str | None = None
    ) -> InboxPage:
        before = decode_cursor(cursor, person_id + SEPARATOR) if cursor else None
        found = (
            self.db[UNREAD if unread else ENTRIES]
            .find(page_query(person_id, before))
            .sort("_id", DESCENDING)
            .limit(limit + 1)
        )
        copies = [d async for d in found]
        more = len(copies) > limit
        copies = copies[:limit]
        nxt = encode_cursor(str(copies[-1]["_id"])) if more and copies else None
        return InboxPage(await self._as_they_stand([from_copy(c) for c in copies]), nxt)

    async def mark_read(
        self, notification_id: str, person_id: str, at: datetime
    ) -> Notification | None:
        """A person's click, not the event path: the update's scan on the local store is
        affordable here. The copies are mended again when asked again."""
        doc = await self.db[NOTIFICATIONS].find_one({"_id": notification_id})
        if doc is None or doc.get("recipient_id") != person_id:
            return None
        if doc.get("read_at") is None:
            await self.db[NOTIFICATIONS].update_one(
                {"_id": notification_id}, {"$set": {"read_at": at}}
            )
            doc["read_at"] = at
        key = key_of(doc)
        await asyncio.gather(
            self.db[UNREAD].delete_one({"_id": key}),
            self.db[ENTRIES].update_one({"_id": key}, {"$set": {"read_at": doc["read_at"]}}),
        )
        return (await self._as_they_stand([doc]))[0]

    async def of_subject(self, subject_id: str) -> list[Notification]:
        log = await self.changes.of(subject_id)
        ids = [i for c in log if isinstance(c, Created) for i in c.ids]
        found = await asyncio.gather(
            *(self.db[NOTIFICATIONS].find_one({"_id": i}) for i in dict.fromkeys(ids))
        )
        return await self._as_they_stand([d for d in found if d is not None])

    async def _as_they_stand(self, docs: Sequence[Document]) -> list[Notification]:
        subjects = sorted({str(d["subject_id"]) for d in docs})
        logs = dict(
            zip(subjects, await asyncio.gather(*map(self.changes.of, subjects)), strict=True)
        )
        return [fold_changes(from_doc(d), logs[str(d["subject_id"])]) for d in docs]

    async def announced_among(self, ids: Collection[str]) -> set[str]:
        """One read by exact `_id` each (`$in` would scan the markers on the local store)."""
        found = await asyncio.gather(
            *(self.db[PUBLISHED].find_one({"_id": i}, {"_id": 1}) for i in dict.fromkeys(ids))
        )
        return {str(d["_id"]) for d in found if d is not None}

    async def mark_announced(self, ids: Collection[str], at: datetime) -> None:
        """Markers, inserted (an update would scan the notifications on the local store)."""
        await insert_many_new(
            self.db[PUBLISHED], [{"_id": i, "at": at} for i in dict.fromkeys(ids)]
        )
