"""Chiefs' duty periods and when a chief is reminded, on a fake clock (local time UTC+8)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from services.assessment.domain.duty import ChiefPatrol, duty_period, duty_status, period_of
from shared.policy.models import ChiefDuty

CST = timezone(timedelta(hours=8))
RULE = ChiefDuty()


def at(y: int, m: int, d: int, h: int = 12) -> datetime:
    return datetime(y, m, d, h, tzinfo=CST)


def test_periods_are_local_calendar_weeks_months_quarters_and_years() -> None:
    week = period_of("week", date(2026, 12, 3))  # a Thursday
    assert (week.first, week.last) == (date(2026, 11, 30), date(2026, 12, 6))
    assert week.label == "2026-W49"
    month = period_of("month", date(2027, 2, 14))
    assert (month.first, month.last) == (date(2027, 2, 1), date(2027, 2, 28))
    assert month.label == "2027-02"
    quarter = period_of("quarter", date(2026, 11, 5))
    assert (quarter.first, quarter.last, quarter.label) == (
        date(2026, 10, 1), date(2026, 12, 31), "2026-Q4")
    assert period_of("year", date(2026, 6, 1)).label == "2026"
    assert period_of("week", date(2027, 1, 1)).label == "2026-W53"  # ISO week of a Friday


def test_each_level_has_its_default_period() -> None:
    day = date(2026, 12, 3)
    assert duty_period(RULE, "village", day).kind == "week"  # type: ignore[union-attr]
    assert duty_period(RULE, "township", day).kind == "month"  # type: ignore[union-attr]
    assert duty_period(RULE, "district", day).kind == "quarter"  # type: ignore[union-attr]
    assert duty_period(ChiefDuty(period_by_level={}), "village", day) is None


def test_a_short_walk_does_not_meet_the_duty_and_a_full_one_does() -> None:
    period = period_of("week", date(2026, 12, 3))
    short = ChiefPatrol("p1", date(2026, 12, 1), duration_s=1800, distance_m=2500)
    full = ChiefPatrol("p2", date(2026, 12, 2), duration_s=3600, distance_m=1000)
    assert not duty_status(person="vc", period=period, patrols=[short], rule=RULE,
                           now=at(2026, 12, 3), tz=CST).met
    status = duty_status(person="vc", period=period, patrols=[short, full], rule=RULE,
                         now=at(2026, 12, 3), tz=CST)
    assert status.met and status.duty_patrols == ("p2",) and not status.remind


def test_a_patrol_counts_in_the_period_it_started_in_only() -> None:
    sunday_night = ChiefPatrol("p", date(2026, 12, 6), duration_s=7200, distance_m=5000)
    this_week = period_of("week", date(2026, 12, 6))
    next_week = period_of("week", date(2026, 12, 7))
    kw = {"patrols": [sunday_night], "rule": RULE, "tz": CST}
    assert duty_status(person="vc", period=this_week, now=at(2026, 12, 6), **kw).met
    assert not duty_status(person="vc", period=next_week, now=at(2026, 12, 7), **kw).met


def test_an_unmet_chief_is_reminded_within_two_days_of_the_period_end_and_not_before() -> None:
    period = period_of("week", date(2026, 12, 3))  # ends at local midnight after Sun 6 Dec
    kw = {"person": "vc", "period": period, "patrols": [], "rule": RULE, "tz": CST}
    assert not duty_status(now=at(2026, 12, 4, 23), **kw).remind  # 49 h left
    assert duty_status(now=at(2026, 12, 5, 0), **kw).remind  # 48 h left
    assert duty_status(now=at(2026, 12, 6, 23), **kw).remind
    assert not duty_status(now=at(2026, 12, 7, 0), **kw).remind  # over: the next week's turn
