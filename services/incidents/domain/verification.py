"""Verification of unverified incidents (public or satellite): the nearest ranger on patrol is
named so the village chain can send them. Pure: positions are given, nothing is read here."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.geo import haversine_m


@dataclass(frozen=True)
class RangerPosition:
    ranger_id: str
    lat: float
    lon: float
    t: datetime
    on_patrol: bool = True


def nearest_ranger(
    positions: Iterable[RangerPosition],
    lat: float,
    lon: float,
    *,
    now: datetime,
    max_age_s: float,
) -> str | None:
    """The ranger on patrol closest to the point, among positions no older than `max_age_s`."""
    oldest = now - timedelta(seconds=max_age_s)
    best: tuple[float, str] | None = None
    for p in positions:
        if not p.on_patrol or p.t < oldest:
            continue
        d = haversine_m(lat, lon, p.lat, p.lon)
        if best is None or (d, p.ranger_id) < best:
            best = (d, p.ranger_id)
    return None if best is None else best[1]
