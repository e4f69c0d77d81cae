"""Webhook subscriptions on MongoDB. The secret is stored to sign with and is handed back only
inside `Webhook` (never shown); nothing here decides what a subscription receives."""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from services.notify.domain.webhooks import Subscription
from services.notify.store import Webhook
from shared.db import Document

WEBHOOKS = "webhooks"
ACTIVE_TTL_S = 2.0  # the event path reads the active subscriptions at most this often (a scan)


def to_doc(webhook: Webhook) -> Document:
    rule = webhook.rule
    return {
        "_id": rule.id,
        "url": rule.url,
        "secret": webhook.secret,
        "types": list(rule.types) if rule.types is not None else None,
        "incident_types": list(rule.incident_types) if rule.incident_types is not None else None,
        "min_level": rule.min_level,
        "unit": rule.unit,
        "active": webhook.active,
        "created_by": webhook.created_by,
        "created_at": webhook.created_at,
    }


def from_doc(doc: Mapping[str, Any]) -> Webhook:
    types, incident_types = doc["types"], doc["incident_types"]
    return Webhook(
        rule=Subscription(
            id=str(doc["_id"]),
            url=doc["url"],
            types=tuple(types) if types is not None else None,
            min_level=int(doc["min_level"]),
            unit=doc["unit"],
            incident_types=tuple(incident_types) if incident_types is not None else None,
        ),
        secret=doc["secret"],
        active=bool(doc["active"]),
        created_by=doc["created_by"],
        created_at=doc["created_at"],
    )


class MongoSubscriptions:
    """The `Subscriptions` port (store.py) on MongoDB."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db
        self._active: tuple[float, list[Webhook]] | None = None  # (read at, subscriptions)

    async def add(self, webhook: Webhook) -> None:
        await self.db[WEBHOOKS].insert_one(to_doc(webhook))
        self._active = None  # this process sees its own new subscription at once

    async def get(self, subscription_id: str) -> Webhook | None:
        doc = await self.db[WEBHOOKS].find_one({"_id": subscription_id})
        return from_doc(doc) if doc is not None else None

    async def active(self) -> list[Webhook]:
        """Read at most once per `ACTIVE_TTL_S` (a scan on the local store; the event path asks
        once per batch): another replica's new subscription is seen within that time."""
        now = time.monotonic()
        cached = self._active
        if cached is not None and now - cached[0] < ACTIVE_TTL_S:
            return cached[1]
        found = [from_doc(d) async for d in self.db[WEBHOOKS].find({"active": True})]
        self._active = (now, found)
        return found

    async def in_units(self, units: Collection[str]) -> list[Webhook]:
        cursor = (
            self.db[WEBHOOKS].find({"unit": {"$in": list(units)}}).sort("created_at", ASCENDING)
        )
        return [from_doc(d) async for d in cursor]

    async def remove(self, subscription_id: str) -> bool:
        result = await self.db[WEBHOOKS].delete_one({"_id": subscription_id})
        self._active = None
        return result.deleted_count == 1

    async def update(
        self, subscription_id: str, *, active: bool | None = None, secret: str | None = None
    ) -> Webhook | None:
        changes: dict[str, Any] = {}
        if active is not None:
            changes["active"] = active
        if secret is not None:
            changes["secret"] = secret
        if not changes:
            return await self.get(subscription_id)
        doc = await self.db[WEBHOOKS].find_one_and_update(
            {"_id": subscription_id}, {"$set": changes}, return_document=ReturnDocument.AFTER
        )
        self._active = None
        return from_doc(doc) if doc is not None else None
