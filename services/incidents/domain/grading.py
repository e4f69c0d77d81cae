"""Grading: fire grade from burned area and casualties (森林防火条例 2008, art. 40), and the level
an incident must have reached given its facts (start rules from the policy file). Pure, no clock.

The grade bounds are the law's, not policy: "以上" includes the bound, "以下" excludes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from shared.policy import Policy


class FireGrade(IntEnum):
    """森林火灾等级; ordered so the worst criterion is the max."""

    GENERAL = 0  # 一般
    LARGE = 1  # 较大
    MAJOR = 2  # 重大
    EXTRAORDINARY = 3  # 特别重大

    @property
    def label(self) -> str:
        return self.name.lower()


# art. 40 lower bounds of LARGE, MAJOR, EXTRAORDINARY per criterion (each bound included).
AREA_BOUNDS_HA = (1.0, 100.0, 1000.0)
DEATH_BOUNDS = (3, 10, 30)
INJURY_BOUNDS = (10, 50, 100)


def _by_bounds(value: float, bounds: tuple[float, ...]) -> FireGrade:
    grade = FireGrade.GENERAL
    for i, bound in enumerate(bounds):
        if value >= bound:
            grade = FireGrade(i + 1)
    return grade


def grade_by_area(area_ha: float) -> FireGrade:
    return _by_bounds(area_ha, AREA_BOUNDS_HA)


def grade_by_deaths(deaths: int) -> FireGrade:
    return _by_bounds(deaths, DEATH_BOUNDS)


def grade_by_injuries(serious_injuries: int) -> FireGrade:
    return _by_bounds(serious_injuries, INJURY_BOUNDS)


def grade_fire(area_ha: float, deaths: int = 0, serious_injuries: int = 0) -> FireGrade:
    """The worst of the three criteria (art. 40)."""
    return max(grade_by_area(area_ha), grade_by_deaths(deaths), grade_by_injuries(serious_injuries))


@dataclass(frozen=True)
class FireFacts:
    area_ha: float = 0.0
    deaths: int = 0
    serious_injuries: int = 0
    casualties: int = 0  # anyone hurt or killed (deaths + injuries of any kind)


# Report `details` keys the service understands, with the kind of value each must have.
NUMERIC_DETAILS: dict[str, type] = {
    "burned_area_ha": float,
    "deaths": int,
    "serious_injuries": int,
    "injuries": int,
    "casualties": int,
    "dead_trees": int,
    "area_mu": float,
}
BOOLEAN_DETAILS: tuple[str, ...] = ("flame_out", "in_progress", "protected_wildlife")


def _num(details: dict[str, Any], key: str) -> float:
    value = details.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value)


def fire_facts(details: dict[str, Any]) -> FireFacts:
    deaths = int(_num(details, "deaths"))
    serious = int(_num(details, "serious_injuries"))
    injuries = int(_num(details, "injuries"))
    casualties = max(int(_num(details, "casualties")), deaths + max(serious, injuries))
    return FireFacts(
        area_ha=_num(details, "burned_area_ha"),
        deaths=deaths,
        serious_injuries=serious,
        casualties=casualties,
    )


def severity_of(family: str, details: dict[str, Any]) -> str:
    """Fire family: the art. 40 grade; other families: "general" (no graded scale in law)."""
    if family != "fire":
        return FireGrade.GENERAL.label
    f = fire_facts(details)
    return grade_fire(f.area_ha, f.deaths, f.serious_injuries).label


def merge_details(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Facts of a merged report: counts and areas only grow (max), other keys take the newest."""
    merged = dict(old)
    for key, value in new.items():
        if key in NUMERIC_DETAILS and key in merged:
            merged[key] = max(_num(merged, key), _num(new, key))
            if NUMERIC_DETAILS[key] is int:
                merged[key] = int(merged[key])
        else:
            merged[key] = value
    return merged


@dataclass(frozen=True)
class LevelDemand:
    """The level the facts demand, why, and whether the township police is in the chain."""

    level: int
    reasons: tuple[str, ...]
    police: bool


def required_level(
    *,
    type_: str,
    family: str,
    details: dict[str, Any],
    near_district_boundary: bool,
    pixels: int | None,
    policy: Policy,
) -> LevelDemand:
    """Start level from the policy's start rules (DOMAIN.md "Fire reporting", 四乱, SOS)."""
    start = policy.escalation.start
    level = policy.start_level(type_)
    reasons: list[str] = []
    police = False
    if family == "fire":
        rules = start.fire
        f = fire_facts(details)
        serious: list[str] = []
        if rules.any_casualty and f.casualties > 0:
            serious.append(f"casualties reported ({f.casualties})")
        if f.area_ha >= rules.min_area_ha:
            serious.append(f"burned area {f.area_ha:g} ha ≥ {rules.min_area_ha:g} ha")
        if rules.near_boundary and near_district_boundary:
            serious.append("near the district boundary")
        if type_ == "hotspot" and (pixels or 0) >= rules.hotspot_min_pixels:
            serious.append(f"hotspot cluster of {pixels} pixels ≥ {rules.hotspot_min_pixels}")
        if serious:
            level = max(level, rules.serious_level)
            reasons += serious
    elif family == "sisluan":
        rules4 = start.sisluan
        level = max(level, rules4.start_level)
        serious = []
        if rules4.in_progress and details.get("in_progress") is True:
            serious.append("in progress")
        if rules4.protected_wildlife and details.get("protected_wildlife") is True:
            serious.append("protected wildlife involved")
        if type_ == "land_occupation":
            mu = _num(details, "area_mu")
            commercial = details.get("forest_kind") == "commercial"
            bound = (
                rules4.land_occupation_min_mu_commercial
                if commercial
                else rules4.land_occupation_min_mu_public_welfare
            )
            if mu >= bound:
                serious.append(f"forest land occupied {mu:g} 亩 ≥ {bound:g} 亩")
        if serious:
            level = max(level, rules4.serious_level)
            reasons += serious
    level = min(level, policy.escalation.max_level)
    if family == "sisluan":
        police = level >= start.sisluan.police_at_level
    if type_ in start.by_type and not reasons and level > start.default:
        reasons.append(f"{type_} starts at level {level}")
    return LevelDemand(level=level, reasons=tuple(reasons), police=police)


def area_band(area_ha: float, bands: tuple[float, ...]) -> float:
    """The highest band bound the area has reached (0 below the first)."""
    reached = 0.0
    for bound in bands:
        if area_ha >= bound:
            reached = bound
    return reached
