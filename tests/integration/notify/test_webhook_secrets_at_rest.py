"""Webhook secrets at rest on the real store: a stored document never holds the plaintext, a
secret opens only under a configured key and for its own subscription (else a clear error), a
document written before sealing still loads and is sealed at the next start, a rotated key
re-seals at start; deliveries are still signed with the plaintext secret end to end."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from services.notify.domain.webhooks import Subscription, verify
from services.notify.repository import COLLECTIONS, seal_stored_secrets
from services.notify.repository.secret_box import SecretBox, SecretUnreadable
from services.notify.repository.subscriptions import WEBHOOKS, MongoSubscriptions
from services.notify.settings import NotifySettings
from services.notify.store import Webhook
from shared import db as dbmod
from shared.db import Document
from tests.integration.notify.conftest import FAST, Notify, opened, snapshot, start_notify
from tests.support.infra import ROOT, free_port
from tests.support.kafka import wait_until

SECRET = "hq-shared-secret-0123456789"
HQ = "hq-500114"
DISTRICT = "500114"


def webhook(sub_id: str, secret: str = SECRET, url: str = "https://hq.example.cn/hook") -> Webhook:
    return Webhook(
        rule=Subscription(id=sub_id, url=url, types=None, min_level=0, unit=DISTRICT),
        secret=secret,
        active=True,
        created_by=HQ,
        created_at=datetime(2026, 4, 1, 8, 0, tzinfo=UTC),
    )


def legacy_doc(sub_id: str, url: str, secret: str = SECRET) -> Document:
    """A subscription as stored before secrets were sealed: the plaintext in `secret`."""
    return {
        "_id": sub_id,
        "url": url,
        "secret": secret,
        "types": None,
        "incident_types": None,
        "min_level": 0,
        "unit": DISTRICT,
        "active": True,
        "created_by": HQ,
        "created_at": datetime(2026, 4, 1, 8, 0, tzinfo=UTC),
    }


def assert_no_plaintext(doc: Document | None, secret: str = SECRET) -> None:
    assert doc is not None
    text = repr(doc)
    assert secret not in text and base64.b64encode(secret.encode()).decode() not in text
    assert isinstance(doc["secret"], dict) and doc["secret"]["v"] == 1


def new_box() -> SecretBox:
    return SecretBox(os.urandom(32))


@pytest.fixture
async def db(settings_for: Any) -> AsyncIterator[AsyncDatabase[Document]]:
    settings = settings_for(NotifySettings)
    client = dbmod.connect(settings)
    try:
        database = dbmod.database(client, settings)
        await dbmod.ensure_indexes(database, COLLECTIONS)
        yield database
    finally:
        await client.close()


async def test_a_stored_subscription_holds_no_plaintext_and_loads_its_secret(
    db: AsyncDatabase[Document],
) -> None:
    box = new_box()
    subs = MongoSubscriptions(db, box)
    await subs.add(webhook("wh-1"))
    raw = await db[WEBHOOKS].find_one({"_id": "wh-1"})
    assert_no_plaintext(raw)
    assert raw is not None and raw["secret"]["kid"] == box.current_kid
    found = await subs.get("wh-1")
    assert found is not None and found.secret == SECRET
    assert [w.secret for w in await subs.active()] == [SECRET]
    assert [w.secret for w in await subs.in_units([DISTRICT])] == [SECRET]

    rotated = await subs.update("wh-1", secret="a-new-secret-0123456789")
    assert rotated is not None and rotated.secret == "a-new-secret-0123456789"
    assert_no_plaintext(await db[WEBHOOKS].find_one({"_id": "wh-1"}), "a-new-secret-0123456789")


async def test_a_secret_under_a_key_not_configured_fails_loudly_and_the_event_path_skips_it(
    db: AsyncDatabase[Document],
) -> None:
    box = new_box()
    await MongoSubscriptions(db, box).add(webhook("wh-1"))
    other = MongoSubscriptions(db, new_box())
    await other.add(webhook("wh-2"))
    named = f"wh-1.*{box.current_kid}.*HULIN_WEBHOOK_SECRET_KEY"
    with pytest.raises(SecretUnreadable, match=named):
        await other.get("wh-1")
    with pytest.raises(SecretUnreadable):
        await other.in_units([DISTRICT])
    # the event path leaves that one out (logged), so the other subscription still gets alerts
    assert [w.id for w in await other.active()] == ["wh-2"]


async def test_a_secret_moved_onto_another_subscription_does_not_open(
    db: AsyncDatabase[Document],
) -> None:
    subs = MongoSubscriptions(db, new_box())
    await subs.add(webhook("wh-victim"))
    await subs.add(webhook("wh-attacker", secret="attacker-knows-this-one"))
    victim = await db[WEBHOOKS].find_one({"_id": "wh-victim"})
    assert victim is not None
    await db[WEBHOOKS].update_one({"_id": "wh-attacker"}, {"$set": {"secret": victim["secret"]}})
    with pytest.raises(SecretUnreadable, match="wh-attacker.*does not authenticate"):
        await subs.get("wh-attacker")


async def test_a_plaintext_document_from_before_still_loads_and_is_sealed_at_start(
    db: AsyncDatabase[Document],
) -> None:
    await db[WEBHOOKS].insert_one(legacy_doc("wh-old", "https://hq.example.cn/hook"))
    box = new_box()
    subs = MongoSubscriptions(db, box)
    found = await subs.get("wh-old")
    assert found is not None and found.secret == SECRET

    done = await seal_stored_secrets(db, box)
    assert (done.sealed, done.rotated, done.unreadable) == (1, 0, 0)
    assert_no_plaintext(await db[WEBHOOKS].find_one({"_id": "wh-old"}))
    found = await subs.get("wh-old")
    assert found is not None and found.secret == SECRET
    again = await seal_stored_secrets(db, box)
    assert (again.sealed, again.rotated, again.unreadable) == (0, 0, 0)


async def test_after_a_key_rotation_the_start_reseals_under_the_new_key(
    db: AsyncDatabase[Document],
) -> None:
    old, new = os.urandom(32), os.urandom(32)
    await MongoSubscriptions(db, SecretBox(old)).add(webhook("wh-1"))
    await MongoSubscriptions(db, new_box()).add(webhook("wh-lost"))  # a key nobody has now
    rotating = SecretBox(new, [old])
    done = await seal_stored_secrets(db, rotating)
    assert (done.sealed, done.rotated, done.unreadable) == (0, 1, 1)
    raw = await db[WEBHOOKS].find_one({"_id": "wh-1"})
    assert_no_plaintext(raw)
    assert raw is not None and raw["secret"]["kid"] == rotating.current_kid
    found = await MongoSubscriptions(db, SecretBox(new)).get("wh-1")  # the old key retired
    assert found is not None and found.secret == SECRET


async def test_a_delivery_is_signed_with_the_plaintext_secret_that_is_never_stored(
    notify: Notify, receiver: Any
) -> None:
    rec = await receiver()
    async with notify.client(HQ) as c:
        r = await c.post("/v1/webhooks", json={"url": rec.url, "secret": SECRET})
    assert r.status_code == 201, r.text
    raw = await notify.app.state.runtime.db[WEBHOOKS].find_one({"_id": r.json()["id"]})
    assert_no_plaintext(raw)
    assert raw["secret"]["kid"] == notify.settings.webhook_secret_box().current_kid

    await notify.publisher.publish(opened(snapshot()))
    await wait_until(lambda: rec.requests)
    req = rec.requests[0]
    assert verify(SECRET, req["body"], req["headers"]["x-hulin-signature"])


async def test_a_subscription_stored_in_plaintext_is_sealed_at_start_and_still_signs(
    settings_for: Any, token: Any, receiver: Any
) -> None:
    settings = settings_for(NotifySettings, **FAST)
    rec = await receiver()
    client = dbmod.connect(settings)
    try:
        db = dbmod.database(client, settings)
        await db[WEBHOOKS].insert_one(legacy_doc("wh-legacy", rec.url))
        async for n in start_notify(settings, token):
            assert_no_plaintext(await db[WEBHOOKS].find_one({"_id": "wh-legacy"}))
            await n.publisher.publish(opened(snapshot()))
            await wait_until(lambda: rec.requests)
            req = rec.requests[0]
            assert verify(SECRET, req["body"], req["headers"]["x-hulin-signature"])
    finally:
        await client.close()


async def test_notify_refuses_production_without_a_key_or_with_a_malformed_one() -> None:
    base = {
        "HULIN_PORT": str(free_port()),
        "PATH": "/usr/bin:/bin",
        "HULIN_ENV": "prod",
        "HULIN_JWT_SECRET": "a-production-jwt-secret-0123456789abcdef",
    }
    for env, named in (
        (base, "HULIN_WEBHOOK_SECRET_KEY must be set outside dev"),
        ({**base, "HULIN_WEBHOOK_SECRET_KEY": "c2hvcnQ="}, "HULIN_WEBHOOK_SECRET_KEY must be"),
    ):
        run = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "services.notify"],
            capture_output=True, text=True, cwd=ROOT, timeout=60, env=env,
        )
        assert run.returncode == 2, run.stderr
        assert run.stderr.startswith("refusing to start: ") and named in run.stderr, run.stderr
        assert "Traceback" not in run.stderr
