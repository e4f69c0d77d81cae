"""Compliance through HTTP for a month of generated patrols (inside and outside the zone), checked
against the hand-worked expectation in tests/unit/patrol/tracks.py."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from tests.integration.patrol.conftest import RANGER, RANGER_2, VILLAGE, running, start_patrol
from tests.support.kafka import wait_until
from tests.unit.patrol.tracks import MARCH_EXPECTED, day_track, march_plan


async def test_month_of_patrols_gives_the_hand_worked_compliance(
    patrol_settings: Callable[..., Any], token: Callable[[str], str]
) -> None:
    auth = token(RANGER)
    async with running(patrol_settings()) as srv:
        c = srv.client
        total = 0
        for day, kind in march_plan():
            pts = day_track(2026, 3, day, kind)
            pid = str(uuid.uuid4())
            assert (await start_patrol(c, auth, pid, pts[0]["t"])).status_code == 201
            body = {"points": [{**p, "t": p["t"].isoformat()} for p in pts]}
            r = await c.post(
                f"/v1/patrols/{pid}/points", json=body, headers={"Authorization": auth}
            )
            assert r.status_code == 202, r.text
            total += len(pts)
            end = pts[-1]["t"] + timedelta(minutes=1)
            r = await c.post(
                f"/v1/patrols/{pid}/finish",
                json={"ended_at": end.isoformat()},
                headers={"Authorization": auth},
            )
            assert r.status_code == 200

        async def stored() -> bool:
            r = await c.get(
                "/v1/patrols",
                params={"unit": VILLAGE},
                headers={"Authorization": token("vc-500114001001")},
            )
            return sum(p["points"] for p in r.json()["items"]) == total

        await wait_until(stored, 30)
        params = {"unit": VILLAGE, "from": "2026-03-01", "to": "2026-03-31"}
        r = await c.get(
            "/v1/compliance", params=params, headers={"Authorization": token("tc-500114001")}
        )
        assert r.status_code == 200, r.text
        rangers = {x["ranger_id"]: x for x in r.json()["rangers"]}
        assert set(rangers) == {RANGER, RANGER_2}
        me = rangers[RANGER]
        assert me["patrols"] == len(march_plan())
        assert me["valid_days"] == MARCH_EXPECTED["valid_days"]
        assert me["days_patrolled"] == MARCH_EXPECTED["days_patrolled"]
        assert me["months"][0]["dekad_valid_days"] == list(MARCH_EXPECTED["dekads"])
        assert me["compliant"] is False
        assert [(s["code"], s["dekad"], s["required"], s["actual"]) for s in me["shortfalls"]] == [
            ("valid_days", None, 20, 18),
            ("dekad", 3, 6, 5),
        ]
        assert me["rule"]["min_distance_m"] == 3000
        assert me["shortfalls"][0]["zh"] and me["shortfalls"][0]["en"]
        idle = rangers[RANGER_2]
        assert idle["valid_days"] == 0 and idle["compliant"] is False
        # A ranger sees only themselves; someone outside the unit gets 404.
        r = await c.get("/v1/compliance", params=params, headers={"Authorization": auth})
        assert [x["ranger_id"] for x in r.json()["rangers"]] == [RANGER]
        r = await c.get(
            "/v1/compliance", params=params, headers={"Authorization": token("vc-500114001002")}
        )
        assert r.status_code == 404
