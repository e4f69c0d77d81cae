"""What patrol tells other services: started, position updates, finished (and its revision after
late points), and exactly one patrol.overdue per silent patrol even with two replicas scanning."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from services.patrol.app import create_app
from shared.clock import FakeClock
from shared.events import PatrolOverdue, parse_event
from tests.integration.patrol.conftest import (
    RANGER,
    RANGER_2,
    VILLAGE,
    hours_ago,
    running,
    start_patrol,
    wait_points,
    walk,
)
from tests.support.kafka import read_topic
from tests.support.server import serve


async def test_started_positions_finished_and_revised_finished_are_published(
    patrol_settings: Callable[..., Any], token: Callable[[str], str]
) -> None:
    settings = patrol_settings()
    auth = token(RANGER)
    start = hours_ago(2)
    pts = walk(start, 120)
    async with running(settings) as srv:
        c = srv.client
        pid = str(uuid.uuid4())
        assert (await start_patrol(c, auth, pid, start)).status_code == 201
        assert (await start_patrol(c, auth, pid, start)).status_code == 200  # resend
        r = await c.post(
            f"/v1/patrols/{pid}/points", json={"points": pts[:100]}, headers={"Authorization": auth}
        )
        assert r.status_code == 202
        await wait_points(c, auth, pid, 100)
        # The consumer writes the summary and the position concurrently: the count may show
        # before the position does.
        for _ in range(100):
            r = await c.get(
                "/v1/positions",
                params={"unit": VILLAGE},
                headers={"Authorization": token("vc-500114001001")},
            )
            if r.json()["items"]:
                break
            await asyncio.sleep(0.05)
        (pos,) = r.json()["items"]
        assert pos["ranger_id"] == RANGER and pos["lat"] == pts[99]["lat"]
        ended = start + timedelta(hours=1)
        for _ in range(2):  # idempotent
            r = await c.post(
                f"/v1/patrols/{pid}/finish",
                json={"ended_at": ended.isoformat()},
                headers={"Authorization": auth},
            )
            assert r.status_code == 200 and r.json()["points"] == 100
        r = await c.get(
            "/v1/positions",
            params={"unit": VILLAGE},
            headers={"Authorization": token("vc-500114001001")},
        )
        assert r.json()["items"] == []  # off patrol
        r = await c.post(
            f"/v1/patrols/{pid}/points", json={"points": pts[100:]}, headers={"Authorization": auth}
        )
        assert r.status_code == 202
        await wait_points(c, auth, pid, 120)
        events = await read_topic(settings, "hulin.patrol", 5, timeout_s=10)
        types = [e.type for e in events]
        assert types.count("patrol.started") == 1
        finished = [e for e in events if e.type == "patrol.finished"]
        assert [e.data.revision for e in finished] == [0, 2]  # type: ignore[attr-defined]
        assert finished[0].data.points == 100 and finished[1].data.points == 120  # type: ignore[attr-defined]
        positions = [e for e in events if e.type == "patrol.position_updated"]
        assert positions[0].data.on_patrol and not positions[-1].data.on_patrol  # type: ignore[attr-defined]
        assert all(e.key == RANGER for e in events)
        # The raw points event matches the published contract.
        raw = await read_topic(settings, "hulin.patrol.points", 2, timeout_s=5)
        assert [len(e.data.points) for e in raw] == [100, 20]  # type: ignore[attr-defined]
        # Scope: another village's chief and another ranger see nothing.
        for who in ("vc-500114001002", RANGER_2):
            r = await c.get(f"/v1/patrols/{pid}", headers={"Authorization": token(who)})
            assert r.status_code == 404
        r = await c.get(f"/v1/patrols/{pid}", headers={"Authorization": token("dc-500114")})
        assert r.status_code == 200
        r = await c.get(
            "/v1/patrols",
            params={"ranger_id": RANGER},
            headers={"Authorization": token("tc-500114001")},
        )
        assert [p["id"] for p in r.json()["items"]] == [pid]


async def test_gcj02_batches_are_stored_as_wgs84(
    patrol_settings: Callable[..., Any], token: Callable[[str], str]
) -> None:
    from shared.geo import haversine_m, wgs84_to_gcj02

    auth = token(RANGER)
    start = hours_ago(1)
    pts = walk(start, 20)
    gcj = []
    for p in pts:
        la, lo = wgs84_to_gcj02(p["lat"], p["lon"])
        gcj.append({**p, "lat": la, "lon": lo})
    async with running(patrol_settings()) as srv:
        c = srv.client
        pid = str(uuid.uuid4())
        await start_patrol(c, auth, pid, start)
        r = await c.post(
            f"/v1/patrols/{pid}/points",
            json={"points": gcj, "coord_system": "gcj02"},
            headers={"Authorization": auth},
        )
        assert r.status_code == 202
        await wait_points(c, auth, pid, 20)
        track = (await c.get(f"/v1/patrols/{pid}/track", headers={"Authorization": auth})).json()
        for (lon, lat), p in zip(track["geometry"]["coordinates"], pts, strict=True):
            assert haversine_m(lat, lon, p["lat"], p["lon"]) < 0.05


async def test_a_silent_patrol_raises_one_overdue_event_across_two_replicas(
    patrol_settings: Callable[..., Any], token: Callable[[str], str]
) -> None:
    settings = patrol_settings()
    clock = FakeClock(datetime.now(UTC))
    auth = token(RANGER)
    start = clock.now().replace(microsecond=0)
    async with running(settings, clock=clock) as srv:
        c = srv.client
        silent, busy, done = (str(uuid.uuid4()) for _ in range(3))
        for pid in (silent, busy, done):
            assert (await start_patrol(c, auth, pid, start)).status_code == 201
        await c.post(
            f"/v1/patrols/{done}/finish",
            json={"ended_at": (start + timedelta(minutes=5)).isoformat()},
            headers={"Authorization": auth},
        )
        clock.advance(59 * 60)
        assert await srv.service.overdue.scan_overdue() == 0
        # `busy` sends a point after 59 minutes: it is alive.
        r = await c.post(
            f"/v1/patrols/{busy}/points",
            json={"points": walk(clock.now() - timedelta(seconds=1), 1)},
            headers={"Authorization": auth},
        )
        assert r.status_code == 202
        await wait_points(c, auth, busy, 1)
        clock.advance(2 * 60)
        # A second replica (HTTP + scans; its consumer would only trigger a group rebalance).
        app2 = create_app(settings.model_copy(update={"patrol_consumers": False}), clock=clock)
        async with serve(app2):
            replicas = [srv.service.overdue, app2.state.patrol.overdue]
            counts = await asyncio.gather(*(s.scan_overdue() for s in replicas * 3))
            assert sum(counts) == 1
        assert await srv.service.overdue.scan_overdue() == 0
        events = await read_topic(settings, "hulin.patrol", 6, timeout_s=5)
        overdue = [e for e in events if e.type == "patrol.overdue"]
        assert len(overdue) == 1
        assert isinstance(overdue[0], PatrolOverdue) and overdue[0].data.patrol_id == silent
        r = await c.get(f"/v1/patrols/{silent}", headers={"Authorization": auth})
        assert r.json()["overdue"] is True
        assert parse_event(overdue[0].to_json()) == overdue[0]
