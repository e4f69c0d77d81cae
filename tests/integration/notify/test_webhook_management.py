"""Managing HQ's webhooks over HTTP against a real receiver: disable and enable, rotate the
secret, delete; and the timestamped signature checked by the runnable example receiver."""

from __future__ import annotations

import time
from typing import Any

from examples.webhook_receiver import verify as example_verify
from services.notify.domain.webhooks import verify, verify_timestamped
from tests.integration.notify.conftest import Notify, opened, snapshot
from tests.support.kafka import wait_until

SECRET = "hq-shared-secret-0123456789"
HQ = "hq-500114"


async def subscribe(n: Notify, url: str) -> str:
    async with n.client(HQ) as c:
        r = await c.post("/v1/webhooks", json={"url": url, "secret": SECRET})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_a_delivery_carries_a_timestamped_signature_the_example_receiver_accepts_once_fresh(
    notify: Notify, receiver: Any
) -> None:
    rec = await receiver()
    await subscribe(notify, rec.url)
    await notify.publisher.publish(opened(snapshot(level=0)))

    await wait_until(lambda: rec.requests)
    headers, body = rec.requests[0]["headers"], rec.requests[0]["body"]
    ts = int(headers["x-hulin-timestamp"])
    assert abs(time.time() - ts) < 60
    assert verify(SECRET, body, headers["x-hulin-signature"])  # the old header stays as it was
    assert verify_timestamped(
        SECRET,
        body,
        timestamp=headers["x-hulin-timestamp"],
        header=headers["x-hulin-signature-256"],
        now=time.time(),
    )
    assert example_verify(SECRET, headers, body)
    assert not example_verify("another-secret", headers, body)
    assert not example_verify(SECRET, headers, body + b" ")
    # the same capture replayed ten minutes later is refused
    assert not example_verify(SECRET, headers, body, now=ts + 600)
    forged = {**headers, "x-hulin-timestamp": str(ts - 1)}
    assert not example_verify(SECRET, forged, body)  # a fresh timestamp on the old signature


async def test_a_disabled_webhook_gets_no_deliveries_until_enabled_again(
    notify: Notify, receiver: Any
) -> None:
    off, on = await receiver(), await receiver()
    sub_off = await subscribe(notify, off.url)
    await subscribe(notify, on.url)
    async with notify.client(HQ) as c:
        r = await c.patch(f"/v1/webhooks/{sub_off}", json={"active": False})
        assert r.status_code == 200 and r.json()["active"] is False
        assert (await c.get(f"/v1/webhooks/{sub_off}")).json()["active"] is False
    await notify.publisher.publish(opened(snapshot(level=0)))
    await wait_until(lambda: on.requests)
    assert off.requests == []

    async with notify.client(HQ) as c:
        r = await c.patch(f"/v1/webhooks/{sub_off}", json={"active": True})
        assert r.status_code == 200 and r.json()["active"] is True
    await notify.publisher.publish(opened(snapshot(level=0)))
    await wait_until(lambda: off.requests)


async def test_a_rotated_secret_signs_the_next_deliveries_and_a_minted_one_is_shown_once(
    notify: Notify, receiver: Any
) -> None:
    rec = await receiver()
    sub = await subscribe(notify, rec.url)
    async with notify.client(HQ) as c:
        given = await c.post(f"/v1/webhooks/{sub}/secret", json={"secret": "the-new-one-42"})
        assert given.status_code == 200 and given.json() == {"id": sub, "secret": None}
    await notify.publisher.publish(opened(snapshot(level=0)))
    await wait_until(lambda: rec.requests)
    headers, body = rec.requests[0]["headers"], rec.requests[0]["body"]
    assert example_verify("the-new-one-42", headers, body)
    assert not example_verify(SECRET, headers, body)

    async with notify.client(HQ) as c:
        minted = await c.post(f"/v1/webhooks/{sub}/secret")
        assert minted.status_code == 200
        new = minted.json()["secret"]
        assert len(new) >= 32
        assert new not in (await c.get(f"/v1/webhooks/{sub}")).text
    await notify.publisher.publish(opened(snapshot(level=0)))
    await wait_until(lambda: len(rec.requests) >= 2)
    assert example_verify(new, rec.requests[1]["headers"], rec.requests[1]["body"])


async def test_a_deleted_webhook_is_gone_and_others_cannot_manage_one(
    notify: Notify, receiver: Any
) -> None:
    rec = await receiver()
    sub = await subscribe(notify, rec.url)
    async with notify.client("cc-500114-1") as c:  # not hq/admin: answered as absent
        assert (await c.delete(f"/v1/webhooks/{sub}")).status_code == 404
        assert (await c.patch(f"/v1/webhooks/{sub}", json={"active": False})).status_code == 404
        assert (await c.post(f"/v1/webhooks/{sub}/secret")).status_code == 404
    async with notify.client(HQ) as c:
        assert (await c.delete(f"/v1/webhooks/{sub}")).status_code == 204
        assert (await c.get(f"/v1/webhooks/{sub}")).status_code == 404
        assert (await c.delete(f"/v1/webhooks/{sub}")).status_code == 404
        assert (await c.get("/v1/webhooks")).json()["webhooks"] == []
