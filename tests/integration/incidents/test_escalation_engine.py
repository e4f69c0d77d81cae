"""Against the real Kafka and FerretDB: an unacknowledged fire climbs village → township →
district → HQ on its deadlines, each hop exactly once — also across a restart in the middle and
with two scheduler replicas on the same database."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from services.incidents.app import create_app
from services.incidents.settings import IncidentsSettings
from shared.events import IncidentEscalated
from shared.topics import INCIDENTS
from tests.integration.incidents.conftest import VILLAGE, report_body
from tests.integration.incidents.test_incidents_flow import CHIEF, RANGER, incident_of
from tests.support.kafka import read_topic, wait_until
from tests.support.server import serve


def hops(events: list[Any], incident_id: str) -> list[tuple[int, int]]:
    return [
        (e.data.from_level, e.data.to_level)
        for e in events
        if isinstance(e, IncidentEscalated) and e.data.incident.id == incident_id
    ]


async def level_of(c: httpx.AsyncClient, incident_id: str, auth: str) -> dict[str, Any]:
    r = await c.get(f"/v1/incidents/{incident_id}", headers={"Authorization": auth})
    body: dict[str, Any] = r.json()
    return body


async def test_unacknowledged_fire_climbs_each_level_once_on_its_deadline(
    settings_for: Callable[..., Any],
    token: Callable[[str], str],
    short_policy: Callable[..., Path],
) -> None:
    s = settings_for(IncidentsSettings, incident_shards=4, policy_file=short_policy(1.0, 1.5, 2.0))
    async with serve(create_app(s)) as srv, httpx.AsyncClient(base_url=srv.url) as c:
        body = report_body("fire")
        await c.post("/v1/reports", json=body, headers={"Authorization": token(RANGER)})
        iid = await incident_of(c, body["id"], token(RANGER))

        async def at_top() -> bool:
            return (await level_of(c, iid, token("hq-500114")))["escalation_level"] == 3

        await wait_until(at_top, timeout_s=15)
        await asyncio.sleep(1.0)  # nothing more may happen at the top
        got = await level_of(c, iid, token("hq-500114"))
    assert got["next_escalation_at"] is None
    climbs = [e for e in got["timeline"] if e["event"] == "escalated"]
    assert [e["note"].split(":")[0] for e in climbs] == [
        "level 0 → 1 (township)",
        "level 1 → 2 (district)",
        "level 2 → 3 (HQ)",
    ]
    events = await read_topic(s, INCIDENTS, 4)
    assert hops(events, iid) == [(0, 1), (1, 2), (2, 3)]
    escalated = [e for e in events if isinstance(e, IncidentEscalated)]
    opened_at = escalated[0].data.incident.opened_at
    # Each hop at (not before) its deadline: 1 s, then +1.5 s, then +2 s.
    for event, due_s in zip(escalated, (1.0, 2.5, 4.5), strict=True):
        waited = (event.data.at - opened_at).total_seconds()
        assert due_s - 0.05 <= waited < due_s + 1.5, (due_s, waited)


async def test_acknowledged_fire_stops_climbing(
    settings_for: Callable[..., Any],
    token: Callable[[str], str],
    short_policy: Callable[..., Path],
) -> None:
    s = settings_for(IncidentsSettings, incident_shards=4, policy_file=short_policy(1.5, 1.5, 1.5))
    async with serve(create_app(s)) as srv, httpx.AsyncClient(base_url=srv.url) as c:
        body = report_body("fire")
        await c.post("/v1/reports", json=body, headers={"Authorization": token(RANGER)})
        iid = await incident_of(c, body["id"], token(RANGER))
        r = await c.post(f"/v1/incidents/{iid}/ack", headers={"Authorization": token(CHIEF)})
        assert r.status_code == 200
        await asyncio.sleep(3.5)
        got = await level_of(c, iid, token(CHIEF))
    assert got["escalation_level"] == 0 and got["status"] == "acknowledged"
    assert hops(await read_topic(s, INCIDENTS, 2, timeout_s=3), iid) == []


async def test_restart_in_the_middle_neither_loses_nor_repeats_a_hop(
    settings_for: Callable[..., Any],
    token: Callable[[str], str],
    short_policy: Callable[..., Path],
) -> None:
    s = settings_for(IncidentsSettings, incident_shards=4, policy_file=short_policy(1.5, 2.5, 1.5))
    auth = token("hq-500114")
    app = create_app(s)
    async with serve(app) as srv, httpx.AsyncClient(base_url=srv.url) as c:
        body = report_body("fire")
        await c.post("/v1/reports", json=body, headers={"Authorization": token(RANGER)})
        iid = await incident_of(c, body["id"], auth)

        async def level_1() -> bool:
            return (await level_of(c, iid, auth))["escalation_level"] == 1

        await wait_until(level_1, timeout_s=10)
    # Down while the township deadline passes; a fresh process must pick the timer up.
    await asyncio.sleep(3.0)
    async with serve(create_app(s)) as srv, httpx.AsyncClient(base_url=srv.url) as c:

        async def at_top() -> bool:
            return (await level_of(c, iid, auth))["escalation_level"] == 3

        await wait_until(at_top, timeout_s=15)
        await asyncio.sleep(1.0)
    assert hops(await read_topic(s, INCIDENTS, 4), iid) == [(0, 1), (1, 2), (2, 3)]


async def test_two_scheduler_replicas_never_double_escalate(
    settings_for: Callable[..., Any],
    token: Callable[[str], str],
    short_policy: Callable[..., Path],
) -> None:
    policy = short_policy(1.0, 1.0, 1.0)
    # Both replicas reload every timer often, so both see every incident and race for each hop.
    s = settings_for(IncidentsSettings, incident_shards=4, policy_file=policy, timer_rescan_s=0.3)
    s2 = settings_for(IncidentsSettings, incident_shards=4, policy_file=policy, timer_rescan_s=0.3)
    auth = token("hq-500114")
    async with (
        serve(create_app(s)) as a,
        serve(create_app(s2)) as b,
        httpx.AsyncClient(base_url=a.url) as ca,
        httpx.AsyncClient(base_url=b.url) as cb,
    ):
        ids = []
        from tests.integration.incidents.conftest import ORG

        villages = [u.code for u in ORG.units.values() if u.level.value == "village"]
        for i, village in enumerate(villages[:6]):
            body = report_body("fire", village=village)
            client = ca if i % 2 else cb
            r = await client.post(
                "/v1/reports", json=body, headers={"Authorization": token(RANGER)}
            )
            assert r.status_code == 202
            ids.append(await incident_of(client, body["id"], auth))

        async def all_at_top() -> bool:
            levels = [(await level_of(ca, i, auth))["escalation_level"] for i in ids]
            return all(level == 3 for level in levels)

        await wait_until(all_at_top, timeout_s=20)
        await asyncio.sleep(1.5)
        timelines = [(await level_of(cb, i, auth))["timeline"] for i in ids]
    events = await read_topic(s, INCIDENTS, 6 + 18)
    for iid, timeline in zip(ids, timelines, strict=True):
        assert hops(events, iid) == [(0, 1), (1, 2), (2, 3)], iid
        assert sum(1 for e in timeline if e["event"] == "escalated") == 3
    ids_seen = Counter(str(e.id) for e in events)
    assert max(ids_seen.values()) == 1  # no event published twice either
    _ = VILLAGE


async def test_unchecked_pest_report_climbs_once_on_its_check_deadline(
    settings_for: Callable[..., Any],
    token: Callable[[str], str],
    tmp_path: Path,
) -> None:
    """A suspect pest report acknowledged but not checked on site within the policy's check
    deadline (24 h by default; 1.5 s here) climbs one level, once, with the reason."""
    policy = tmp_path / "policy.yaml"
    policy.write_text("pest_loop:\n  check_within_s: 1.5\n")
    s = settings_for(IncidentsSettings, incident_shards=4, policy_file=policy)
    auth = token("hq-500114")
    async with serve(create_app(s)) as srv, httpx.AsyncClient(base_url=srv.url) as c:
        body = report_body("pest", photos=["tree.jpg"], details={"subcompartment": "12-3"})
        r = await c.post("/v1/reports", json=body, headers={"Authorization": token(RANGER)})
        assert r.status_code == 202, r.text
        iid = await incident_of(c, body["id"], auth)
        r = await c.post(f"/v1/incidents/{iid}/ack", headers={"Authorization": token(CHIEF)})
        assert r.status_code == 200, r.text

        async def climbed() -> bool:
            return (await level_of(c, iid, auth))["escalation_level"] == 1

        await wait_until(climbed, timeout_s=10)
        await asyncio.sleep(1.5)  # nothing more: the deadline fires once
        got = await level_of(c, iid, auth)
    assert got["escalation_level"] == 1 and got["status"] == "acknowledged"
    events = await read_topic(s, INCIDENTS, 3)
    assert hops(events, iid) == [(0, 1)]
    (escalated,) = [e for e in events if isinstance(e, IncidentEscalated)]
    assert "checked not done within" in escalated.data.reason
