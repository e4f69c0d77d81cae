"""Pure tests of patrol compliance: a hand-worked month of patrols inside and outside the zone."""

from __future__ import annotations

from datetime import UTC, date, timedelta, timezone

from services.patrol.domain.compliance import PatrolTrack, dekad_of, evaluate, patrol_days
from services.patrol.domain.track import Fix, QualityRules, inside_boundary
from shared.org import load_org
from tests.unit.patrol.tracks import MARCH_EXPECTED, day_track, march_plan

ORG = load_org(None)
VILLAGE = "500114001001"
RULE = ORG.village_rule(VILLAGE)
INSIDE = inside_boundary(ORG.unit(VILLAGE).boundary)
QUALITY = QualityRules(max_speed_kmh=30, jump_m=1000, jump_within_s=60, gap_s=600)
CST = timezone(timedelta(hours=8))


def to_track(pid: str, pts: list[dict[str, object]]) -> PatrolTrack:
    fixes = [Fix(p["seq"], p["t"].timestamp(), p["lat"], p["lon"]) for p in pts]  # type: ignore[attr-defined,arg-type]
    return PatrolTrack(pid, fixes[0].t, fixes[-1].t - fixes[0].t, fixes)


def run(plan: list[tuple[int, str]], month: int, *, start_day: int = 1, end_day: int | None = None):  # type: ignore[no-untyped-def]
    patrols = [to_track(f"p{d}", day_track(2026, month, d, kind)) for d, kind in plan]
    last = end_day or (31 if month in (3, 5, 7) else 30)
    return evaluate(
        ranger_id="r",
        village=VILLAGE,
        rule=RULE,
        patrols=patrols,
        inside=INSIDE,
        quality=QUALITY,
        start=date(2026, month, start_day),
        end=date(2026, month, last),
        tz=CST,
    )


def test_hand_worked_fire_season_month_falls_short_on_days_and_last_dekad() -> None:
    res = run(march_plan(), 3)
    assert RULE.in_fire_season(3) and RULE.valid_days_required(3) == 20
    assert res.valid_days == MARCH_EXPECTED["valid_days"]
    assert res.days_patrolled == MARCH_EXPECTED["days_patrolled"]
    (m,) = res.months
    assert m.required == 20 and m.dekad_required == 6
    assert m.dekad_valid_days == MARCH_EXPECTED["dekads"]
    assert not res.compliant
    codes = [(s.code, s.dekad, s.required, s.actual) for s in res.shortfalls]
    assert codes == [("valid_days", None, 20, 18), ("dekad", 3, 6, 5)]
    assert "下旬" in res.shortfalls[1].zh and "days 21–end" in res.shortfalls[1].en
    by_day = {d.day.day: d for d in res.days}
    assert by_day[17].inside_distance_m == 0 and by_day[17].distance_m > 6000  # outside the zone
    assert 2350 < by_day[18].inside_distance_m < 2450  # only the part inside counts
    assert not by_day[8].valid and not by_day[9].valid and by_day[1].valid
    assert by_day[9].inside_duration_s == 3000


def test_month_outside_fire_season_needs_ten_days_spread_over_three_dekads() -> None:
    plan = [(d, "valid") for d in (1, 3, 5, 7, 11, 13, 15, 17, 21, 23, 25, 27)]
    res = run(plan, 6)
    assert res.months[0].required == 10 and res.months[0].dekad_required == 3
    assert res.compliant and res.valid_days == 12
    crowded = [(d, "valid") for d in range(1, 11)] + [(21, "valid")]
    res = run(crowded, 6)
    assert res.valid_days == 11 and not res.compliant
    assert [(s.code, s.dekad) for s in res.shortfalls] == [("dekad", 2), ("dekad", 3)]


def test_a_partial_month_prorates_and_judges_only_whole_dekads() -> None:
    res = run([(d, "valid") for d in range(1, 11)], 3, end_day=15)
    (m,) = res.months
    assert m.covered_days == 15 and m.required == 10  # ceil(20 × 15 / 31)
    assert m.dekads_checked == (1,)
    assert res.compliant


def test_day_boundaries_are_local_time() -> None:
    # 23:30 local on the 5th is 15:30 UTC on the 5th; the walk runs past local midnight.
    pts = day_track(2026, 6, 5, "valid")
    shifted = [{**p, "t": p["t"] + timedelta(hours=15, minutes=30)} for p in pts]
    res = run([], 6)
    res = evaluate(
        ranger_id="r",
        village=VILLAGE,
        rule=RULE,
        patrols=[to_track("x", shifted)],
        inside=INSIDE,
        quality=QUALITY,
        start=date(2026, 6, 1),
        end=date(2026, 6, 30),
        tz=CST,
    )
    assert [d.day.day for d in res.days] == [5, 6]
    assert shifted[0]["t"].astimezone(UTC).day == 5


def test_dekads() -> None:
    assert [dekad_of(d) for d in (1, 10, 11, 20, 21, 31)] == [1, 1, 2, 2, 3, 3]


def test_day_summaries_of_the_patrols_give_the_same_compliance_as_their_fixes() -> None:
    patrols = [to_track(f"p{d}", day_track(2026, 3, d, kind)) for d, kind in march_plan()]
    # A patrol over local midnight splits between two days.
    late = day_track(2026, 3, 30, "valid")
    shifted = [{**p, "t": p["t"] + timedelta(hours=15, minutes=30)} for p in late]
    patrols.append(to_track("p-night", shifted))
    summaries = [patrol_days(p, INSIDE, QUALITY, CST) for p in patrols]
    assert len(summaries[-1].days) == 2
    common = dict(ranger_id="r", village=VILLAGE, rule=RULE, inside=INSIDE, quality=QUALITY)
    period = dict(start=date(2026, 3, 1), end=date(2026, 3, 31), tz=CST)
    from_fixes = evaluate(patrols=patrols, **common, **period)  # type: ignore[arg-type]
    from_days = evaluate(patrols=summaries, **common, **period)  # type: ignore[arg-type]
    assert from_days.valid_days == from_fixes.valid_days
    assert from_days.shortfalls == from_fixes.shortfalls
    assert from_days.months == from_fixes.months
    for a, b in zip(from_days.days, from_fixes.days, strict=True):
        assert a.day == b.day and a.valid == b.valid
        assert abs(a.inside_distance_m - b.inside_distance_m) < 1e-6
        assert abs(a.inside_duration_s - b.inside_duration_s) < 1e-6


def test_a_patrol_without_fixes_has_no_day_and_no_latest_fix() -> None:
    empty = patrol_days(PatrolTrack("p0", 1_000.0, 0.0, []), INSIDE, QUALITY, CST)
    assert empty.days == () and empty.last_fix_t is None
