"""The notify service's store on MongoDB (FerretDB v1 on SQLite locally): the adapter of the port
in `store.py`, one module per concern — inbox (with its change logs), alerts, subscriptions,
deliveries. The only code of this service that talks to the database; it decides nothing.
Webhook secrets are sealed at rest under the key from settings (secret_box.py).

The local store serves no index but `_id` (and patch 0005's `_id` ranges), and every update scans:
so the hot path only inserts and reads by `_id` or `_id` range, and each module says how.
"""

from __future__ import annotations

from collections.abc import Sequence

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from services.notify.repository import alerts, changes, deliveries, inbox, subscriptions
from services.notify.repository.alerts import MongoAlertSequence
from services.notify.repository.deliveries import MongoDeliveries
from services.notify.repository.inbox import MongoInbox
from services.notify.repository.secret_box import DEV_BOX, SecretBox
from services.notify.repository.subscriptions import MongoSubscriptions, Resealed
from services.notify.store import NotifyStore
from shared.db import Document

# Every collection, made at start-up rather than by the first event, with the indexes a query
# here uses beside `_id` (the rest are read by `_id` or `_id` range only).
COLLECTIONS: dict[str, Sequence[IndexModel]] = {
    alerts.ALERTS: [IndexModel([("event_id", ASCENDING)], unique=True, name="one_per_event")],
    subscriptions.WEBHOOKS: [IndexModel([("unit", ASCENDING)], name="by_unit")],
    inbox.NOTIFICATIONS: [],
    inbox.ENTRIES: [],
    inbox.UNREAD: [],
    inbox.PUBLISHED: [],
    changes.CHANGES: [],
    deliveries.DELIVERIES: [],
    deliveries.CLAIMS: [],
    deliveries.ATTEMPTS: [],
    deliveries.OUTCOMES: [],
    deliveries.ANNOUNCED: [],
    deliveries.HEADS: [],
    deliveries.OPEN: [],
    deliveries.LOG: [],
}


def mongo_store(db: AsyncDatabase[Document], *, secret_box: SecretBox = DEV_BOX) -> NotifyStore:
    """The store of one process (each part keeps what it learnt in memory: one per process).
    The app passes the box of its settings; the default is the public dev key (tests, benches)."""
    return NotifyStore(
        inbox=MongoInbox(db),
        alerts=MongoAlertSequence(db),
        subscriptions=MongoSubscriptions(db, secret_box),
        deliveries=MongoDeliveries(db),
    )


async def seal_stored_secrets(db: AsyncDatabase[Document], secret_box: SecretBox) -> Resealed:
    """At start-up: seal plaintext webhook secrets and re-seal those under an old key."""
    return await MongoSubscriptions(db, secret_box).reseal()


__all__ = ["COLLECTIONS", "mongo_store", "seal_stored_secrets"]
