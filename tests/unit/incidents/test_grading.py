"""Fire grades at every boundary of 森林防火条例 art. 40 (以上 includes, 以下 excludes), the worst
criterion winning, and the start levels of the policy."""

from __future__ import annotations

import pytest

from services.incidents.domain.grading import (
    FireGrade,
    grade_by_area,
    grade_by_deaths,
    grade_by_injuries,
    grade_fire,
    required_level,
)
from shared.policy import Policy

G, L, M, X = FireGrade.GENERAL, FireGrade.LARGE, FireGrade.MAJOR, FireGrade.EXTRAORDINARY


@pytest.mark.parametrize(
    ("area", "grade"),
    [(0, G), (0.99, G), (1.0, L), (99.99, L), (100.0, M), (999.9, M), (1000.0, X), (5e4, X)],
)
def test_area_bounds(area: float, grade: FireGrade) -> None:
    assert grade_by_area(area) is grade


@pytest.mark.parametrize(
    ("deaths", "grade"), [(0, G), (1, G), (2, G), (3, L), (9, L), (10, M), (29, M), (30, X)]
)
def test_death_bounds(deaths: int, grade: FireGrade) -> None:
    assert grade_by_deaths(deaths) is grade


@pytest.mark.parametrize(
    ("injuries", "grade"),
    [(0, G), (1, G), (9, G), (10, L), (49, L), (50, M), (99, M), (100, X)],
)
def test_serious_injury_bounds(injuries: int, grade: FireGrade) -> None:
    assert grade_by_injuries(injuries) is grade


def test_worst_criterion_sets_the_grade() -> None:
    assert grade_fire(0.5, deaths=3) is L
    assert grade_fire(150, deaths=1, serious_injuries=100) is X
    assert grade_fire(1000, deaths=0, serious_injuries=0) is X
    assert grade_fire(0.1) is G


def demand(type_: str, **kw: object) -> tuple[int, bool]:
    policy = Policy()
    d = required_level(
        type_=type_,
        family=policy.family_of(type_),
        details=dict(kw.get("details", {})),  # type: ignore[call-overload]
        near_district_boundary=bool(kw.get("near", False)),
        pixels=kw.get("pixels"),  # type: ignore[arg-type]
        policy=policy,
    )
    return d.level, d.police


def test_start_levels_follow_the_policy() -> None:
    assert demand("fire") == (0, False)
    assert demand("fire", details={"casualties": 1}) == (3, False)
    assert demand("fire", details={"burned_area_ha": 0.99}) == (0, False)
    assert demand("fire", details={"burned_area_ha": 1.0}) == (3, False)
    assert demand("smoke", near=True) == (3, False)
    assert demand("hotspot", pixels=2) == (0, False)
    assert demand("hotspot", pixels=3) == (3, False)
    assert demand("sos") == (2, False)
    assert demand("illegal_logging") == (0, True)
    assert demand("poaching", details={"protected_wildlife": True}) == (2, True)
    assert demand("illegal_digging", details={"in_progress": True}) == (2, True)
    assert demand("land_occupation", details={"area_mu": 4.9}) == (0, True)
    assert demand("land_occupation", details={"area_mu": 5}) == (2, True)
    assert demand("land_occupation", details={"area_mu": 9, "forest_kind": "commercial"}) == (
        0,
        True,
    )
    assert demand("land_occupation", details={"area_mu": 10, "forest_kind": "commercial"}) == (
        2,
        True,
    )
    assert demand("pest") == (0, False)
