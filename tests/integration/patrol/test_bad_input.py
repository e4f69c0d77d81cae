"""Bad input on the patrol endpoints: a 4xx naming the field and reason, and nothing stored."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.integration.patrol.conftest import (
    OTHER_VILLAGE_RANGER,
    RANGER,
    RANGER_2,
    hours_ago,
    running,
    start_patrol,
    walk,
)
from tests.support.kafka import read_topic


def _fields(r: Any) -> list[str]:
    return [e["field"] for e in r.json()["errors"]]


async def test_each_bad_input_is_a_4xx_naming_the_field_and_stores_nothing(
    patrol_settings: Callable[..., Any], token: Callable[[str], str]
) -> None:
    settings = patrol_settings()
    auth = token(RANGER)
    start = hours_ago(2)
    async with running(settings) as srv:
        c = srv.client
        pid = str(uuid.uuid4())
        assert (await start_patrol(c, auth, pid, start)).status_code == 201
        good = walk(start + timedelta(minutes=1), 10)
        now = datetime.now(UTC)

        def with_point(i: int, **change: Any) -> list[dict[str, Any]]:
            pts = [dict(p) for p in good]
            pts[i].update(change)
            return pts

        cases: list[tuple[str, dict[str, Any] | list[Any], str, int, str]] = [
            ("lat", {"points": with_point(3, lat=91)}, "points[3].lat", 422, auth),
            ("lon", {"points": with_point(4, lon=-181)}, "points[4].lon", 422, auth),
            ("seq", {"points": with_point(2, seq=-1)}, "points[2].seq", 422, auth),
            (
                "future",
                {"points": with_point(5, t=(now + timedelta(minutes=6)).isoformat())},
                "points[5].t",
                422,
                auth,
            ),
            (
                "before start",
                {"points": with_point(0, t=(start - timedelta(seconds=1)).isoformat())},
                "points[0].t",
                422,
                auth,
            ),
            (
                "naive t",
                {"points": with_point(1, t="2026-01-01T00:00:00")},
                "points[1].t",
                422,
                auth,
            ),
            ("too many", {"points": walk(start, 1001)}, "points", 422, auth),
            ("coord system", {"points": good, "coord_system": "bd09"}, "coord_system", 422, auth),
            ("not json", [], "body", 422, auth),
        ]
        for name, body, field, status, who in cases:
            r = await c.post(f"/v1/patrols/{pid}/points", json=body, headers={"Authorization": who})
            assert r.status_code == status, (name, r.text)
            assert field in _fields(r), (name, r.json())
        # Unknown patrol, someone else's patrol (another ranger: 404; their chief: 403).
        r = await c.post(
            f"/v1/patrols/{uuid.uuid4()}/points",
            json={"points": good},
            headers={"Authorization": auth},
        )
        assert r.status_code == 404 and _fields(r) == ["id"]
        for who, status in ((RANGER_2, 404), (OTHER_VILLAGE_RANGER, 404), ("vc-500114001001", 403)):
            r = await c.post(
                f"/v1/patrols/{pid}/points",
                json={"points": good},
                headers={"Authorization": token(who)},
            )
            assert r.status_code == status, (who, r.text)
            assert _fields(r) == ["id"]
        # A non-ranger cannot start a patrol; a resend with another start time conflicts.
        r = await start_patrol(c, token("vc-500114001001"), str(uuid.uuid4()), start)
        assert r.status_code == 403 and _fields(r) == ["role"]
        r = await start_patrol(c, auth, pid, start + timedelta(seconds=5))
        assert r.status_code == 409 and _fields(r) == ["started_at"]
        r = await start_patrol(c, auth, str(uuid.uuid4()), now + timedelta(hours=1))
        assert r.status_code == 422 and _fields(r) == ["started_at"]
        r = await c.post(
            "/v1/patrols",
            json={"id": "x y", "started_at": start.isoformat()},
            headers={"Authorization": auth},
        )
        assert r.status_code == 422 and _fields(r) == ["id"]
        # Finishing before the start.
        r = await c.post(
            f"/v1/patrols/{pid}/finish",
            json={"ended_at": (start - timedelta(minutes=1)).isoformat()},
            headers={"Authorization": auth},
        )
        assert r.status_code == 422 and _fields(r) == ["ended_at"]
        # No token.
        r = await c.post(f"/v1/patrols/{pid}/points", json={"points": good})
        assert r.status_code == 401

        # Nothing stored: no points event published, no fixes, the patrol untouched.
        events = await read_topic(settings, "hulin.patrol.points", 1, timeout_s=2)
        assert events == []
        r = await c.get(f"/v1/patrols/{pid}", headers={"Authorization": auth})
        assert r.json()["points"] == 0 and r.json()["status"] == "active"
        r = await c.get(f"/v1/patrols/{pid}/track", headers={"Authorization": auth})
        assert r.json()["properties"]["points"] == 0
        # The one good batch afterwards goes through.
        r = await c.post(
            f"/v1/patrols/{pid}/points", json={"points": good}, headers={"Authorization": auth}
        )
        assert r.status_code == 202


async def test_patrol_lists_page_by_cursor_and_a_made_up_cursor_is_a_422_naming_it(
    patrol_settings: Callable[..., Any], token: Callable[[str], str]
) -> None:
    auth, chief = token(RANGER), token("vc-500114001001")
    async with running(patrol_settings()) as srv:
        c = srv.client
        made = [str(uuid.uuid4()) for _ in range(3)]
        for i, pid in enumerate(made):
            assert (await start_patrol(c, auth, pid, hours_ago(3 - i))).status_code == 201
        seen, url = [], "/v1/patrols?limit=2"
        while True:
            r = await c.get(url, headers={"Authorization": chief})
            assert r.status_code == 200
            seen += [p["id"] for p in r.json()["items"]]
            if r.json()["next"] is None:
                break
            url = f"/v1/patrols?limit=2&cursor={r.json()['next']}"
        assert seen == made[::-1]
        r = await c.get("/v1/patrols?cursor=bm90LWEta2V5", headers={"Authorization": chief})
        assert r.status_code == 422 and _fields(r) == ["cursor"]
        whole = await c.get("/v1/patrols", headers={"Authorization": chief})
        assert whole.json()["count"] == 3 and whole.json()["next"] is None
