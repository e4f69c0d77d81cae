"""The simulator's plan of a district day is realistic where the services will check it: tracks
stay in the ranger's village at walking speed, every point is uploaded (some twice, some late),
a ranger never walks two patrols at once, and the day's stories cross the thresholds they test."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from shared.geo import haversine_m
from shared.org import load_org
from sim.cli import parse_duration
from sim.world import plan_day, plan_patrols, plan_uploads, villages_of, walk

ORG = load_org()


def test_walk_stays_inside_the_village_at_walking_speed() -> None:
    rng = random.Random(3)
    for village in villages_of(ORG):
        track = walk(village, rng, start_s=0, duration_s=3600)
        assert len(track) == 241  # one sample every 15 s, both ends included
        for s in track:
            located = ORG.locate(s.lat, s.lon)
            assert located is not None and located.code == village.code
        for a, b in zip(track, track[1:], strict=False):
            kmh = haversine_m(a.lat, a.lon, b.lat, b.lon) / (b.t_s - a.t_s) * 3.6
            assert kmh < 12, kmh  # GPS noise included, far below the 30 km/h flag


@pytest.mark.parametrize("seed", range(20))
def test_every_point_is_uploaded_at_least_once_in_batches_of_at_most_1000(seed: int) -> None:
    rng = random.Random(seed)
    village = villages_of(ORG)[seed % 9]
    track = walk(village, rng, start_s=100, duration_s=rng.uniform(600, 5 * 3600))
    uploads = plan_uploads(track, rng, offline_prob=0.8, resend_prob=0.2, max_batch=300)
    first = Counter(s.seq for u in uploads if not u.resend for s in u.samples)
    assert set(first) == {s.seq for s in track}
    assert all(n == 1 for n in first.values())
    assert all(0 < len(u.samples) <= 300 for u in uploads)
    # nothing is uploaded before it was recorded
    assert all(u.at_s >= max(s.t_s for s in u.samples) for u in uploads)


def test_an_offline_gap_becomes_one_late_burst() -> None:
    rng = random.Random(11)
    village = villages_of(ORG)[0]
    track = walk(village, rng, start_s=0, duration_s=3 * 3600)
    uploads = plan_uploads(track, rng, offline_prob=1.0, resend_prob=0.0, upload_every_s=120)
    biggest = max(len(u.samples) for u in uploads)
    assert biggest >= 600 / 15  # at least a 10-minute gap sent at once


def test_a_ranger_never_walks_two_patrols_at_once() -> None:
    plans = plan_patrols(ORG, random.Random(5), walkers=200, day_s=8 * 3600)
    assert len(plans) == 200
    by_ranger: dict[str, list[tuple[float, float]]] = {}
    for p in plans:
        assert ORG.person(p.ranger_id) is not None
        by_ranger.setdefault(p.ranger_id, []).append((p.start_s, p.end_s))
    for spans in by_ranger.values():
        spans.sort()
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            assert end < start


def test_the_day_has_a_fire_crossing_every_area_band_and_one_near_a_boundary() -> None:
    plan = plan_day(ORG, random.Random(2), walkers=20, day_s=8 * 3600)
    growing = [r for r in plan.reports if r.scenario == "fire-growing"]
    areas = [r.details["burned_area_ha"] for r in growing]
    assert areas == sorted(areas) and areas[0] < 1 < 20 < 100 < areas[-1]
    first = growing[0]
    assert all(haversine_m(first.lat, first.lon, r.lat, r.lon) < 1000 for r in growing)
    (boundary,) = [r for r in plan.reports if r.scenario == "fire-boundary"]
    assert ORG.neighbours_within(boundary.lat, boundary.lon, 1000)
    assert {r.type for r in plan.reports} >= {"fire", "pest", "smoke"}
    assert any(r.person_id.startswith("pub-") for r in plan.reports)
    assert plan.hotspots and len(plan.hotspots[0].rows) >= 3
    assert len({r.report_id for r in plan.reports}) == len(plan.reports)


def test_the_same_seed_plans_the_same_day() -> None:
    a = plan_day(ORG, random.Random(9), walkers=30, day_s=3600)
    b = plan_day(ORG, random.Random(9), walkers=30, day_s=3600)
    assert [p.patrol_id for p in a.patrols] == [p.patrol_id for p in b.patrols]
    assert [(r.lat, r.lon) for r in a.reports] == [(r.lat, r.lon) for r in b.reports]


@pytest.mark.parametrize(
    ("text", "seconds"), [("8h", 28800), ("90m", 5400), ("1h30m", 5400), ("45", 45), ("10s", 10)]
)
def test_durations_parse(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds
