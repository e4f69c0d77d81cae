"""The early gates on the real services (issue 16): a report flood is refused before its body
is parsed, and each report is counted once; a person at the stream cap is refused before
routing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

from services.incidents.app import create_app as create_incidents
from services.incidents.settings import IncidentsSettings
from services.notify.settings import NotifySettings
from tests.integration.incidents.conftest import report_body
from tests.integration.notify.conftest import FAST as NOTIFY_FAST
from tests.integration.notify.conftest import start_notify
from tests.support.server import serve

PUBLIC = "pub-1"
HQ = "hq-500114"


async def test_a_report_flood_is_refused_before_the_body_is_read_and_counted_once(
    settings_for: Any, token: Callable[[str], str]
) -> None:
    settings = settings_for(IncidentsSettings)
    app = create_incidents(settings)
    budget = app.state.policy.limits.reports_for("public")
    auth = {"Authorization": token(PUBLIC)}
    async with serve(app) as srv, httpx.AsyncClient(base_url=srv.url, headers=auth) as c:
        accepted = [
            (await c.post("/v1/reports", json=report_body())).status_code for _ in range(budget)
        ]
        # not even JSON: the route would answer 422, the gate answers first
        refused = await c.post(
            "/v1/reports", content=b"{not json", headers={"content-type": "application/json"}
        )
        again = await c.post("/v1/reports", json=report_body())
    assert accepted == [202] * budget  # the gate's look spends nothing
    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited"
    assert int(refused.headers["retry-after"]) >= 1
    assert again.status_code == 429


async def test_a_person_at_the_stream_cap_is_refused_before_routing(
    settings_for: Any, token: Callable[[str], str]
) -> None:
    settings = settings_for(NotifySettings, **NOTIFY_FAST)
    async for notify in start_notify(settings, token):
        cap = notify.app.state.policy.limits.streams_per_person
        hub = notify.app.state.hub
        held = [await hub.subscribe("500114", HQ) for _ in range(cap)]
        async with notify.client(HQ) as c:
            # a Last-Event-ID the route would refuse 422: the gate answers first
            refused = await c.get("/v1/alerts/stream", headers={"Last-Event-ID": "x"})
        for sub in held:
            hub.unsubscribe(sub)
        await asyncio.sleep(0)
        async with notify.client(HQ) as c:
            after = await c.get("/v1/alerts/stream", headers={"Last-Event-ID": "x"})
    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited"
    assert refused.headers["retry-after"] == "30"
    assert after.status_code == 422
