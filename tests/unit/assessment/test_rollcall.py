"""The daily roll-call worked by hand on the demo district's 石溪镇 (three villages, two rangers
each; the village rule asks ≥ 3000 m and ≥ 1 h in zone)."""

from __future__ import annotations

from datetime import date

import pytest

from services.assessment.domain.rollcall import Missing, RangerDay, rank, roll_call, sheet
from shared.org import OrgDirectory, demo_org_path, load_org
from shared.policy.models import AssessmentPolicy, DailyStandard

DAY = date(2026, 12, 3)
TOWNSHIP = "500114001"
V1, V2, V3 = "500114001001", "500114001002", "500114001003"


@pytest.fixture(scope="module")
def org() -> OrgDirectory:
    return load_org(demo_org_path())


def ranger(village: str, n: int) -> str:
    return f"rg-{village}-{n}"


def day(person: str, *, online: bool = True, patrolled: bool = True, m: float = 0, s: float = 0,
        on: date = DAY) -> RangerDay:
    return RangerDay(person=person, day=on, online=online, patrolled=patrolled,
                     inside_distance_m=m, inside_duration_s=s)


def township_day() -> dict[str, RangerDay]:
    """V1: both met. V2: one met, one patrolled 2.1 km for 50 min. V3: one online only, one
    never heard from."""
    days = [
        day(ranger(V1, 1), m=4200, s=5400),
        day(ranger(V1, 2), m=3000, s=3600),  # exactly the standard counts
        day(ranger(V2, 1), m=3500, s=4000),
        day(ranger(V2, 2), m=2100, s=3000),
        day(ranger(V3, 1), patrolled=False),
    ]
    return {d.person: d for d in days}


def test_a_township_counts_its_rangers_not_an_average_of_its_villages(org: OrgDirectory) -> None:
    call = roll_call(org=org, unit=TOWNSHIP, day=DAY, days=township_day(),
                     policy=AssessmentPolicy())
    assert call.roster == 6
    assert (call.online.count, call.patrolled.count, call.met_standard.count) == (5, 4, 3)
    assert call.online.value == pytest.approx(5 / 6)
    assert call.met_standard.value == pytest.approx(0.5)
    assert not call.online.met and not call.met_standard.met  # 90 % target


def test_those_who_fell_short_are_named_worst_first_with_the_shortfall(
    org: OrgDirectory,
) -> None:
    call = roll_call(org=org, unit=TOWNSHIP, day=DAY, days=township_day(),
                     policy=AssessmentPolicy())
    short = [(s.person, s.missing, s.short_distance_m, s.short_duration_s) for s in call.short]
    assert short == [
        (ranger(V3, 2), Missing.OFFLINE, 3000, 3600),
        (ranger(V3, 1), Missing.NO_PATROL, 3000, 3600),
        (ranger(V2, 2), Missing.BELOW_STANDARD, 900, 600),
    ]
    assert call.short[0].name and call.short[0].village == V3


def test_a_county_standard_in_policy_replaces_the_village_rule(org: OrgDirectory) -> None:
    county = AssessmentPolicy(standard=DailyStandard(min_distance_m=1000, min_duration_s=2700))
    call = roll_call(org=org, unit=V2, day=DAY, days=township_day(), policy=county)
    assert call.met_standard.count == 2  # 2.1 km for 50 min meets 1 km and 45 min


def test_villages_rank_by_standard_then_patrol_then_online_and_ties_share_a_rank(
    org: OrgDirectory,
) -> None:
    days = township_day()
    days[ranger(V3, 1)] = day(ranger(V3, 1), m=3100, s=3700)
    days[ranger(V3, 2)] = day(ranger(V3, 2), m=3000, s=3000)
    # V1 2/2 met; V2 and V3 1/2 met, both 2/2 patrolled and online: they tie for second
    result = sheet(org=org, unit=TOWNSHIP, day=DAY, days=days, policy=AssessmentPolicy())
    ranks = [(c.unit, c.rank, c.ranked_among) for c in result.children]
    assert ranks == [(V1, 1, 3), (V2, 2, 3), (V3, 2, 3)]
    assert result.unit.unit == TOWNSHIP


def test_after_a_tie_the_next_rank_skips(org: OrgDirectory) -> None:
    policy = AssessmentPolicy()
    days = township_day()
    # V2's second ranger meets the standard too: V1 and V2 tie at 2/2, V3 (0/2) comes third
    days[ranger(V2, 2)] = day(ranger(V2, 2), m=3000, s=3600)
    calls = [roll_call(org=org, unit=u, day=DAY, days=days, policy=policy) for u in (V1, V2, V3)]
    assert [(c.unit, c.rank) for c in rank(calls)] == [(V1, 1), (V2, 1), (V3, 3)]


def test_a_kept_day_of_another_date_is_refused(org: OrgDirectory) -> None:
    days = {ranger(V1, 1): day(ranger(V1, 1), on=date(2026, 12, 2))}
    with pytest.raises(ValueError, match="2026-12-02"):
        roll_call(org=org, unit=V1, day=DAY, days=days, policy=AssessmentPolicy())


def test_a_patrol_counts_as_online_even_without_other_requests(org: OrgDirectory) -> None:
    days = {ranger(V1, 1): day(ranger(V1, 1), online=False, m=10, s=10)}
    call = roll_call(org=org, unit=V1, day=DAY, days=days, policy=AssessmentPolicy())
    assert call.online.count == 1 and call.patrolled.count == 1
