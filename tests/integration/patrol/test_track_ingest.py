"""Offline sync through the real broker and store: resends, out-of-order batches and late batches
after the finish all end in the same stored track and the same great-circle distance."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from tests.integration.patrol.conftest import (
    RANGER,
    hours_ago,
    independent_length_m,
    running,
    start_patrol,
    wait_points,
    walk,
)


async def _post(client: Any, auth: str, pid: str, points: list[dict[str, Any]]) -> Any:
    return await client.post(
        f"/v1/patrols/{pid}/points", json={"points": points}, headers={"Authorization": auth}
    )


async def test_resend_out_of_order_and_late_batches_give_the_same_track_and_distance(
    patrol_settings: Callable[..., Any], token: Callable[[str], str]
) -> None:
    auth = token(RANGER)
    start = hours_ago(3)
    pts = walk(start + timedelta(seconds=1), 600)
    first, second, third = pts[:250], pts[250:450], pts[450:]
    expected = independent_length_m(pts)
    async with running(patrol_settings()) as srv:
        c = srv.client
        tracks = []
        # A: in order, first batch sent twice.
        # B: out of order (the last batch first).
        # C: the last batch only after the finish (offline sync).
        for scenario in ("A", "B", "C"):
            pid = str(uuid.uuid4())
            assert (await start_patrol(c, auth, pid, start)).status_code == 201
            if scenario == "A":
                order = [first, first, second, third]
            elif scenario == "B":
                order = [third, first, second]
            else:
                order = [second, first]
            for batch in order:
                r = await _post(c, auth, pid, batch)
                assert r.status_code == 202, r.text
                assert r.json()["accepted"] == len(batch)
                if scenario == "A" and batch is first:
                    await wait_points(c, auth, pid, len(first))
            if scenario == "C":
                await wait_points(c, auth, pid, len(first) + len(second))
                ended = start + timedelta(hours=2, minutes=40)
                r = await c.post(
                    f"/v1/patrols/{pid}/finish",
                    json={"ended_at": ended.isoformat()},
                    headers={"Authorization": auth},
                )
                assert r.status_code == 200, r.text
                assert r.json()["status"] == "finished"
                r = await _post(c, auth, pid, third)
                assert r.status_code == 202, r.text
            summary = await wait_points(c, auth, pid, len(pts))
            assert summary["points"] == len(pts)
            assert abs(summary["distance_m"] - expected) / expected < 0.005
            track = (
                await c.get(f"/v1/patrols/{pid}/track", headers={"Authorization": auth})
            ).json()
            tracks.append((summary, track))
        coords = [t["geometry"]["coordinates"] for _, t in tracks]
        assert coords[0] == coords[1] == coords[2]
        assert coords[0] == [[p["lon"], p["lat"]] for p in pts]
        distances = {round(s["distance_m"], 3) for s, _ in tracks}
        assert len(distances) == 1
        assert tracks[2][1]["properties"]["seqs"] == list(range(len(pts)))


async def test_second_copy_of_a_stored_batch_counts_as_duplicates(
    patrol_settings: Callable[..., Any], token: Callable[[str], str]
) -> None:
    auth = token(RANGER)
    start = hours_ago(1)
    pts = walk(start, 100)
    async with running(patrol_settings()) as srv:
        c = srv.client
        pid = str(uuid.uuid4())
        await start_patrol(c, auth, pid, start)
        r = await _post(c, auth, pid, pts + pts[:3])
        assert r.json() == {"accepted": 103, "duplicates": 3}
        await wait_points(c, auth, pid, 100)
        r = await _post(c, auth, pid, pts[50:])
        assert r.json() == {"accepted": 50, "duplicates": 50}
