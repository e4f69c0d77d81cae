"""Webhook deliveries on MongoDB (FerretDB v1 locally), insert-only: a delivery is inserted once;
each try is claimed by a unique insert (`<delivery>:<try>`, exactly once across replicas) and
recorded by another; a delivered or dead delivery gets an outcome document.

Nothing is updated on the event path (an update on the local store scans the collection and holds
up every insert). The open set (`webhook_open`, each delivery without its body) keeps the sweep the
size of the work in flight; the log (`webhook_log`, keyed `<subscription>|<alert number>|<id>`)
pages a subscription's deliveries by `_id` range. Never sends anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.notify.domain.deliveries import (
    Claim,
    Delivery,
    Outcome,
    Try,
    delivery_state,
)
from services.notify.repository.writes import chunks, insert_many_new
from services.notify.store import DeliveryLogPage
from shared.cursors import decode_cursor, encode_cursor
from shared.db import Document, insert_once
from shared.locks import claim_once

DELIVERIES = "webhook_deliveries"  # inserted once, never updated
CLAIMS = "webhook_claims"  # one per try: `<delivery>:<try>`
ATTEMPTS = "webhook_attempts"  # one record per try: `<delivery>:<try>`
OUTCOMES = "webhook_outcomes"  # one per delivery delivered or dead
ANNOUNCED = "webhook_deadletters_announced"  # one marker per dead delivery published
# order key (subscription + incident) → its latest delivery: the predecessor a replica that just
# took over the incident's partition must wait for, though it never held it in memory
HEADS = "webhook_order_heads"
OPEN = "webhook_open"  # the deliveries not finished, and the dead ones not announced yet
LOG = "webhook_log"  # a subscription's deliveries by page


def try_id(delivery_id: str, attempt: int) -> str:
    """The `_id` of try number `attempt` of a delivery (its claim and its record)."""
    return f"{delivery_id}:{attempt}"


def log_key(delivery: Delivery) -> str:
    """Orders a subscription's deliveries by the number of their alert (a district's order)."""
    return f"{delivery.subscription_id}|{delivery.seq:012d}|{delivery.id}"


def delivery_doc(d: Delivery) -> Document:
    return {
        "_id": d.id,
        "subscription_id": d.subscription_id,
        "event_id": d.event_id,
        "event_type": d.event_type,
        "subject_id": d.subject_id,
        "order_key": d.order_key,
        "seq": d.seq,
        "prev": d.prev,
        "created_at": d.created_at,
        "body": d.body,
    }


def delivery_of(doc: Mapping[str, Any]) -> Delivery:
    return Delivery(
        id=str(doc.get("delivery_id", doc["_id"])),
        subscription_id=doc["subscription_id"],
        event_id=doc["event_id"],
        event_type=doc["event_type"],
        subject_id=doc["subject_id"],
        order_key=doc["order_key"],
        seq=int(doc["seq"]),
        prev=doc["prev"],
        created_at=doc["created_at"],
        body=doc.get("body"),
    )


def try_doc(t: Try) -> Document:
    return {
        "_id": try_id(t.delivery_id, t.attempt),
        "delivery_id": t.delivery_id,
        "subscription_id": t.subscription_id,
        "attempt": t.attempt,
        "at": t.at,
        "finished_at": t.finished_at,
        "status_code": t.status_code,
        "ok": t.ok,
        "error": t.error,
        "duration_ms": t.duration_ms,
        "outcome": t.outcome,
        "next_try_at": t.next_try_at,
    }


def try_of_doc(doc: Mapping[str, Any]) -> Try:
    return Try(
        delivery_id=doc["delivery_id"],
        subscription_id=doc["subscription_id"],
        attempt=int(doc["attempt"]),
        at=doc["at"],
        finished_at=doc["finished_at"],
        ok=bool(doc["ok"]),
        outcome=doc["outcome"],
        status_code=doc["status_code"],
        error=doc["error"],
        duration_ms=doc["duration_ms"],
        next_try_at=doc["next_try_at"],
    )


def outcome_doc(o: Outcome) -> Document:
    return {
        "_id": o.delivery_id,
        "subscription_id": o.subscription_id,
        "status": o.status,
        "at": o.at,
        "attempts": o.attempts,
        "last_error": o.last_error,
        "last_status_code": o.last_status_code,
    }


def outcome_of_doc(doc: Mapping[str, Any]) -> Outcome:
    return Outcome(
        delivery_id=str(doc["_id"]),
        subscription_id=doc["subscription_id"],
        status=doc["status"],
        at=doc["at"],
        attempts=int(doc["attempts"]),
        last_error=doc["last_error"],
        last_status_code=doc["last_status_code"],
    )


class MongoDeliveries:
    """The `Deliveries` port (store.py) on MongoDB."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db

    async def add(self, deliveries: Sequence[Delivery]) -> set[str]:
        """Each is also put in the open set and the log, the ones already there too (a crash
        between the writes is mended by the redelivery; the sweep closes one found finished)."""
        docs = [delivery_doc(d) for d in deliveries]
        existed = await insert_many_new(self.db[DELIVERIES], docs)
        heads = [{k: v for k, v in d.items() if k != "body"} for d in docs]
        logged = [
            {**h, "_id": log_key(d), "delivery_id": d.id}
            for h, d in zip(heads, deliveries, strict=True)
        ]
        await asyncio.gather(
            insert_many_new(self.db[OPEN], heads), insert_many_new(self.db[LOG], logged)
        )
        return existed

    async def get(self, delivery_id: str) -> Delivery | None:
        doc = await self.db[DELIVERIES].find_one({"_id": delivery_id})
        return delivery_of(doc) if doc is not None else None

    async def open(self) -> list[Delivery]:
        return [delivery_of(d) async for d in self.db[OPEN].find({})]

    async def close(self, ids: Collection[str]) -> None:
        for chunk in chunks(sorted(ids)):
            await self.db[OPEN].delete_many({"_id": {"$in": chunk}})

    async def order_heads(self, keys: Sequence[str]) -> dict[str, tuple[int, str]]:
        """One read by exact `_id` each."""
        unique = list(dict.fromkeys(keys))
        docs = await asyncio.gather(*(self.db[HEADS].find_one({"_id": k}) for k in unique))
        return {str(d["_id"]): (int(d["seq"]), str(d["delivery_id"])) for d in docs if d}

    async def set_order_heads(self, heads: Mapping[str, tuple[int, str]]) -> None:
        """One incident's events are handled by one replica at a time (its partition), so there
        is one writer per key."""

        async def one(key: str, seq: int, delivery_id: str) -> None:
            doc = {"_id": key, "seq": seq, "delivery_id": delivery_id}
            try:
                await self.db[HEADS].replace_one({"_id": key}, doc, upsert=True)
            except DuplicateKeyError:  # the local store: two first upserts met; the later wins
                await self.db[HEADS].replace_one({"_id": key}, doc)

        await asyncio.gather(*(one(k, s, d) for k, (s, d) in heads.items()))

    async def claim_try(
        self, delivery_id: str, attempt: int, *, token: str, at: datetime, lease_until: datetime
    ) -> bool:
        return await claim_once(
            self.db,
            CLAIMS,
            try_id(delivery_id, attempt),
            delivery_id=delivery_id,
            attempt=attempt,
            token=token,
            at=at,
            lease_until=lease_until,
        )

    async def claim_of(self, delivery_id: str, attempt: int) -> Claim | None:
        doc = await self.db[CLAIMS].find_one({"_id": try_id(delivery_id, attempt)})
        if doc is None:
            return None
        return Claim(delivery_id, attempt, doc["token"], doc["at"], doc["lease_until"])

    async def record_try(self, record: Try) -> bool:
        return await insert_once(self.db, ATTEMPTS, try_doc(record))

    async def try_of(self, delivery_id: str, attempt: int) -> Try | None:
        doc = await self.db[ATTEMPTS].find_one({"_id": try_id(delivery_id, attempt)})
        return try_of_doc(doc) if doc is not None else None

    async def tries_of(self, delivery_id: str) -> list[Try]:
        """One `_id` range (`<delivery>:<try>`), in try order."""
        found = self.db[ATTEMPTS].find(
            {"_id": {"$gt": f"{delivery_id}:", "$lt": f"{delivery_id};"}}
        )
        return sorted((try_of_doc(d) for d in await found.to_list()), key=lambda t: t.attempt)

    async def record_outcome(self, outcome: Outcome) -> bool:
        return await insert_once(self.db, OUTCOMES, outcome_doc(outcome))

    async def outcome(self, delivery_id: str) -> Outcome | None:
        doc = await self.db[OUTCOMES].find_one({"_id": delivery_id})
        return outcome_of_doc(doc) if doc is not None else None

    async def outcomes_of(self, ids: Collection[str]) -> dict[str, Outcome]:
        out: dict[str, Outcome] = {}
        for chunk in chunks(sorted(ids)):
            async for doc in self.db[OUTCOMES].find({"_id": {"$in": chunk}}):
                out[str(doc["_id"])] = outcome_of_doc(doc)
        return out

    async def mark_announced(self, delivery_id: str, at: datetime) -> None:
        await insert_once(self.db, ANNOUNCED, {"_id": delivery_id, "at": at})

    async def announced_among(self, ids: Collection[str]) -> set[str]:
        out: set[str] = set()
        for chunk in chunks(sorted(ids)):
            found = self.db[ANNOUNCED].find({"_id": {"$in": chunk}}, {"_id": 1})
            out |= {str(d["_id"]) async for d in found}
        return out

    async def log(
        self, subscription_id: str, *, limit: int, cursor: str | None = None
    ) -> DeliveryLogPage:
        """One `_id` range of the log, then the page's outcomes by `_id` and each delivery's
        tries as an `_id` range."""
        low = f"{subscription_id}|"
        upper = decode_cursor(cursor, low) if cursor else f"{subscription_id}}}"
        found = self.db[LOG].find({"_id": {"$gte": low, "$lt": upper}})
        rows = await found.sort("_id", DESCENDING).limit(limit + 1).to_list()
        nxt = encode_cursor(str(rows[limit - 1]["_id"])) if len(rows) > limit else None
        heads = [delivery_of(r) for r in rows[:limit]]
        if not heads:
            return DeliveryLogPage([], None)
        # Outcomes first: a delivery's tries are recorded before its outcome, so every try that led
        # to an outcome read here is in the read of the tries after it.
        ends = await self.outcomes_of([d.id for d in heads])
        tries = await asyncio.gather(*(self.tries_of(d.id) for d in heads))
        states = [
            delivery_state(replace(d, body=None), t, ends.get(d.id))
            for d, t in zip(heads, tries, strict=True)
        ]
        return DeliveryLogPage(states, nxt)
