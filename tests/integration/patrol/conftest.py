"""Helpers for the patrol service's integration tests: a running service on the real broker and
store, an HTTP client, an independent great-circle distance, and track generators."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.patrol.app import create_app
from services.patrol.settings import PatrolSettings
from tests.support.kafka import wait_until
from tests.support.server import serve

RANGER = "rg-500114001001-1"
RANGER_2 = "rg-500114001001-2"
OTHER_VILLAGE_RANGER = "rg-500114001002-1"
VILLAGE = "500114001001"
# A point well inside 枫香村 (500114001001) and one in another village.
HOME = (29.435, 108.648)
AWAY = (29.50, 108.75)


def vincenty_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Independent check: Vincenty's inverse formula on the WGS-84 ellipsoid (not haversine)."""
    a, f = 6378137.0, 1 / 298.257223563
    b = (1 - f) * a
    if lat1 == lat2 and lon1 == lon2:
        return 0.0
    u1 = math.atan((1 - f) * math.tan(math.radians(lat1)))
    u2 = math.atan((1 - f) * math.tan(math.radians(lat2)))
    lam = L = math.radians(lon2 - lon1)
    for _ in range(200):
        sl, cl = math.sin(lam), math.cos(lam)
        ss = math.hypot(
            math.cos(u2) * sl, math.cos(u1) * math.sin(u2) - math.sin(u1) * math.cos(u2) * cl
        )
        if ss == 0:
            return 0.0
        cs = math.sin(u1) * math.sin(u2) + math.cos(u1) * math.cos(u2) * cl
        sig = math.atan2(ss, cs)
        sa = math.cos(u1) * math.cos(u2) * sl / ss
        c2a = 1 - sa * sa
        c2sm = cs - 2 * math.sin(u1) * math.sin(u2) / c2a if c2a else 0.0
        C = f / 16 * c2a * (4 + f * (4 - 3 * c2a))
        prev = lam
        lam = L + (1 - C) * f * sa * (sig + C * ss * (c2sm + C * cs * (-1 + 2 * c2sm * c2sm)))
        if abs(lam - prev) < 1e-12:
            break
    u_sq = c2a * (a * a - b * b) / (b * b)
    A = 1 + u_sq / 16384 * (4096 + u_sq * (-768 + u_sq * (320 - 175 * u_sq)))
    B = u_sq / 1024 * (256 + u_sq * (-128 + u_sq * (74 - 47 * u_sq)))
    ds = (
        B
        * ss
        * (
            c2sm
            + B
            / 4
            * (
                cs * (-1 + 2 * c2sm * c2sm)
                - B / 6 * c2sm * (-3 + 4 * ss * ss) * (-3 + 4 * c2sm * c2sm)
            )
        )
    )
    return b * A * (sig - ds)


def independent_length_m(points: list[dict[str, Any]]) -> float:
    ordered = sorted(points, key=lambda p: (p["t"], p["seq"]))
    return sum(
        vincenty_m(a["lat"], a["lon"], b["lat"], b["lon"])
        for a, b in zip(ordered, ordered[1:], strict=False)
    )


def walk(
    start: datetime,
    n: int,
    *,
    origin: tuple[float, float] = HOME,
    step_s: float = 15.0,
    step_deg: float = 0.0001,
    seq0: int = 0,
) -> list[dict[str, Any]]:
    """n fixes, one every step_s seconds, zig-zagging north-east from origin (≈ 1.3 m/s)."""
    out = []
    for i in range(n):
        k = seq0 + i
        out.append(
            {
                "seq": k,
                "t": (start + timedelta(seconds=k * step_s)).isoformat(),
                "lat": origin[0] + k * step_deg,
                "lon": origin[1] + (k % 7) * step_deg * 0.5 + k * step_deg * 0.3,
                "accuracy_m": 5.0,
            }
        )
    return out


def as_fix_dicts(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**p, "t": datetime.fromisoformat(p["t"]).timestamp()} for p in points]


@pytest.fixture
def patrol_settings(settings_for: Callable[..., Any]) -> Callable[..., PatrolSettings]:
    def make(**overrides: Any) -> PatrolSettings:
        base = {"patrol_ingest_cache_s": 0.0, "patrol_overdue_scan_s": 3600.0}
        return settings_for(PatrolSettings, **{**base, **overrides})  # type: ignore[no-any-return]

    return make


@asynccontextmanager
async def running(settings: PatrolSettings, **kw: Any) -> AsyncIterator[Any]:
    app = create_app(settings, **kw)
    async with serve(app) as srv:
        async with httpx.AsyncClient(base_url=srv.url, timeout=30) as client:
            srv.client = client  # type: ignore[attr-defined]
            srv.service = app.state.patrol  # type: ignore[attr-defined]
            yield srv


async def start_patrol(
    client: httpx.AsyncClient, auth: str, patrol_id: str, started_at: datetime
) -> httpx.Response:
    return await client.post(
        "/v1/patrols",
        json={"id": patrol_id, "started_at": started_at.isoformat()},
        headers={"Authorization": auth},
    )


async def wait_points(
    client: httpx.AsyncClient, auth: str, patrol_id: str, n: int, timeout_s: float = 20
) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        r = await client.get(f"/v1/patrols/{patrol_id}", headers={"Authorization": auth})
        body: dict[str, Any] = r.json()
        return body if r.status_code == 200 and body["points"] >= n else None

    result: dict[str, Any] = await wait_until(check, timeout_s)
    return result


def hours_ago(h: float) -> datetime:
    return (datetime.now(UTC) - timedelta(hours=h)).replace(microsecond=0)
