"""The notify HTTP API against the real store: bad input gets a clear 4xx, inboxes are private,
the stream needs a token and resumes from stored alerts, the org map is scoped."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.integration.notify.conftest import CHAIN, VILLAGE, Notify, for_incident, opened, snapshot
from tests.support.kafka import wait_until

HQ = "hq-500114"


async def post_webhook(n: Notify, body: dict[str, Any], who: str = HQ) -> httpx.Response:
    async with n.client(who) as c:
        return await c.post("/v1/webhooks", json=body)


async def test_webhook_bad_input_is_refused_naming_the_field(notify: Notify) -> None:
    cases = [
        ({"url": "ftp://hq.example/hook", "secret": "s3cret"}, "url"),
        ({"url": "javascript:alert(1)", "secret": "s3cret"}, "url"),
        ({"url": "http://hq.example/hook"}, "secret"),
        ({"url": "http://hq.example/hook", "secret": "   "}, "secret"),
        (
            {"url": "http://hq.example/hook", "secret": "s", "types": ["incident.burned"]},
            "types[0]",
        ),
        ({"url": "http://hq.example/hook", "secret": "s", "min_level": 7}, "min_level"),
    ]
    for body, field in cases:
        r = await post_webhook(notify, body)
        assert r.status_code == 422, (body, r.text)
        assert field in [e["field"] for e in r.json()["errors"]], (body, r.json())
        assert "s3cret" not in r.text
    r = await post_webhook(
        notify, {"url": "https://hq.example/hook", "secret": "s"}, who="tc-500114001"
    )
    assert r.status_code == 403 and "hq" in r.json()["detail"]


async def test_webhooks_list_never_shows_the_secret(notify: Notify) -> None:
    r = await post_webhook(notify, {"url": "https://hq.example/hook", "secret": "top-secret-value"})
    assert r.status_code == 201
    async with notify.client(HQ) as c:
        listed = await c.get("/v1/webhooks")
        one = await c.get(f"/v1/webhooks/{r.json()['id']}")
    assert "top-secret-value" not in listed.text + one.text + r.text
    assert listed.json()["webhooks"][0]["url"] == "https://hq.example/hook"
    async with notify.client("cc-500114-1") as c:
        assert (await c.get(f"/v1/webhooks/{r.json()['id']}/deliveries")).status_code == 404


async def test_inbox_is_private_and_reading_marks_only_ones_own(notify: Notify) -> None:
    snap = snapshot()
    await notify.publisher.publish(opened(snap))
    mine = await wait_until(lambda: for_incident(notify, f"vc-{VILLAGE}", snap.id))
    nid = mine[0]["id"]
    async with notify.client(f"sv-{VILLAGE}") as c:
        r = await c.post(f"/v1/inbox/{nid}/read")
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    async with notify.client(f"vc-{VILLAGE}") as c:
        r = await c.post(f"/v1/inbox/{nid}/read")
        assert r.status_code == 200 and r.json()["read"] is True
        unread = (await c.get("/v1/inbox", params={"unread": "true"})).json()["notifications"]
    assert nid not in [x["id"] for x in unread]
    assert not (await for_incident(notify, f"sv-{VILLAGE}", snap.id))[0]["read"]
    async with notify.client(f"vc-{VILLAGE}") as c:
        assert (await c.post("/v1/inbox/no-such-id/read")).status_code == 404


async def test_inbox_speaks_english_on_request(notify: Notify) -> None:
    snap = snapshot()
    await notify.publisher.publish(opened(snap))
    await wait_until(lambda: for_incident(notify, f"in-{VILLAGE}", snap.id))
    async with notify.client(f"in-{VILLAGE}") as c:
        en = (await c.get("/v1/inbox", params={"lang": "en"})).json()["notifications"]
        al = (await c.get("/v1/inbox", headers={"Accept-Language": "en-GB,en;q=0.9"})).json()
        zh = (await c.get("/v1/inbox")).json()["notifications"]
    assert "Forest fire" in en[0]["title"] and "Fengxiang" in en[0]["title"]
    assert "Forest fire" in al["notifications"][0]["title"]
    assert "森林火情" in zh[0]["title"]


async def test_stream_without_a_token_is_401(notify: Notify) -> None:
    async with httpx.AsyncClient(base_url=notify.url) as c:
        r = await c.get("/v1/alerts/stream")
        bad = await c.get("/v1/alerts/stream", params={"access_token": "nonsense"})
    assert r.status_code == 401 and r.json()["errors"][0]["field"] == "Authorization"
    assert bad.status_code == 401
    async with notify.client("pub-1") as c:
        assert (await c.get("/v1/alerts/stream")).status_code == 403


async def test_stream_takes_the_token_in_the_query_and_resumes_after_last_event_id(
    notify: Notify, sse: Any
) -> None:
    token = notify.token("cc-500114-1").split(" ", 1)[1]
    first, second = snapshot(), snapshot()
    live = await sse(f"{notify.url}/v1/alerts/stream?access_token={token}")
    await notify.publisher.publish(opened(first))
    a1 = await live.wait_for(lambda e: e["incident_id"] == first.id)
    await notify.publisher.publish(opened(second))
    a2 = await live.wait_for(lambda e: e["incident_id"] == second.id)
    assert int(a2["id"]) > int(a1["id"]) and live.ids[-1] == a2["id"]

    resumed = await sse(
        f"{notify.url}/v1/alerts/stream?access_token={token}", {"Last-Event-ID": a1["id"]}
    )
    got = await resumed.wait_for(lambda e: e["incident_id"] == second.id)
    assert got["id"] == a2["id"]
    assert all(e["incident_id"] != first.id for e in resumed.events)


async def test_stream_sends_keep_alives(notify: Notify, sse: Any) -> None:
    live = await sse(f"{notify.url}/v1/alerts/stream", {"Authorization": notify.token(HQ)})
    await asyncio.sleep(2.3)  # keep-alive every 1 s in tests (15 s by default)
    assert live.comments.count("keep-alive") >= 2


async def test_a_stream_of_another_replica_sees_alerts_stored_by_this_one(
    notify: Notify, token: Any, sse: Any
) -> None:
    from tests.integration.notify.conftest import start_notify

    second = start_notify(notify.settings, token)
    other = await second.__anext__()
    try:
        live = await sse(f"{other.url}/v1/alerts/stream", {"Authorization": notify.token(HQ)})
        snap = snapshot()
        await notify.app.state.chain.handle([opened(snap)])  # handled by replica 1
        got = await live.wait_for(lambda e: e["incident_id"] == snap.id, timeout_s=5)
        assert got["kind"] == "new_incident"
        await live.close()
    finally:
        await second.aclose()


async def test_org_units_map_is_scoped_to_the_caller(notify: Notify) -> None:
    async with notify.client("cc-500114-1") as c:
        cc = (await c.get("/v1/org/units")).json()
    async with notify.client(f"vc-{VILLAGE}") as c:
        vc = (await c.get("/v1/org/units")).json()
    assert len(cc["features"]) == 13  # district, 3 townships, 9 villages
    assert [f["id"] for f in vc["features"]] == [VILLAGE]
    assert vc["features"][0]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert set(CHAIN)  # the chain's own village only


async def test_console_page_and_dev_tokens_only_in_dev(notify: Notify) -> None:
    async with httpx.AsyncClient(base_url=notify.url) as c:
        page = await c.get("/console")
        js = await c.get("/console/static/console.js")
        cfg = (await c.get("/console/config")).json()
        tok = await c.get("/console/dev-token", params={"person": "cc-500114-1"})
        other = await c.get("/console/static/../app.py")
    assert page.status_code == 200 and "指挥中心" in page.text
    assert js.status_code == 200 and "EventSource" in js.text
    assert cfg["dev_tokens"] is False  # tests run with env=test
    assert tok.status_code == 404 and other.status_code == 404


async def test_a_person_holds_a_bounded_number_of_streams(notify: Notify, sse: Any) -> None:
    """Issue 16, finding 8: streams per person were unlimited, each with its own catch-up."""
    cap = notify.app.state.policy.limits.streams_per_person
    auth = {"Authorization": notify.token(HQ)}
    open_ = [await sse(f"{notify.url}/v1/alerts/stream", auth) for _ in range(cap)]
    assert all(r.status == 200 for r in open_)
    refused = await sse(f"{notify.url}/v1/alerts/stream", auth)
    assert refused.status == 429
    chief = {"Authorization": notify.token(sorted(CHAIN)[0])}
    other = await sse(f"{notify.url}/v1/alerts/stream", chief)
    assert other.status == 200
    await open_[0].close()
    await asyncio.sleep(0.2)
    again = await sse(f"{notify.url}/v1/alerts/stream", auth)
    assert again.status == 200


async def test_a_stream_ends_when_its_token_expires(notify: Notify, sse: Any) -> None:
    """Issue 16, finding 8: a stream opened with a token outlived it for as long as it stayed
    open. This token expired 58 s ago: within the 60 s leeway, so the stream opens, and ends
    two seconds later."""
    import time

    import jwt

    settings = notify.settings
    token = jwt.encode(
        {"sub": HQ, "iss": "hulin", "exp": int(time.time()) - settings.jwt_leeway_s + 2},
        settings.jwt_secret.get_secret_value(),
        algorithm=settings.jwt_algorithm,
    )
    live = await sse(f"{notify.url}/v1/alerts/stream?access_token={token}")
    assert live.status == 200
    assert live.task is not None
    await asyncio.wait_for(live.task, 10)  # the server ended it


async def test_a_token_in_the_query_opens_the_stream_and_nothing_else(notify: Notify) -> None:
    token = notify.token(HQ).split(" ", 1)[1]
    async with httpx.AsyncClient(base_url=notify.url) as c:
        r = await c.get("/v1/inbox", params={"access_token": token})
    assert r.status_code == 401
