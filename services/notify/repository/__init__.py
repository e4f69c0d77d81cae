"""The only module of the notify service that talks to MongoDB (FerretDB v1): notifications
(inboxes), stored alerts (the stream's source, with a per-district sequence), webhook subscriptions,
the webhook delivery outbox and its insert-only log of claims, tries and outcomes.

Every write is idempotent through a unique key; nothing here decides who hears what.

FerretDB v1 (SQLite) pushes down no filter but an exact `{_id: <string>}`: every other query scans
and decodes the whole collection. So the hot path (an incident event → alert + notifications) only
inserts (unique-index checks are SQLite's) and reads by exact `_id`: an alert's `_id` is its place
in the district's sequence (`alert_id`), the last number this process stored is kept in memory (a
number another replica took meanwhile is read past by exact `_id`), and notifications are written
in one `insert_many` per batch. Updates and deletes scan as well, even by exact `_id`, so the event
path never updates: what happens to existing notifications (a merged report, facts, an
acknowledgement) is appended to the subject's numbered change log and folded in when notifications
are read. A district's alerts are read as one `_id` range in number order (`alerts_numbered_after`:
the listing, a stream's catch-up, the highest number), which costs the page read, not the history.
A person's inbox is read from keyed copies the same way (`inbox.py`). Scans remain on other
rare paths (a redelivered event's alert, the delivery listing).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.notify.domain.deliveries import delivery_state
from services.notify.repository.inbox import ENTRIES as INBOX_ENTRIES
from services.notify.repository.inbox import UNREAD as INBOX_UNREAD
from services.notify.repository.inbox import InboxEntries, InboxPage
from shared.cursors import decode_cursor, encode_cursor
from shared.db import Document, insert_new, insert_once
from shared.locks import claim_once

NOTIFICATIONS = "notifications"
PUBLISHED = "notifications_published"  # one marker per notification announced on Kafka
CHANGES = "notification_changes"  # per subject, numbered: created / update / facts / ack
CHANGES_CACHED = 20_000  # subjects whose change log this process keeps in memory

CREATED = "created"
UPDATE = "update"
FACTS = "facts"
ACK = "ack"
ALERTS = "alerts"
CLAIMS = "webhook_claims"
WEBHOOKS = "webhooks"
DELIVERIES = "webhook_deliveries"  # inserted once, never updated
ATTEMPTS = "webhook_attempts"  # one record per try: `<delivery>:<try>`
OUTCOMES = "webhook_outcomes"  # one per delivery delivered or dead
ANNOUNCED = "webhook_deadletters_announced"  # one marker per dead delivery published
# order key (subscription + incident) → its latest delivery: the predecessor a replica that just
# took over the incident's partition must wait for, though it never held it in memory
HEADS = "webhook_order_heads"
# The deliveries not finished, and the dead ones not announced yet (each without its body): the
# sweep's work, which stays the size of what is in flight however long the log grows.
OPEN = "webhook_open"
# A subscription's delivery log by page: `<subscription>|<alert number>|<delivery id>`.
LOG = "webhook_log"
ID_LIST_MAX = 900  # ids in one `_id $in` (the local store pushes down at most 1000)
SUBSCRIPTIONS_TTL_S = 2.0  # the event path reads the subscriptions at most this often


INDEXES: dict[str, list[IndexModel]] = {
    NOTIFICATIONS: [
        IndexModel([("key", ASCENDING)], unique=True, name="one_per_subject_recipient_kind_level"),
        IndexModel([("subject_id", ASCENDING)], name="by_subject"),
        IndexModel([("event_id", ASCENDING), ("published", ASCENDING)], name="outbox"),
    ],
    ALERTS: [
        IndexModel([("event_id", ASCENDING)], unique=True, name="one_per_event"),
        IndexModel([("district", ASCENDING), ("seq", ASCENDING)], unique=True, name="sequence"),
    ],
    WEBHOOKS: [IndexModel([("unit", ASCENDING)], name="by_unit")],
    DELIVERIES: [
        IndexModel(
            [("subscription_id", ASCENDING), ("event_id", ASCENDING)],
            unique=True,
            name="one_per_subscription_event",
        ),
    ],
    ATTEMPTS: [
        IndexModel([("delivery_id", ASCENDING), ("attempt", ASCENDING)], unique=True, name="try"),
    ],
    # no index of their own: listed so start-up makes them, not the first event
    OPEN: [],
    LOG: [],  # read by `_id` range only
    PUBLISHED: [],
    INBOX_ENTRIES: [],  # read by `_id` range only (repository/inbox.py)
    INBOX_UNREAD: [],
    CHANGES: [],
    CLAIMS: [],
    OUTCOMES: [],
    ANNOUNCED: [],
    HEADS: [],
}


DUPLICATE_KEY = 11000
# FerretDB v1 (1.24, handler/msg_insert.go) inserts an ordered insert 100 documents at a time and,
# after a duplicate key in one hundred, goes on with the next: an ordered insert of more than this
# many documents may store some after the duplicate (measured: a duplicate at index 10 of 250
# stored 0-9 and 100-199). Sent in chunks of this size, an ordered insert stores a prefix.
ORDERED_CHUNK = 100
PROBES = 8  # alert numbers read at once (by exact `_id`) when looking for a district's highest


def change_id(subject_id: str, n: int) -> str:
    """The `_id` of entry number `n` of a subject's change log."""
    return f"{subject_id}:{n:06d}"


def fold_changes(doc: Document, entries: Sequence[Document]) -> Document:
    """A notification with what its subject's log says happened after it was created (pure).

    Entries before the notification's "created" entry are not its news; a notification stored
    before the log existed takes every entry. An event's update counts once (redelivery)."""
    out = {**doc, "facts": dict(doc.get("facts") or {}), "updates": list(doc.get("updates") or ())}
    seen = list(doc.get("update_event_ids") or ())
    start = next(
        (i + 1 for i, e in enumerate(entries) if e["op"] == CREATED and doc["_id"] in e["ids"]), 0
    )
    for e in entries[start:]:
        op = e["op"]
        if op == UPDATE:
            if e["event_id"] in seen:
                continue
            seen.append(e["event_id"])
            out["updates"].append(e["note"])
            out["reports"] = max(int(out.get("reports") or 0), int(e["note"].get("reports", 0)))
        elif op == ACK and not out.get("acknowledged"):
            out.update(
                acknowledged=True, acknowledged_at=e["acknowledged_at"], acknowledged_by=e["by"]
            )
        elif op not in (FACTS, ACK):
            continue
        out["facts"].update(e.get("facts") or {})
        out["updated_at"] = e["at"]
    out["update_event_ids"] = seen
    return out


def alert_id(district: str, seq: int) -> str:
    """The `_id` of a district's alert number `seq`: the tail reads the next one by exact id."""
    return f"{district}:{seq:012d}"


def alerts_numbered_after(district: str, seq: int = 0) -> Document:
    """The district's alerts numbered above `seq`, as one string range on `_id` (`alert_id`
    pads the number, so `_id` order is number order). Read sorted by `_id`, a page of it costs the
    page: MongoDB's `_id` index, and on the local store patch 0005 (docs/scaling.md §6). The
    district stays a condition too, so a code that is a prefix of another's never mixes in."""
    return {"_id": {"$gt": alert_id(district, seq), "$lt": f"{district};"}, "district": district}


def created_entry(ids: Sequence[str]) -> Document:
    """Change-log entry: these notifications of the subject were stored (they take what follows)."""
    return {"op": CREATED, "ids": list(ids)}


def update_entry(note: Mapping[str, Any], facts: Mapping[str, Any], now: datetime) -> Document:
    return {
        "op": UPDATE,
        "event_id": note["event_id"],
        "note": dict(note),
        "facts": dict(facts),
        "at": now,
    }


def facts_entry(facts: Mapping[str, Any], now: datetime) -> Document:
    return {"op": FACTS, "facts": dict(facts), "at": now}


def ack_entry(by: str, at: datetime, facts: Mapping[str, Any], now: datetime) -> Document:
    return {"op": ACK, "by": by, "acknowledged_at": at, "facts": dict(facts), "at": now}


