"""Merging inside and outside each family's window (fire 1 km / 6 h, others 300 m / 24 h)."""

from __future__ import annotations

from services.incidents.domain.merging import find_merge_target, merge_into
from shared.geo import haversine_m
from shared.policy import Policy
from tests.unit.incidents.conftest import LAT, LON, opened, report
from tests.unit.incidents.conftest import later as at

DLAT_100M = 100 / 111_195  # degrees of latitude per 100 m


def north(metres: float) -> float:
    return LAT + DLAT_100M * metres / 100


def test_fire_family_joins_within_1km_and_6h(policy: Policy) -> None:
    fire = opened(report("fire"), policy)
    assert haversine_m(LAT, LON, north(990), LON) < 1000
    assert (
        find_merge_target(
            [fire], report("smoke", id_="r2", lat=north(990), at=at(6 * 3600)), policy
        )
        is fire
    )
    assert find_merge_target([fire], report("hotspot", id_="r3", lat=north(990)), policy) is fire
    assert find_merge_target([fire], report("fire", id_="r4", lat=north(1010)), policy) is None
    assert find_merge_target([fire], report("fire", id_="r5", at=at(6 * 3600 + 1)), policy) is None
    assert find_merge_target([fire], report("pest", id_="r6"), policy) is None


def test_other_families_join_within_300m_and_24h(policy: Policy) -> None:
    pest = opened(report("pest"), policy)
    assert (
        find_merge_target(
            [pest], report("pest", id_="r2", lat=north(295), at=at(24 * 3600)), policy
        )
        is pest
    )
    assert find_merge_target([pest], report("pest", id_="r3", lat=north(305)), policy) is None
    assert find_merge_target([pest], report("pest", id_="r4", at=at(24 * 3600 + 1)), policy) is None
    logging_ = opened(report("illegal_logging"), policy)
    # 四乱 is one family: poaching next to illegal logging joins it.
    assert find_merge_target([logging_], report("poaching", id_="r5"), policy) is logging_


def test_closed_incidents_and_nearest_candidate(policy: Policy) -> None:
    a = opened(report("fire", lat=north(500)), policy).model_copy(update={"id": "a"})
    b = opened(report("fire", lat=north(100)), policy).model_copy(update={"id": "b"})
    assert find_merge_target([a, b], report("fire", id_="r2"), policy) is b
    closed = b.model_copy(update={"status": "closed"})
    assert find_merge_target([a, closed], report("fire", id_="r2"), policy) is a


def test_merge_adds_report_once_and_public_report_does_not_verify(policy: Policy) -> None:
    public = opened(report("smoke", role="public"), policy)
    assert not public.verified
    merged = merge_into(public, report("smoke", id_="r2", role="public"), policy=policy, now=at(60))
    assert merged.incident.report_ids == ("r1", "r2") and not merged.incident.verified
    assert [n.reason for n in merged.notices] == ["report_merged"]
    again = merge_into(merged.incident, report("smoke", id_="r2"), policy=policy, now=at(90))
    assert not again.changed
    seen = merge_into(merged.incident, report("fire", id_="r3"), policy=policy, now=at(120))
    assert seen.incident.verified and [n.reason for n in seen.notices] == ["verified"]


def test_merged_area_regrades_and_reescalates(policy: Policy) -> None:
    fire = opened(report("fire", details={"burned_area_ha": 0.5}), policy)
    assert fire.escalation_level == 0 and fire.severity == "general"
    bigger = merge_into(
        fire, report("fire", id_="r2", details={"burned_area_ha": 1.5}), policy=policy, now=at(60)
    )
    assert bigger.incident.severity == "large" and bigger.incident.escalation_level == 3
    assert [n.kind for n in bigger.notices] == ["updated", "escalated"]
    huge = merge_into(
        bigger.incident,
        report("fire", id_="r3", details={"burned_area_ha": 25}),
        policy=policy,
        now=at(90),
    )
    assert [n.reason for n in huge.notices] == ["report_merged", "area_band_crossed:20ha"]
    smaller = merge_into(
        huge.incident,
        report("fire", id_="r4", details={"burned_area_ha": 2}),
        policy=policy,
        now=at(99),
    )
    assert smaller.incident.details["burned_area_ha"] == 25  # areas only grow


def test_cells_within_hold_every_point_in_reach() -> None:
    """Whatever lies within the merge distance is filed in one of the cells read."""
    import math
    import random

    from services.incidents.domain.merging import cell_of, cells_within
    from shared.geo import haversine_m

    rng = random.Random(5)
    for _ in range(2000):
        lat, lon = rng.uniform(29.0, 29.8), rng.uniform(108.3, 109.0)
        metres = rng.choice([300.0, 1000.0, 2500.0])
        keys = set(cells_within("fire", lat, lon, metres))
        bearing = rng.uniform(0, 2 * math.pi)
        d = rng.uniform(0, metres) * 0.999
        other_lat = lat + d * math.cos(bearing) / 110_574.0
        other_lon = lon + d * math.sin(bearing) / (111_320.0 * math.cos(math.radians(lat)))
        if haversine_m(lat, lon, other_lat, other_lon) <= metres:
            assert cell_of("fire", other_lat, other_lon) in keys


def test_cells_within_reads_only_the_cells_that_reach() -> None:
    from services.incidents.domain.merging import CELL_DEG, cell_of, cells_within

    # The middle of a cell at 29.5° N: it is 1,106 m to the north and south edges, 969 m to the
    # east and west ones. 300 m reaches no neighbour, 1,000 m the east and west ones only.
    lat = (int(29.5 / CELL_DEG) + 0.5) * CELL_DEG
    lon = (int(108.7 / CELL_DEG) + 0.5) * CELL_DEG
    assert cells_within("fire", lat, lon, 300) == [cell_of("fire", lat, lon)]
    assert len(cells_within("fire", lat, lon, 1000)) == 3
    assert cells_within("pest", lat, lon, 0) == [cell_of("pest", lat, lon)]
    # 55 m from a corner, 1,000 m reaches the three other cells around that corner.
    corner_lat = int(lat / CELL_DEG) * CELL_DEG + 0.0005
    corner_lon = int(lon / CELL_DEG) * CELL_DEG + 0.0005
    assert len(cells_within("fire", corner_lat, corner_lon, 1000)) == 4


def test_independent_groups_keep_order_and_join_overlaps() -> None:
    from services.incidents.domain.merging import independent_groups

    batch = [
        ["fire:1:1", "fire:2:1"],  # 0
        ["pest:1:1"],  # 1: another family, same place: independent
        ["fire:5:5"],  # 2
        ["fire:2:1", "fire:3:1"],  # 3: overlaps 0
        ["fire:3:1"],  # 4: overlaps 3, so 0 too (a chain)
        ["fire:5:5"],  # 5: overlaps 2
        ["fire:9:9"],  # 6
    ]
    assert independent_groups(batch) == [[0, 3, 4], [1], [2, 5], [6]]
    assert independent_groups([]) == []
