"""Chiefs' duty (林长巡林): each chief patrols their own area once a period — village chiefs
weekly, township chiefs monthly, district chiefs quarterly by default — and is reminded when the
period is about to end with the duty unmet.

Periods are local calendar periods: an ISO week (Monday to Sunday), a month, a quarter, a year.
A duty patrol is a chief's patrol of at least the policy's duration and distance; a patrol across
the end of a period counts in the period it started in (a chief does not meet two duties with one
walk)."""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from shared.policy.models import ChiefDuty


@dataclass(frozen=True)
class Period:
    kind: str  # week | month | quarter | year
    first: date
    last: date  # inclusive

    @property
    def label(self) -> str:
        """`2026-W49`, `2026-12`, `2026-Q4`, `2026`."""
        if self.kind == "week":
            year, week, _ = self.first.isocalendar()
            return f"{year}-W{week:02d}"
        if self.kind == "month":
            return f"{self.first.year}-{self.first.month:02d}"
        if self.kind == "quarter":
            return f"{self.first.year}-Q{(self.first.month - 1) // 3 + 1}"
        return str(self.first.year)

    def holds(self, day: date) -> bool:
        return self.first <= day <= self.last

    def ends_at(self, tz: tzinfo) -> datetime:
        """The instant the period ends: local midnight after its last day."""
        nxt = self.last + timedelta(days=1)
        return datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz)


def period_of(kind: str, day: date) -> Period:
    """The period of a kind holding a local day."""
    if kind == "week":
        first = day - timedelta(days=day.weekday())
        return Period(kind, first, first + timedelta(days=6))
    if kind == "month":
        last = calendar.monthrange(day.year, day.month)[1]
        return Period(kind, day.replace(day=1), day.replace(day=last))
    if kind == "quarter":
        m0 = (day.month - 1) // 3 * 3 + 1
        last_month = m0 + 2
        return Period(
            kind,
            date(day.year, m0, 1),
            date(day.year, last_month, calendar.monthrange(day.year, last_month)[1]),
        )
    if kind == "year":
        return Period(kind, date(day.year, 1, 1), date(day.year, 12, 31))
    raise ValueError(f"unknown period kind {kind!r}")


@dataclass(frozen=True)
class ChiefPatrol:
    """One patrol of a chief, as the read model keeps it."""

    patrol_id: str
    started_on: date  # the local day it started
    duration_s: float
    distance_m: float


@dataclass(frozen=True)
class DutyStatus:
    person: str
    period: Period
    met: bool
    duty_patrols: tuple[str, ...]  # ids of the patrols that count, oldest first
    remind: bool  # unmet, and the period ends within the policy's warning time


def duty_period(rule: ChiefDuty, level: str, day: date) -> Period | None:
    """The duty period of a chief of a unit at `level` holding `day` (None: no duty there)."""
    kind = rule.period_by_level.get(level)
    return period_of(kind, day) if kind else None


def duty_status(
    *,
    person: str,
    period: Period,
    patrols: Iterable[ChiefPatrol],
    rule: ChiefDuty,
    now: datetime,
    tz: tzinfo,
) -> DutyStatus:
    """Whether a chief's duty for a period is met by their patrols, and whether to remind them
    now (`now` aware; only while the period runs, and only when unmet)."""
    counted = sorted(
        (
            p
            for p in patrols
            if period.holds(p.started_on)
            and p.duration_s >= rule.min_duration_s
            and p.distance_m >= rule.min_distance_m
        ),
        key=lambda p: (p.started_on, p.patrol_id),
    )
    met = bool(counted)
    ends = period.ends_at(tz)
    left = (ends - now).total_seconds()
    starts = datetime(period.first.year, period.first.month, period.first.day, tzinfo=tz)
    remind = not met and now >= starts and 0 < left <= rule.remind_before_s
    return DutyStatus(
        person=person,
        period=period,
        met=met,
        duty_patrols=tuple(p.patrol_id for p in counted),
        remind=remind,
    )