async def insert_many_ordered(collection: Any, docs: Sequence[Document]) -> int:
    """Inserts the documents in order, stopping at the first duplicate key; returns how many were
    stored (a prefix of `docs`). One round trip per `ORDERED_CHUNK` documents (FerretDB keeps
    no larger ordered insert a prefix). Other errors raise."""
    stored = 0
    for start in range(0, len(docs), ORDERED_CHUNK):
        chunk = list(docs[start : start + ORDERED_CHUNK])
        try:
            await collection.insert_many(chunk, ordered=True)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if not errors or errors[0].get("code") != DUPLICATE_KEY:
                raise
            index = int(errors[0]["index"])
            if int(exc.details.get("nInserted", index)) != index:
                raise  # documents after the duplicate went in too: no prefix, never guess one
            return stored + index
        stored += len(chunk)
    return stored


def between(low: int, high: int, k: int) -> list[int]:
    """Up to `k` numbers strictly between `low` and `high`, evenly spread (all when they fit)."""
    if high - low - 1 <= k:
        return list(range(low + 1, high))
    return [low + j * (high - low) // (k + 1) for j in range(1, k + 1)]


async def insert_many_new(collection: Any, docs: Sequence[Document]) -> set[str]:
    """Inserts every document whose `_id` (or other unique key) is new, in one round trip;
    returns the `_id`s that were already there (a duplicate is success). Other errors raise."""
    if not docs:
        return set()
    return {str(d["_id"]) for d in docs} - {str(i) for i in await insert_new(collection, docs)}


class NotifyRepository:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db
        self._last_seq: dict[str, int] = {}  # district → the highest number known to be taken
        self._numbering = asyncio.Lock()  # this process numbers one alert at a time
        self._changes: OrderedDict[str, list[Document]] = OrderedDict()  # subject → its log
        self._active_subs: tuple[float, list[Document]] | None = None  # (read at, subscriptions)
        self.inboxes = InboxEntries(db)

    # ---- notifications (inboxes) -------------------------------------------------------------
    async def insert_notification(self, doc: Document) -> bool:
        """True when new; a notification with the same key already there is success."""
        return not await self.insert_notifications([doc])

    async def insert_notifications(self, docs: Sequence[Document]) -> set[str]:
        """One write for many notifications; returns the ids that already existed.

        The caller appends each subject's "created" entry naming them first (`append_changes`):
        a stored notification always has its place in the log, even if this process dies between
        the two writes (the log may then name one not stored yet; the redelivered event stores
        it)."""
        unique = list({d["_id"]: d for d in docs}.values())
        existed = await insert_many_new(self.db[NOTIFICATIONS], unique)
        stored_before = await asyncio.gather(
            *(self.db[NOTIFICATIONS].find_one({"_id": i}) for i in sorted(existed))
        )
        await self.inboxes.add(
            [d for d in unique if d["_id"] not in existed]
            + [d for d in stored_before if d is not None]
        )
        return existed

    async def published_among(self, ids: Sequence[str]) -> set[str]:
        """Which of these notifications were announced already (only asked for duplicates);
        one read by exact `_id` each (`$in` would scan the markers on FerretDB)."""
        found = await asyncio.gather(
            *(self.db[PUBLISHED].find_one({"_id": i}, {"_id": 1}) for i in dict.fromkeys(ids))
        )
        return {str(d["_id"]) for d in found if d is not None}

    async def mark_published(self, ids: Sequence[str], now: datetime | None = None) -> None:
        """Markers, inserted (an update would scan the notifications on FerretDB)."""
        await insert_many_new(
            self.db[PUBLISHED], [{"_id": i, "at": now} for i in dict.fromkeys(ids)]
        )

    # A notification is inserted once and never updated by the consumer: on FerretDB v1 every
    # update or delete scans the collection, even by exact `_id` (65 ms at 20k documents,
    # measured). What happens to a subject's notifications later (a merged report, new facts, an
    # acknowledgement) is appended to the subject's change log instead, numbered by `_id`
    # (`<subject>:000001`, ...), and folded into the notifications when they are read.
    async def add_update(
        self,
        subject_id: str,
        note: Mapping[str, Any],
        facts: Mapping[str, Any],
        now: datetime,
    ) -> None:
        """Adds a merged report / update to every notification of the subject, once per event."""
        await self.append_changes([(subject_id, update_entry(note, facts, now))])

    async def update_facts(self, subject_id: str, facts: Mapping[str, Any], now: datetime) -> None:
        if facts:
            await self.append_changes([(subject_id, facts_entry(facts, now))])

    async def acknowledge(
        self, subject_id: str, by: str, at: datetime, facts: Mapping[str, Any], now: datetime
    ) -> None:
        """Marks the subject's notifications acknowledged (the first acknowledgement stays) and
        gives them the new facts."""
        await self.append_changes([(subject_id, ack_entry(by, at, facts, now))])

    async def append_changes(
        self, entries: Sequence[tuple[str, Document]], *, new: Collection[str] = ()
    ) -> None:
        """Appends entries to their subjects' change logs in the given order, in one insert.

        A subject this process holds the log of, or one the caller says is `new` (its incident was
        just opened), is numbered without reading (its events come through one partition); a
        number another writer took meanwhile (or a redelivered opening) stops the ordered insert
        there, and the rest is appended one by one, each after reading on."""
        if not entries:
            return
        subjects = list(dict.fromkeys(s for s, _ in entries))
        unknown = [s for s in subjects if s not in self._changes and s not in new]
        logs = dict(zip(unknown, await asyncio.gather(*map(self.changes_of, unknown)), strict=True))
        for s in subjects:
            logs.setdefault(s, list(self._changes.get(s) or ()))
        counts = {s: len(log) for s, log in logs.items()}
        docs: list[Document] = []
        for s, entry in entries:
            counts[s] += 1
            docs.append({**entry, "_id": change_id(s, counts[s]), "subject": s})
        stored = await insert_many_ordered(self.db[CHANGES], docs)
        for doc in docs[:stored]:
            logs[doc["subject"]].append(doc)
        for s in subjects:
            self._remember(s, logs[s])
        for s, entry in entries[stored:]:
            await self._append(s, entry)

    async def changes_of(self, subject_id: str) -> list[Document]:
        """The subject's change log, oldest first: cached entries (they never change) plus the
        ones stored since, up to the first number missing: one `_id` range read (the numbers
        are padded, so `_id` order is number order; patch 0005 on the local store)."""
        entries = self._changes.get(subject_id)
        entries = list(entries) if entries is not None else []
        since = {"_id": {"$gt": change_id(subject_id, len(entries)), "$lt": f"{subject_id};"}}
        found = self.db[CHANGES].find(since).sort("_id", ASCENDING)
        async for doc in found:
            if doc["_id"] != change_id(subject_id, len(entries) + 1):
                break  # a number not stored yet (its writer is on the way): read on next time
            entries.append(doc)
        self._remember(subject_id, entries)
        return entries

    async def _append(self, subject_id: str, entry: Document, *, max_tries: int = 100) -> None:
        """Appends one entry with the subject's next number (a unique insert; a number taken by
        another writer makes us read on and take the next)."""
        for _ in range(max_tries):
            entries = await self.changes_of(subject_id)
            doc = {**entry, "_id": change_id(subject_id, len(entries) + 1), "subject": subject_id}
            try:
                await self.db[CHANGES].insert_one(doc)
            except DuplicateKeyError:
                continue
            self._remember(subject_id, [*entries, doc])
            return
        raise RuntimeError(f"could not append to the change log of {subject_id}")

    def _remember(self, subject_id: str, entries: list[Document]) -> None:
        known = self._changes.get(subject_id)
        if known is None or len(known) <= len(entries):  # a slower reader keeps the longer log
            self._changes[subject_id] = entries
        self._changes.move_to_end(subject_id)
        while len(self._changes) > CHANGES_CACHED:
            self._changes.popitem(last=False)

    async def _with_changes(self, docs: list[Document]) -> list[Document]:
        """The notifications as they stand: each folded with its subject's change log."""
        subjects = sorted({str(d["subject_id"]) for d in docs if d.get("subject_id") is not None})
        logs = dict(
            zip(subjects, await asyncio.gather(*map(self.changes_of, subjects)), strict=True)
        )
        return [fold_changes(d, logs.get(str(d.get("subject_id")), [])) for d in docs]

    async def inbox(
        self, recipient_id: str, *, unread: bool, limit: int, cursor: str | None = None
    ) -> InboxPage:
        """A page of the person's notifications (or unread ones), newest first, as they stand;
        from `cursor` (a page's `next`) on. BadCursor when the cursor is not theirs."""
        page = await self.inboxes.page(recipient_id, unread=unread, limit=limit, cursor=cursor)
        return InboxPage(await self._with_changes(page.notifications), page.next)

    async def mark_read(
        self, notification_id: str, recipient_id: str, now: datetime
    ) -> Document | None:
        """Marks one's own notification read (the first read time stays); None if not theirs.
        A person's click, not the event path: the update's scan is affordable here."""
        doc = await self.db[NOTIFICATIONS].find_one({"_id": notification_id})
        if doc is None or doc.get("recipient_id") != recipient_id:
            return None
        if doc.get("read_at") is None:
            await self.db[NOTIFICATIONS].update_one(
                {"_id": notification_id}, {"$set": {"read_at": now}}
            )
            doc["read_at"] = now
        await self.inboxes.mark_read(doc)  # again when asked again: mends a crash in between
        return (await self._with_changes([doc]))[0]

    async def notifications_of(self, subject_id: str) -> list[Document]:
        ids = [i for e in await self.changes_of(subject_id) if e["op"] == CREATED for i in e["ids"]]
        found = await asyncio.gather(
            *(self.db[NOTIFICATIONS].find_one({"_id": i}) for i in dict.fromkeys(ids))
        )
        return await self._with_changes([d for d in found if d is not None])

    # ---- alerts (the stream) -----------------------------------------------------------------
    async def alerts_by_event(self, event_ids: Collection[str]) -> dict[str, Document]:
        """The stored alerts of these events, by event id (a scan: the redelivery path only)."""
        cursor = self.db[ALERTS].find({"event_id": {"$in": list(event_ids)}})
        return {str(d["event_id"]): d async for d in cursor}

    async def insert_alerts_numbered(
        self, docs: Sequence[Document], *, max_tries: int = 100
    ) -> list[Document]:
        """Stores each event's alert with the next sequence numbers of its district, in order and
        in one ordered insert (in chunks of `ORDERED_CHUNK`), or returns the alert already stored
        for an event (a redelivery, or another replica was first); the result follows `docs`.

        The number is "highest + 1", made unique by the `_id` (district:seq) and the event by the
        `event_id` index: FerretDB v1 has no atomic findAndModify/$inc, but a unique insert is
        atomic. The invariant: an alert numbered n is inserted only when n − 1 is known stored
        (or n = 1). The highest number of a district known here (`_last_seq`, else `max_seq` once)
        is only ever a number this process stored or read stored, and an ordered insert (sent in
        chunks FerretDB keeps ordered) stores a prefix, each alert after its predecessor. Alerts
        are never deleted, so the stored numbers are always 1…N and any number read stored
        vouches for all below it: reads made at different moments can only err low (a number
        read missing may be stored a moment later), never high.

        A duplicate key stops the insert at one alert, and FerretDB does not say which index
        refused it (its message names the collection only), so its number is read by exact `_id`:
        - stored, with this event: the event is stored already (another replica was first);
        - stored, with another event: the number is taken; the district's highest is found by
          exact `_id` reads forward from it (`PROBES` at once, see `_highest_from`), and the rest
          of the batch goes on from there in one insert;
        - missing: the duplicate was the event, stored under another number (a redelivery): one
          scan finds the stored alerts of every event left in the batch; the number stays free.
        Only the last case scans, and only once per batch."""
        out: list[Document | None] = [None] * len(docs)
        async with self._numbering:
            pending = list(range(len(docs)))  # the docs not stored or found yet, in order
            stuck = 0  # duplicates in a row that neither stored nor found anything
            while pending:
                numbered: list[Document] = []
                last: dict[str, int] = {}
                for i in pending:
                    district = docs[i]["district"]
                    if district not in last:
                        last[district] = await self._highest_known(district)
                    last[district] += 1
                    seq = last[district]
                    numbered.append({**docs[i], "_id": alert_id(district, seq), "seq": seq})
                stored = await insert_many_ordered(self.db[ALERTS], numbered)
                for i, doc in zip(pending[:stored], numbered[:stored], strict=True):
                    out[i] = doc
                    self._last_seq[doc["district"]] = doc["seq"]
                pending = pending[stored:]
                if not pending:
                    break
                refused = numbered[stored]
                held = await self._alert_holding(refused)
                if held is None:  # the number is free: the event is stored under another one
                    found = await self.alerts_by_event({docs[i]["event_id"] for i in pending})
                    for i in pending:
                        out[i] = found.get(docs[i]["event_id"])
                    pending = [i for i in pending if out[i] is None]
                    progress = bool(found)
                elif held["event_id"] == refused["event_id"]:
                    out[pending.pop(0)] = held
                    progress = True
                else:
                    progress = stored > 0
                stuck = 0 if progress else stuck + 1
                if stuck >= max_tries:
                    raise RuntimeError(f"could not number an alert of {refused['district']}")
        return [d for d in out if d is not None]

    async def _highest_known(self, district: str) -> int:
        """The highest number of the district known stored here (0: none); a scan the first time
        this process numbers the district."""
        if district not in self._last_seq:
            self._last_seq[district] = await self.max_seq(district)
        return self._last_seq[district]

    async def _alert_holding(self, refused: Document) -> Document | None:
        """The alert stored at the number an insert refused, or None if that number is free (the
        duplicate was then the event's: a number stored at the insert would still be there). If
        stored, the district's highest known number moves to the highest read stored."""
        district, seq = refused["district"], int(refused["seq"])
        probes = [seq, *(seq + (1 << k) for k in range(PROBES))]
        seen = dict(zip(probes, await self._alerts_at(district, probes), strict=True))
        held = seen[seq]
        if held is not None:
            highest = await self._highest_from(district, seen)
            self._last_seq[district] = max(self._last_seq.get(district, 0), highest)
        return held

    async def _highest_from(self, district: str, seen: Mapping[int, Document | None]) -> int:
        """The district's highest stored number, searched from the numbers `seen` (at least one
        stored): the highest read stored, once the number after it was read missing. Galloping
        (ever further past the highest stored) until a number is missing, then `PROBES` numbers
        evenly between the highest stored and the lowest missing above it, all read at once.

        Only a number read stored is returned: it vouches for every number below it. A number read
        missing is only a bound for the search; it may be stored by the time the insert comes,
        which then just meets another duplicate."""
        low = max(n for n, doc in seen.items() if doc is not None)
        high = min((n for n, doc in seen.items() if doc is None and n > low), default=None)
        reach = 1 << PROBES
        while high is None or high > low + 1:
            if high is None:
                probes = [low + reach * (1 << k) for k in range(PROBES)]
                reach <<= PROBES
            else:
                probes = between(low, high, PROBES)
            docs = await self._alerts_at(district, probes)
            low = max([low, *(n for n, doc in zip(probes, docs, strict=True) if doc is not None)])
            missing = [n for n, doc in zip(probes, docs, strict=True) if doc is None and n > low]
            if high is not None and high > low:
                missing.append(high)
            high = min(missing, default=None)
        return low

    async def _alerts_at(self, district: str, seqs: Sequence[int]) -> list[Document | None]:
        """Alerts at these numbers, read at once by exact `_id` (None where missing)."""
        return list(await asyncio.gather(*(self.alert_at(district, n) for n in seqs)))

    async def alert_at(self, district: str, seq: int) -> Document | None:
        """Alert number `seq` of the district, by exact `_id` (the one cheap query on FerretDB)."""
        return await self.db[ALERTS].find_one({"_id": alert_id(district, seq)})

    async def max_seq(self, district: str) -> int:
        """The district's highest stored number (0: none): the last entry of its `_id` range."""
        doc = await self.db[ALERTS].find_one(
            alerts_numbered_after(district), sort=[("_id", DESCENDING)]
        )
        return int(doc["seq"]) if doc else 0

    async def alerts_after(
        self, district: str, seq: int, *, limit: int, unit: str | None = None
    ) -> list[Document]:
        query = alerts_numbered_after(district, seq)
        if unit is not None:
            query["scope_units"] = unit
        cursor = self.db[ALERTS].find(query).sort("_id", ASCENDING).limit(limit)
        return [d async for d in cursor]

    async def recent_alerts(self, district: str, unit: str, *, limit: int) -> list[Document]:
        query = {**alerts_numbered_after(district), "scope_units": unit}
        cursor = self.db[ALERTS].find(query).sort("_id", DESCENDING).limit(limit)
        return [d async for d in cursor]

    # ---- webhook subscriptions ---------------------------------------------------------------
    async def insert_subscription(self, doc: Document) -> None:
        await self.db[WEBHOOKS].insert_one(doc)
        self._active_subs = None  # this process sees its own new subscription at once

    async def subscription(self, subscription_id: str) -> Document | None:
        return await self.db[WEBHOOKS].find_one({"_id": subscription_id})

    async def active_subscriptions(self) -> list[Document]:
        """The active subscriptions, read at most once per `SUBSCRIPTIONS_TTL_S` (a scan on
        FerretDB; the event path asks once per batch). Another replica's new subscription is seen
        within that time; this process's own at once."""
        now = time.monotonic()
        cached = self._active_subs
        if cached is not None and now - cached[0] < SUBSCRIPTIONS_TTL_S:
            return cached[1]
        docs = [d async for d in self.db[WEBHOOKS].find({"active": True})]
        self._active_subs = (now, docs)
        return docs

    async def subscriptions_in(self, units: Sequence[str]) -> list[Document]:
        cursor = (
            self.db[WEBHOOKS].find({"unit": {"$in": list(units)}}).sort("created_at", ASCENDING)
        )
        return [d async for d in cursor]

    # ---- webhook deliveries ------------------------------------------------------------------
    # A delivery is inserted once and never updated (an update scans the collection on FerretDB
    # and holds up every insert of the event path). Each try is two inserts keyed by
    # `<delivery>:<try>`: its claim (the unique `_id` makes it exactly-once across replicas) and
    # its attempt record (outcome, next due time); a delivered or dead delivery also gets an
    # outcome document keyed by its id, which the next delivery of the same incident reads by
    # exact `_id` before it goes out.
    async def insert_deliveries(self, docs: Sequence[Document]) -> set[str]:
        """One write for many deliveries; returns the ids already there (a redelivered event).
        Each is then put in the open set and the log, the ones already there too (a crash
        between the writes is mended by the redelivery; the sweep closes one found finished)."""
        existed = await insert_many_new(self.db[DELIVERIES], docs)
        heads = [{k: v for k, v in d.items() if k != "body"} for d in docs]
        logged = [{**h, "_id": log_key(h), "delivery_id": h["_id"]} for h in heads]
        await asyncio.gather(
            insert_many_new(self.db[OPEN], heads), insert_many_new(self.db[LOG], logged)
        )
        return existed

    async def open_deliveries(self) -> list[Document]:
        """The deliveries in flight, without their bodies (start-up and the sweep)."""
        return [d async for d in self.db[OPEN].find({})]

    async def close_deliveries(self, ids: Collection[str]) -> None:
        """Finished (delivered, or dead and announced): out of the open set."""
        for chunk in chunks(sorted(ids)):
            await self.db[OPEN].delete_many({"_id": {"$in": chunk}})

    async def order_heads(self, keys: Sequence[str]) -> dict[str, tuple[int, str]]:
        """The latest stored delivery (alert seq, delivery id) of each order key that has one;
        one read by exact `_id` each."""
        unique = list(dict.fromkeys(keys))
        docs = await asyncio.gather(*(self.db[HEADS].find_one({"_id": k}) for k in unique))
        return {str(d["_id"]): (int(d["seq"]), str(d["delivery_id"])) for d in docs if d}

    async def set_order_heads(self, heads: Mapping[str, tuple[int, str]]) -> None:
        """Record each key's latest delivery. One incident's events are handled by one replica
        at a time (its partition), so there is one writer per key."""

        async def one(key: str, seq: int, delivery_id: str) -> None:
            doc = {"_id": key, "seq": seq, "delivery_id": delivery_id}
            try:
                await self.db[HEADS].replace_one({"_id": key}, doc, upsert=True)
            except DuplicateKeyError:  # FerretDB: two first upserts met; the later one wins
                await self.db[HEADS].replace_one({"_id": key}, doc)

        await asyncio.gather(*(one(k, s, d) for k, (s, d) in heads.items()))

    async def delivery(self, delivery_id: str) -> Document | None:
        return await self.db[DELIVERIES].find_one({"_id": delivery_id})

    async def claim_try(self, delivery_id: str, attempt: int, **fields: Any) -> bool:
        """Try number `attempt` of the delivery is ours: true for exactly one caller, ever."""
        return await claim_once(
            self.db, CLAIMS, try_id(delivery_id, attempt), delivery_id=delivery_id, **fields
        )

    async def claim_of(self, delivery_id: str, attempt: int) -> Document | None:
        return await self.db[CLAIMS].find_one({"_id": try_id(delivery_id, attempt)})

    async def record_attempt(self, doc: Document) -> bool:
        """Stores a try's record (`_id` `<delivery>:<try>`); false if one is there already."""
        return await insert_once(self.db, ATTEMPTS, doc)

    async def attempt(self, delivery_id: str, attempt: int) -> Document | None:
        return await self.db[ATTEMPTS].find_one({"_id": try_id(delivery_id, attempt)})

    async def attempts_so_far(self, delivery_id: str) -> list[Document]:
        """The delivery's try records in order, read by exact `_id` until one is missing."""
        out: list[Document] = []
        while (doc := await self.attempt(delivery_id, len(out) + 1)) is not None:
            out.append(doc)
        return out

    async def record_outcome(self, doc: Document) -> bool:
        """A delivery delivered or dead, once (`_id` = the delivery id); false if already there."""
        return await insert_once(self.db, OUTCOMES, doc)

    async def outcome(self, delivery_id: str) -> Document | None:
        return await self.db[OUTCOMES].find_one({"_id": delivery_id})

    async def outcomes_of(self, ids: Collection[str]) -> dict[str, Document]:
        """The outcomes of these deliveries that have one, by delivery id."""
        out: dict[str, Document] = {}
        for chunk in chunks(sorted(ids)):
            async for o in self.db[OUTCOMES].find({"_id": {"$in": chunk}}):
                out[str(o["_id"])] = o
        return out

    async def mark_announced(self, delivery_id: str, now: datetime) -> None:
        """The dead-letter event of this delivery is published (a marker, inserted)."""
        await insert_once(self.db, ANNOUNCED, {"_id": delivery_id, "at": now})

    async def announced_among(self, ids: Collection[str]) -> set[str]:
        out: set[str] = set()
        for chunk in chunks(sorted(ids)):
            found = self.db[ANNOUNCED].find({"_id": {"$in": chunk}}, {"_id": 1})
            out |= {str(d["_id"]) async for d in found}
        return out

    async def delivery_log(
        self, subscription_id: str, *, limit: int, cursor: str | None = None
    ) -> tuple[list[Document], str | None]:
        """A page of the subscription's deliveries, newest alert first, as they stand, each with
        its tries; and the cursor of the next page. One `_id` range of the log, then the page's
        outcomes by `_id` and each delivery's tries as an `_id` range."""
        low = f"{subscription_id}|"
        upper = decode_cursor(cursor, low) if cursor else f"{subscription_id}}}"
        found = self.db[LOG].find({"_id": {"$gte": low, "$lt": upper}})
        rows = await found.sort("_id", DESCENDING).limit(limit + 1).to_list()
        nxt = encode_cursor(str(rows[limit - 1]["_id"])) if len(rows) > limit else None
        docs = [{**r, "_id": r["delivery_id"]} for r in rows[:limit]]
        ids = [str(d["_id"]) for d in docs]
        if not ids:
            return [], None
        # Outcomes first: a delivery's tries are recorded before its outcome, so every try that led
        # to an outcome read here is in the read of the tries after it. The other order could show
        # "delivered" without the try that delivered it (a try recorded between the two reads).
        ends = await self.outcomes_of(ids)
        tries = await asyncio.gather(*(self.tries_of(i) for i in ids))
        return [
            delivery_state(d, t, ends.get(str(d["_id"]))) for d, t in zip(docs, tries, strict=True)
        ], nxt

    async def tries_of(self, delivery_id: str) -> list[Document]:
        """The delivery's try records (one `_id` range: `<delivery>:<try>`), in try order."""
        found = self.db[ATTEMPTS].find(
            {"_id": {"$gt": f"{delivery_id}:", "$lt": f"{delivery_id};"}}
        )
        return sorted(await found.to_list(), key=lambda t: int(t["attempt"]))


def log_key(delivery: Mapping[str, Any]) -> str:
    """Orders a subscription's deliveries by the number of their alert (a district's order)."""
    return f"{delivery['subscription_id']}|{int(delivery['seq']):012d}|{delivery['_id']}"


def chunks(ids: Sequence[str]) -> list[list[str]]:
    return [list(ids[i : i + ID_LIST_MAX]) for i in range(0, len(ids), ID_LIST_MAX)]


def try_id(delivery_id: str, attempt: int) -> str:
    """The `_id` of try number `attempt` of a delivery (its claim and its record)."""
    return f"{delivery_id}:{attempt}"
