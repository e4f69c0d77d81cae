"""Helpers for the incidents service's integration tests: a running app on its own topics and
database, a short-deadline policy file, and report bodies placed in demo villages."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.org import load_org

ORG = load_org(None)
VILLAGE = "500114001001"
OTHER_VILLAGE = "500114002002"


def point_in(village: str) -> tuple[float, float]:
    """A point deep inside the village (its representative point)."""
    return ORG.unit(village).point


def near_edge(own: str, neighbour: str, *, inside_m: float = 300.0) -> tuple[float, float]:
    """A point in `own`, about `inside_m` from the edge it shares with `neighbour`: a report
    there is shared with the neighbour's chain (`neighbour_units`)."""
    edge = ORG.unit(own).boundary.intersection(ORG.unit(neighbour).boundary)
    mid = edge.interpolate(0.5, normalized=True)
    step = inside_m / 111_195
    for lat, lon in ((mid.y + step, mid.x), (mid.y - step, mid.x), (mid.y, mid.x + step),
                     (mid.y, mid.x - step)):  # fmt: skip
        located = ORG.locate(lat, lon)
        if located is not None and located.code == own:
            return lat, lon
    raise AssertionError(f"no point of {own} near its edge with {neighbour}")


def report_body(
    type_: str = "fire",
    *,
    village: str = VILLAGE,
    at: tuple[float, float] | None = None,
    observed_at: datetime | None = None,
    **extra: Any,
) -> dict[str, Any]:
    lat, lon = at or point_in(village)
    body: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "type": type_,
        "lat": lat,
        "lon": lon,
        "observed_at": (observed_at or datetime.now(UTC) - timedelta(seconds=30)).isoformat(),
    }
    body.update(extra)
    return body


SHORT_POLICY = """
escalation:
  deadlines_s:
    fire: [{d0}, {d1}, {d2}]
    smoke: [{d0}, {d1}, {d2}]
  start:
    fire:
      near_boundary: false
"""


@pytest.fixture
def short_policy(tmp_path: Path) -> Callable[..., Path]:
    """Write a policy with short fire deadlines (seconds) to tmp_path; returns its path."""

    def make(d0: float = 1.5, d1: float = 1.5, d2: float = 1.5) -> Path:
        path = tmp_path / "policy.yaml"
        path.write_text(SHORT_POLICY.format(d0=d0, d1=d1, d2=d2))
        return path

    return make
