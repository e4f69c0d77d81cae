"""Each subject's numbered change log (`<subject>:000001`, …): what happens to an incident's or a
patrol's notifications after they are stored, appended and never updated, folded in on read.

It exists because an update on the local store scans the collection even by exact `_id`, and would
hold up every insert of the event path; on MongoDB it stays correct and cheap (inserts, `_id`
ranges). Only used by the inbox adapter.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.notify.domain.notifications import (
    Acknowledged,
    Change,
    Created,
    FactsChanged,
    Updated,
)
from services.notify.repository.writes import insert_many_ordered
from shared.db import Document

CHANGES = "notification_changes"
CACHED = 20_000  # subjects whose log this process keeps in memory (entries never change)
APPEND_TRIES = 100  # numbers taken by other writers in a row before giving up

CREATED = "created"
UPDATE = "update"
FACTS = "facts"
ACK = "ack"


def change_id(subject_id: str, n: int) -> str:
    """The `_id` of entry number `n` of a subject's log (padded: `_id` order is number order)."""
    return f"{subject_id}:{n:06d}"


def to_doc(change: Change) -> Document:
    if isinstance(change, Created):
        return {"op": CREATED, "ids": list(change.ids)}
    if isinstance(change, Updated):
        return {
            "op": UPDATE,
            "event_id": change.event_id,
            "note": dict(change.note),
            "facts": dict(change.facts),
            "at": change.at,
        }
    if isinstance(change, FactsChanged):
        return {"op": FACTS, "facts": dict(change.facts), "at": change.at}
    return {
        "op": ACK,
        "by": change.by,
        "acknowledged_at": change.acknowledged_at,
        "facts": dict(change.facts),
        "at": change.at,
    }


def from_doc(doc: Mapping[str, Any]) -> Change:
    op = doc["op"]
    if op == CREATED:
        return Created(tuple(doc["ids"]))
    if op == UPDATE:
        return Updated(doc["event_id"], doc["note"], doc["facts"], doc["at"])
    if op == FACTS:
        return FactsChanged(doc["facts"], doc["at"])
    return Acknowledged(doc["by"], doc["acknowledged_at"], doc["at"], doc["facts"])


class ChangeLogs:
    """The logs, numbered by unique `_id`: a number another writer took is read past."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db
        self._cached: OrderedDict[str, list[Change]] = OrderedDict()

    async def append(
        self, entries: Sequence[tuple[str, Change]], *, new: Collection[str] = ()
    ) -> None:
        """Appends entries to their subjects' logs in the given order, in one insert.

        A subject whose log this process holds, or one the caller says is `new` (its incident was
        just opened), is numbered without reading (its events come through one partition); a
        number another writer took meanwhile (or a redelivered opening) stops the ordered insert
        there, and the rest is appended one by one, each after reading on."""
        if not entries:
            return
        subjects = list(dict.fromkeys(s for s, _ in entries))
        unknown = [s for s in subjects if s not in self._cached and s not in new]
        read = await asyncio.gather(*map(self.of, unknown))
        logs = dict(zip(unknown, read, strict=True))
        for s in subjects:
            logs.setdefault(s, list(self._cached.get(s) or ()))
        counts = {s: len(log) for s, log in logs.items()}
        docs: list[Document] = []
        for s, change in entries:
            counts[s] += 1
            docs.append({**to_doc(change), "_id": change_id(s, counts[s]), "subject": s})
        stored = await insert_many_ordered(self.db[CHANGES], docs)
        for s, change in entries[:stored]:
            logs[s].append(change)
        for s in subjects:
            self._remember(s, logs[s])
        for s, change in entries[stored:]:
            await self._append_one(s, change)

    async def of(self, subject_id: str) -> list[Change]:
        """The subject's log, oldest first: cached entries plus the ones stored since, up to the
        first number missing (its writer is on the way: read on next time). One `_id` range."""
        known = self._cached.get(subject_id)
        entries = list(known) if known is not None else []
        since = {"_id": {"$gt": change_id(subject_id, len(entries)), "$lt": f"{subject_id};"}}
        async for doc in self.db[CHANGES].find(since).sort("_id", ASCENDING):
            if doc["_id"] != change_id(subject_id, len(entries) + 1):
                break
            entries.append(from_doc(doc))
        self._remember(subject_id, entries)
        return entries

    async def _append_one(self, subject_id: str, change: Change) -> None:
        for _ in range(APPEND_TRIES):
            entries = await self.of(subject_id)
            doc = {**to_doc(change), "_id": change_id(subject_id, len(entries) + 1)}
            try:
                await self.db[CHANGES].insert_one({**doc, "subject": subject_id})
            except DuplicateKeyError:
                continue
            self._remember(subject_id, [*entries, change])
            return
        raise RuntimeError(f"could not append to the change log of {subject_id}")

    def _remember(self, subject_id: str, entries: list[Change]) -> None:
        known = self._cached.get(subject_id)
        if known is None or len(known) <= len(entries):  # a slower reader keeps the longer log
            self._cached[subject_id] = entries
        self._cached.move_to_end(subject_id)
        while len(self._cached) > CACHED:
            self._cached.popitem(last=False)
