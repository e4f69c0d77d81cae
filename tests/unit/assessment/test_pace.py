"""Pace reminders (履职跟踪提示) worked by hand on a December (fire season in the demo rule: 20
valid days a month, spread over the three ten-day parts)."""

from __future__ import annotations

import math
from datetime import date

from services.assessment.domain.pace import new_reminders, pace_reminders
from shared.policy.models import Pace

RULE = Pace()


def dec(*days: int) -> list[date]:
    return [date(2026, 12, d) for d in days]


def due(today: int, valid: list[date], required: int = 20, spread: bool = True) -> list[tuple]:
    return [
        (r.rule, r.period, r.valid_days, r.needed)
        for r in pace_reminders(person="rg", today=date(2026, 12, today), valid_days=valid,
                                required=required, spread_over_dekads=spread, rule=RULE)
    ]


def test_nothing_is_asked_before_the_eleventh() -> None:
    assert due(9, []) == []


def test_a_part_that_ends_with_no_valid_day_is_behind_on_its_own() -> None:
    assert due(10, []) == [("dekad", "2026-12/1", 0, 1)]
    assert due(10, dec(10)) == []


def test_from_the_eleventh_fewer_days_than_the_rule_prorated_is_behind() -> None:
    # 20 days over 31: by the 11th floor(20 * 11 / 31) = 7
    assert due(11, dec(1, 2, 3, 4, 5, 6)) == [("prorated", "2026-12", 6, 7)]
    assert due(11, dec(1, 2, 3, 4, 5, 6, 11)) == []
    # by the 20th floor(20 * 20 / 31) = 12; the second part had days, so only the pace
    assert due(20, dec(1, 2, 3, 4, 5, 6, 11)) == [("prorated", "2026-12", 7, 12)]


def test_days_of_another_month_and_after_today_do_not_count() -> None:
    valid = [date(2026, 11, 30), *dec(1, 2, 3, 4, 5, 6, 25)]
    assert due(11, valid) == [("prorated", "2026-12", 6, 7)]


def test_a_fire_ban_raises_what_is_needed_by_now() -> None:
    raised = math.ceil(20 * 1.5)  # the 禁火令 multiplier, applied by the caller: 30 days
    # by the 11th floor(30 * 11 / 31) = 10 against floor(20 * 11 / 31) = 7 without the ban
    assert due(11, dec(*range(1, 10)), required=raised) == [("prorated", "2026-12", 9, 10)]
    assert due(11, dec(*range(1, 11)), required=raised) == []
    assert due(11, dec(*range(1, 10)), required=20) == []


def test_the_last_part_ends_on_the_months_last_day() -> None:
    valid = dec(*range(1, 21))
    assert due(30, valid) == []
    assert due(31, valid) == [("dekad", "2026-12/3", 0, 1)]


def test_without_the_spread_rule_no_part_is_checked() -> None:
    assert due(10, [], spread=False) == []


def test_each_reminder_is_sent_once_per_person_rule_and_period() -> None:
    sent: set[str] = set()
    first = pace_reminders(person="rg", today=date(2026, 12, 11), valid_days=[], required=20,
                           spread_over_dekads=True, rule=RULE)
    again = pace_reminders(person="rg", today=date(2026, 12, 12), valid_days=[], required=20,
                           spread_over_dekads=True, rule=RULE)
    assert [r.key for r in new_reminders(first, sent)] == ["rg|prorated|2026-12"]
    assert new_reminders(again, sent) == []
    other = pace_reminders(person="rg2", today=date(2026, 12, 12), valid_days=[], required=20,
                           spread_over_dekads=True, rule=RULE)
    assert [r.key for r in new_reminders(other, sent)] == ["rg2|prorated|2026-12"]
