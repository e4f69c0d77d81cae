"""Webhook subscriptions on MongoDB. The secret is stored sealed (secret_box.py, under the key from
settings) and handed back in plaintext only inside `Webhook` (never shown); a document never
holds the plaintext once written here. Nothing here decides what a subscription receives."""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from services.notify.domain.webhooks import Subscription
from services.notify.repository.secret_box import SecretBox, SecretUnreadable
from services.notify.store import Webhook
from shared.db import Document

WEBHOOKS = "webhooks"
ACTIVE_TTL_S = 2.0  # the event path reads the active subscriptions at most this often (a scan)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Resealed:
    """What the start-up pass did: sealed plaintext, re-sealed under the current key, could not
    open (each logged with its reason)."""

    sealed: int = 0
    rotated: int = 0
    unreadable: int = 0


def to_doc(webhook: Webhook, box: SecretBox) -> Document:
    rule = webhook.rule
    return {
        "_id": rule.id,
        "url": rule.url,
        "secret": box.seal(webhook.secret, subscription_id=rule.id),
        "types": list(rule.types) if rule.types is not None else None,
        "incident_types": list(rule.incident_types) if rule.incident_types is not None else None,
        "min_level": rule.min_level,
        "unit": rule.unit,
        "active": webhook.active,
        "created_by": webhook.created_by,
        "created_at": webhook.created_at,
    }


def open_secret(doc: Mapping[str, Any], box: SecretBox) -> str:
    """The plaintext; a document written before secrets were sealed holds a plain string (it is
    sealed at the next start-up, see `MongoSubscriptions.reseal`). Raises `SecretUnreadable`."""
    stored = doc["secret"]
    if isinstance(stored, str):
        return stored
    if not isinstance(stored, Mapping):
        raise SecretUnreadable(f"webhook subscription {doc['_id']}: the stored secret is not one")
    return box.open(stored, subscription_id=str(doc["_id"]))


def from_doc(doc: Mapping[str, Any], box: SecretBox) -> Webhook:
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
        secret=open_secret(doc, box),
        active=bool(doc["active"]),
        created_by=doc["created_by"],
        created_at=doc["created_at"],
    )


class MongoSubscriptions:
    """The `Subscriptions` port (store.py) on MongoDB. A secret that cannot be opened raises
    `SecretUnreadable` (never a wrong signature), except on the event path (`active`), where that
    one subscription is logged and left out so the others and the inboxes still get the alert."""

    def __init__(self, db: AsyncDatabase[Document], box: SecretBox) -> None:
        self.db = db
        self.box = box
        self._active: tuple[float, list[Webhook]] | None = None  # (read at, subscriptions)

    async def add(self, webhook: Webhook) -> None:
        await self.db[WEBHOOKS].insert_one(to_doc(webhook, self.box))
        self._active = None  # this process sees its own new subscription at once

    async def get(self, subscription_id: str) -> Webhook | None:
        doc = await self.db[WEBHOOKS].find_one({"_id": subscription_id})
        return from_doc(doc, self.box) if doc is not None else None

    async def active(self) -> list[Webhook]:
        """Read at most once per `ACTIVE_TTL_S` (a scan on the local store; the event path asks
        once per batch): another replica's new subscription is seen within that time."""
        now = time.monotonic()
        cached = self._active
        if cached is not None and now - cached[0] < ACTIVE_TTL_S:
            return cached[1]
        found: list[Webhook] = []
        async for doc in self.db[WEBHOOKS].find({"active": True}):
            try:
                found.append(from_doc(doc, self.box))
            except SecretUnreadable as e:
                log.error("webhook subscription left out: %s", e)
        self._active = (now, found)
        return found

    async def in_units(self, units: Collection[str]) -> list[Webhook]:
        cursor = (
            self.db[WEBHOOKS].find({"unit": {"$in": list(units)}}).sort("created_at", ASCENDING)
        )
        return [from_doc(d, self.box) async for d in cursor]

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
            changes["secret"] = self.box.seal(secret, subscription_id=subscription_id)
        if not changes:
            return await self.get(subscription_id)
        doc = await self.db[WEBHOOKS].find_one_and_update(
            {"_id": subscription_id}, {"$set": changes}, return_document=ReturnDocument.AFTER
        )
        self._active = None
        return from_doc(doc, self.box) if doc is not None else None

    async def reseal(self) -> Resealed:
        """Seal every plaintext secret and re-seal every secret not under the current key (after
        a rotation), at start-up. Each write is conditional on the value read, so a secret
        rotated meanwhile through the API is never overwritten; replicas may run it together."""
        sealed = rotated = unreadable = 0
        async for doc in self.db[WEBHOOKS].find({}, {"secret": 1}):
            stored = doc.get("secret")
            if self.box.is_current(stored):
                continue
            try:
                plain = open_secret(doc, self.box)
            except SecretUnreadable as e:
                log.error("webhook secret cannot be re-sealed: %s", e)
                unreadable += 1
                continue
            if isinstance(stored, Mapping):
                unchanged: dict[str, Any] = {"_id": doc["_id"], "secret.nonce": stored["nonce"]}
            else:
                unchanged = {"_id": doc["_id"], "secret": stored}
            new = self.box.seal(plain, subscription_id=str(doc["_id"]))
            result = await self.db[WEBHOOKS].update_one(unchanged, {"$set": {"secret": new}})
            if result.modified_count == 1:
                if isinstance(stored, str):
                    sealed += 1
                else:
                    rotated += 1
        self._active = None
        return Resealed(sealed=sealed, rotated=rotated, unreadable=unreadable)
