"""Pace reminders (履职跟踪提示): mid-month, a ranger whose valid patrol days are behind what the
month's rule needs is reminded, and their village chief sees the list.

From the policy's `from_day` (the 11th by default), a ranger is behind when the valid days so far
are fewer than the month's requirement prorated to the days gone (rounded down: a rule of 20 days
asks for 7 by the 11th of a 30-day month); and, when the rule spreads days over the three ten-day
parts, a part that ended with no valid day is behind on its own. Each reminder has a key naming
person, rule and period, so whoever sends it sends it once."""

from __future__ import annotations

import calendar
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from shared.policy.models import Pace


@dataclass(frozen=True)
class PaceReminder:
    person: str
    rule: str  # "prorated" | "dekad"
    period: str  # "2026-12" or "2026-12/1" (the ten-day part)
    valid_days: int  # valid days so far (in the part, for "dekad")
    needed: int  # what the rule needs by now

    @property
    def key(self) -> str:
        """Once per person per rule per period."""
        return f"{self.person}|{self.rule}|{self.period}"


def _dekad_last_day(year: int, month: int, dekad: int) -> int:
    return {1: 10, 2: 20, 3: calendar.monthrange(year, month)[1]}[dekad]


def pace_reminders(
    *,
    person: str,
    today: date,
    valid_days: Iterable[date],
    required: int,
    spread_over_dekads: bool,
    rule: Pace,
) -> list[PaceReminder]:
    """The reminders due for a ranger at the end of `today` (a local day of the month): the days
    before and including today have been counted. `required` is the month's full requirement
    (fire season and any 禁火令 multiplier already applied)."""
    month = f"{today.year}-{today.month:02d}"
    counted = sorted({d for d in valid_days if (d.year, d.month) == (today.year, today.month)})
    so_far = [d for d in counted if d <= today]
    out: list[PaceReminder] = []
    if today.day >= rule.from_day and required:
        n_days = calendar.monthrange(today.year, today.month)[1]
        needed = math.floor(required * today.day / n_days + 1e-9)
        if len(so_far) < needed:
            out.append(PaceReminder(person, "prorated", month, len(so_far), needed))
    if spread_over_dekads and rule.dekad_without_valid_day and required:
        for dekad in (1, 2, 3):
            if today.day != _dekad_last_day(today.year, today.month, dekad):
                continue
            lo = {1: 1, 2: 11, 3: 21}[dekad]
            in_part = [d for d in so_far if d.day >= lo]
            if not in_part:
                out.append(PaceReminder(person, "dekad", f"{month}/{dekad}", 0, 1))
    return out


def new_reminders(due: Iterable[PaceReminder], sent: set[str]) -> list[PaceReminder]:
    """Those of `due` whose key has not been sent yet (the caller records the keys it sends)."""
    out: list[PaceReminder] = []
    for reminder in due:
        if reminder.key not in sent:
            sent.add(reminder.key)
            out.append(reminder)
    return out
