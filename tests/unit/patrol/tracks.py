"""Track generators shared by the patrol unit and integration tests (no I/O)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

# 枫香村 (500114001001) spans about lat 29.40–29.46 at lon 108.648; 白岩村 lies north of it.
INSIDE_ORIGIN = (29.41, 108.648)
OUTSIDE_ORIGIN = (29.50, 108.75)
M_PER_DEG_LAT = 6371008.8 * math.pi / 180


def out_and_back(
    start: datetime,
    *,
    steps: int,
    step_m: float = 80.0,
    step_s: float = 60.0,
    origin: tuple[float, float] = INSIDE_ORIGIN,
    seq0: int = 0,
) -> list[dict[str, Any]]:
    """Walk north `steps // 2` steps and back south, one fix every step_s (4.8 km/h default):
    `steps` segments of step_m each (the first fix is at `start`)."""
    out = []
    half = steps // 2
    for i in range(steps + 1):
        k = i if i <= half else 2 * half - i
        out.append(
            {
                "seq": seq0 + i,
                "t": start + timedelta(seconds=i * step_s),
                "lat": origin[0] + k * step_m / M_PER_DEG_LAT,
                "lon": origin[1],
                "accuracy_m": 5.0,
            }
        )
    return out


def local_morning(year: int, month: int, day: int, hour: int = 8) -> datetime:
    """`hour` o'clock China time (UTC+8) as an aware UTC datetime."""
    return datetime(year, month, day, hour, tzinfo=UTC) - timedelta(hours=8)


def march_plan() -> list[tuple[int, str]]:
    """A hand-worked March (fire season: 20 valid days, ≥ 6 per ten-day part) for one ranger:
    (day, kind) with kinds: valid (6.4 km, 80 min inside), short (2.4 km), brief (4 km in 50 min),
    outside (all in another village), half (2.4 km inside, then 4 km outside)."""
    plan = [(d, "valid") for d in range(1, 8)]  # 上旬 7 valid
    plan += [(8, "short"), (9, "brief")]
    plan += [(d, "valid") for d in range(11, 17)]  # 中旬 6 valid
    plan += [(17, "outside"), (18, "half")]
    plan += [(d, "valid") for d in range(21, 26)]  # 下旬 5 valid
    return plan


# Expected from march_plan: 18 valid days < 20 required; 下旬 5 < 6; 22 days patrolled.
MARCH_EXPECTED = {"valid_days": 18, "days_patrolled": 22, "dekads": (7, 6, 5)}


def day_track(year: int, month: int, day: int, kind: str, seq0: int = 0) -> list[dict[str, Any]]:
    start = local_morning(year, month, day)
    if kind == "valid":
        return out_and_back(start, steps=80, seq0=seq0)
    if kind == "short":
        return out_and_back(start, steps=30, step_s=160, seq0=seq0)  # 2.4 km in 80 min
    if kind == "brief":
        return out_and_back(start, steps=50, step_s=60, seq0=seq0)  # 4 km in 50 min
    if kind == "outside":
        return out_and_back(start, steps=80, origin=OUTSIDE_ORIGIN, seq0=seq0)
    if kind == "half":
        first = out_and_back(start, steps=30, step_s=120, seq0=seq0)  # 2.4 km, 60 min inside
        later = start + timedelta(hours=2)
        return first + out_and_back(later, steps=50, origin=OUTSIDE_ORIGIN, seq0=seq0 + len(first))
    raise ValueError(kind)
