"""Pure tests of the track rules: ordering, distance, quality flags, incremental summaries."""

from __future__ import annotations

import math
import random

import pytest

from services.patrol.domain.track import (
    Fix,
    QualityRules,
    can_extend,
    count_known,
    duration_s,
    extend,
    haversine_m,
    inside_boundary,
    merge_ranges,
    order_fixes,
    summarize,
)
from shared.org import load_org

RULES = QualityRules(max_speed_kmh=30, jump_m=1000, jump_within_s=60, gap_s=600)


def line(n: int, *, step_s: float = 15, dlat: float = 0.0001, t0: float = 1e9) -> list[Fix]:
    return [Fix(i, t0 + i * step_s, 29.41 + i * dlat, 108.648) for i in range(n)]


def test_haversine_matches_a_known_distance() -> None:
    # One degree of latitude on a sphere of radius 6371008.8 m.
    assert haversine_m(0, 0, 1, 0) == pytest.approx(6371008.8 * math.pi / 180, rel=1e-12)
    assert haversine_m(29.4, 108.6, 29.4, 108.6) == 0


def test_order_keeps_last_copy_of_a_seq_and_sorts_by_time() -> None:
    fixes = [Fix(2, 30, 1, 1), Fix(1, 20, 0, 0), Fix(2, 10, 2, 2)]
    assert order_fixes(fixes) == [Fix(2, 10, 2, 2), Fix(1, 20, 0, 0)]


def test_distance_is_the_same_in_any_arrival_order_and_with_resends() -> None:
    fixes = line(200)
    shuffled = fixes + fixes[:50]
    random.Random(7).shuffle(shuffled)
    a, b = summarize(fixes, RULES), summarize(shuffled, RULES)
    assert a.points == b.points == 200
    assert a.distance_m == pytest.approx(b.distance_m, rel=1e-12)
    assert a.distance_m == pytest.approx(199 * 0.0001 * 6371008.8 * math.pi / 180, rel=1e-6)


def test_extend_in_order_equals_summarizing_everything() -> None:
    fixes = line(300)
    inside = inside_boundary(load_org(None).unit("500114001001").boundary)
    summary = summarize(fixes[:100], RULES, inside)
    for chunk in (fixes[100:180], fixes[180:300]):
        assert can_extend(summary, chunk)
        summary = extend(summary, chunk, RULES, inside)
    whole = summarize(fixes, RULES, inside)
    assert summary.points == whole.points
    assert summary.distance_m == pytest.approx(whole.distance_m, rel=1e-12)
    assert summary.seq_ranges == whole.seq_ranges == ((0, 299),)
    assert summary.flags == whole.flags


def test_extend_is_refused_for_resends_and_earlier_fixes() -> None:
    fixes = line(100)
    summary = summarize(fixes[50:], RULES)
    assert not can_extend(summary, fixes[:10])  # earlier in time
    assert not can_extend(summary, fixes[60:70])  # already stored
    assert not can_extend(summary, [])
    dup = [Fix(200, 2e9, 0, 0), Fix(200, 2e9 + 1, 0, 0)]
    assert not can_extend(summary, dup)


def test_speed_jump_and_gap_are_flagged() -> None:
    t0 = 1e9
    fixes = [
        Fix(0, t0, 29.41, 108.648),
        Fix(1, t0 + 60, 29.4105, 108.648),  # 56 m/min: walking
        Fix(2, t0 + 90, 29.4305, 108.648),  # 2.2 km in 30 s: a jump and a speed
        Fix(3, t0 + 90 + 700, 29.4306, 108.648),  # 700 s silence: a gap
        Fix(4, t0 + 90 + 700 + 3600, 29.4306 + 0.09, 108.648),  # 10 km in 1 h: 10 km/h, fine
        Fix(5, t0 + 90 + 700 + 3600 + 600, 29.4306 + 0.09 + 0.05, 108.648),  # 5.5 km/10 min
    ]
    flags = summarize(fixes, RULES).flags
    assert (flags.speed, flags.jumps, flags.gaps) == (2, 1, 2)
    assert flags.examples["jump"] == [2]
    assert flags.examples["speed"] == [2, 5]
    assert flags.examples["gap"] == [3, 4]
    assert set(flags.names()) == {"speed", "jump", "gap"}


def test_points_outside_the_village_are_flagged() -> None:
    inside = inside_boundary(load_org(None).unit("500114001001").boundary)
    fixes = [Fix(0, 0, 29.41, 108.648), Fix(1, 1000, 29.50, 108.75), Fix(2, 2000, 29.41, 108.648)]
    flags = summarize(fixes, QualityRules(1e6, 1e9, 1, 1e9), inside).flags
    assert flags.outside == 1
    assert flags.examples["outside_village"] == [1]


def test_seq_ranges_merge_and_count() -> None:
    ranges = merge_ranges([(0, 4), (10, 12)], [5, 6, 9, 20])
    assert ranges == ((0, 6), (9, 12), (20, 20))
    assert count_known(ranges, [0, 6, 7, 8, 9, 12, 13, 20, 21]) == 5


def test_duration_runs_to_the_finish_or_the_latest_fix() -> None:
    assert duration_s(100, 400, Fix(0, 900, 0, 0)) == 300
    assert duration_s(100, None, Fix(0, 900, 0, 0)) == 800
    assert duration_s(100, None, None) == 0
