"""Patrol compliance (巡护考核): valid patrol days, valid days per month in and out of the fire
season (防火期), their spread over the month's three ten-day parts (上中下旬), and what falls short.

Pure: no I/O, no await, no clock. Rules (DOMAIN.md, the village's PatrolRule in the org file):
- a valid patrol day has ≥ min_distance_m and ≥ min_duration_s INSIDE the ranger's own village;
  a segment between two consecutive fixes counts only when both ends lie inside the village, it is
  not faster than the speed limit (impossible speeds are not evidence), and — for its time — it is
  not a gap (a segment longer than gap_s credits its distance but not its time);
  a segment belongs to the local day on which it starts;
- a month needs valid_days_required(month) valid days (× a fire-ban multiplier when a 禁火令/封山令
  covers the village that month), prorated when the period covers only part of the month;
- with spread_over_dekads, each ten-day part fully inside the period needs at least a third
  (rounded down) of the month's full requirement.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo

from services.patrol.domain.track import Fix, Inside, QualityRules, haversine_m
from shared.org import PatrolRule

DEKADS = ("上旬", "中旬", "下旬")
DEKADS_EN = ("days 1–10", "days 11–20", "days 21–end")


@dataclass(frozen=True)
class PatrolTrack:
    """One patrol of the ranger with its fixes (any order; unique by seq)."""

    patrol_id: str
    started_at: float  # epoch seconds UTC
    duration_s: float
    fixes: Sequence[Fix]


@dataclass(frozen=True)
class DayPart:
    """One patrol's share of one local day: its segments that start on that day."""

    day: date
    distance_m: float = 0.0
    duration_s: float = 0.0
    inside_distance_m: float = 0.0
    inside_duration_s: float = 0.0


@dataclass(frozen=True)
class PatrolDays:
    """One patrol reduced to what compliance needs of it: its share of each local day with a fix
    (oldest first) and its latest fix time. Whatever the patrol's length, this is a few numbers a
    day, so it can be kept and summed instead of its fixes."""

    patrol_id: str
    started_at: float  # epoch seconds UTC
    duration_s: float
    days: tuple[DayPart, ...] = ()
    last_fix_t: float | None = None


@dataclass
class DayTotals:
    day: date
    distance_m: float = 0.0
    duration_s: float = 0.0
    inside_distance_m: float = 0.0
    inside_duration_s: float = 0.0
    valid: bool = False


@dataclass(frozen=True)
class Shortfall:
    """One thing that falls short, in Chinese and in English."""

    code: str  # "valid_days" | "dekad"
    month: str  # "2026-03"
    required: int
    actual: int
    zh: str
    en: str
    dekad: int | None = None  # 1..3 for a ten-day part


@dataclass(frozen=True)
class MonthResult:
    month: str
    fire_season: bool
    covered_days: int
    days_in_month: int
    required: int  # prorated to the days covered
    valid_days: int
    dekad_valid_days: tuple[int, int, int]
    dekad_required: int | None  # per fully covered ten-day part; None when no spread rule
    dekads_checked: tuple[int, ...]


@dataclass(frozen=True)
class RangerCompliance:
    ranger_id: str
    village: str
    patrols: int
    days_patrolled: int
    valid_days: int
    distance_m: float
    duration_s: float
    inside_distance_m: float
    inside_duration_s: float
    compliant: bool
    months: tuple[MonthResult, ...]
    shortfalls: tuple[Shortfall, ...]
    days: tuple[DayTotals, ...] = field(default_factory=tuple)


def dekad_of(day: int) -> int:
    """1 for days 1–10 (上旬), 2 for 11–20 (中旬), 3 for 21–end (下旬)."""
    return 1 if day <= 10 else 2 if day <= 20 else 3


def dekad_span(year: int, month: int, dekad: int) -> tuple[date, date]:
    """First and last day of a ten-day part."""
    last = calendar.monthrange(year, month)[1]
    lo, hi = {1: (1, 10), 2: (11, 20), 3: (21, last)}[dekad]
    return date(year, month, lo), date(year, month, hi)


def patrol_days(
    patrol: PatrolTrack, inside: Inside, quality: QualityRules, tz: tzinfo
) -> PatrolDays:
    """A patrol's share of each local day: distance and time, all and inside the village."""
    by_seq = {f.seq: f for f in patrol.fixes}
    ordered = sorted(by_seq.values(), key=lambda f: (f.t, f.seq))
    if not ordered:
        return PatrolDays(patrol.patrol_id, patrol.started_at, patrol.duration_s)
    parts: dict[date, list[float]] = {}

    def local_day(t: float) -> date:
        return datetime.fromtimestamp(t, UTC).astimezone(tz).date()

    flags = inside(ordered)
    for i, f in enumerate(ordered):
        parts.setdefault(local_day(f.t), [0.0, 0.0, 0.0, 0.0])
        if i == 0:
            continue
        a = ordered[i - 1]
        dt = f.t - a.t
        dist = haversine_m(a.lat, a.lon, f.lat, f.lon)
        totals = parts.setdefault(local_day(a.t), [0.0, 0.0, 0.0, 0.0])
        totals[0] += dist
        totals[1] += dt
        plausible = dist == 0 or (dt > 0 and dist / dt * 3.6 <= quality.max_speed_kmh)
        if flags[i - 1] and flags[i] and plausible:
            totals[2] += dist
            if dt <= quality.gap_s:
                totals[3] += dt
    return PatrolDays(
        patrol_id=patrol.patrol_id,
        started_at=patrol.started_at,
        duration_s=patrol.duration_s,
        days=tuple(DayPart(d, *parts[d]) for d in sorted(parts)),
        last_fix_t=ordered[-1].t,
    )


def day_totals(
    patrols: Sequence[PatrolTrack | PatrolDays],
    inside: Inside,
    rule: PatrolRule,
    quality: QualityRules,
    tz: tzinfo,
) -> dict[date, DayTotals]:
    """Per local day: distance and time, all and inside the village; `valid` per the rule."""
    days: dict[date, DayTotals] = {}
    for patrol in patrols:
        if isinstance(patrol, PatrolTrack):
            patrol = patrol_days(patrol, inside, quality, tz)
        for part in patrol.days:
            totals = days.setdefault(part.day, DayTotals(part.day))
            totals.distance_m += part.distance_m
            totals.duration_s += part.duration_s
            totals.inside_distance_m += part.inside_distance_m
            totals.inside_duration_s += part.inside_duration_s
    for totals in days.values():
        totals.valid = (
            totals.inside_distance_m >= rule.min_distance_m
            and totals.inside_duration_s >= rule.min_duration_s
        )
    return days


def _months(start: date, end: date) -> list[tuple[int, int]]:
    out = []
    y, m = start.year, start.month
    while (y, m) <= (end.year, end.month):
        out.append((y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def evaluate(
    *,
    ranger_id: str,
    village: str,
    rule: PatrolRule,
    patrols: Sequence[PatrolTrack | PatrolDays],
    inside: Inside,
    quality: QualityRules,
    start: date,
    end: date,
    tz: tzinfo,
    multiplier: Callable[[int, int], float] = lambda _y, _m: 1.0,
) -> RangerCompliance:
    """Compliance of one ranger over local days start..end (both included), from the patrols'
    fixes or from their day summaries (`patrol_days`), which give the same answer."""
    if end < start:
        raise ValueError("end before start")
    all_days = day_totals(patrols, inside, rule, quality, tz)
    days = {d: t for d, t in all_days.items() if start <= d <= end}
    months: list[MonthResult] = []
    shortfalls: list[Shortfall] = []
    for y, m in _months(start, end):
        n_days = calendar.monthrange(y, m)[1]
        m_lo, m_hi = max(start, date(y, m, 1)), min(end, date(y, m, n_days))
        covered = (m_hi - m_lo).days + 1
        full = math.ceil(rule.valid_days_required(m) * multiplier(y, m) - 1e-9)
        required = math.ceil(full * covered / n_days - 1e-9)
        valid = [d for d, t in days.items() if t.valid and d.year == y and d.month == m]
        per_dekad = [0, 0, 0]
        for d in valid:
            per_dekad[dekad_of(d.day) - 1] += 1
        label = f"{y:04d}-{m:02d}"
        if len(valid) < required:
            shortfalls.append(
                Shortfall(
                    code="valid_days",
                    month=label,
                    required=required,
                    actual=len(valid),
                    zh=f"{y}年{m}月有效巡护天数 {len(valid)} 天，少于要求的 {required} 天",
                    en=f"{label}: {len(valid)} valid patrol days, {required} required",
                )
            )
        dekad_required: int | None = None
        checked: list[int] = []
        if rule.spread_over_dekads:
            dekad_required = full // len(DEKADS)
            for k in (1, 2, 3):
                lo, hi = dekad_span(y, m, k)
                if lo < start or hi > end:
                    continue  # only ten-day parts wholly inside the period are judged
                checked.append(k)
                got = per_dekad[k - 1]
                if got < dekad_required:
                    shortfalls.append(
                        Shortfall(
                            code="dekad",
                            month=label,
                            required=dekad_required,
                            actual=got,
                            dekad=k,
                            zh=(
                                f"{y}年{m}月{DEKADS[k - 1]}有效巡护 {got} 天，"
                                f"少于要求的 {dekad_required} 天"
                            ),
                            en=(
                                f"{label} {DEKADS_EN[k - 1]}: {got} valid patrol days, "
                                f"{dekad_required} required"
                            ),
                        )
                    )
        months.append(
            MonthResult(
                month=label,
                fire_season=rule.in_fire_season(m),
                covered_days=covered,
                days_in_month=n_days,
                required=required,
                valid_days=len(valid),
                dekad_valid_days=(per_dekad[0], per_dekad[1], per_dekad[2]),
                dekad_required=dekad_required,
                dekads_checked=tuple(checked),
            )
        )
    ordered_days = tuple(days[d] for d in sorted(days))
    return RangerCompliance(
        ranger_id=ranger_id,
        village=village,
        patrols=len(patrols),
        days_patrolled=len(days),
        valid_days=sum(1 for t in days.values() if t.valid),
        distance_m=sum(t.distance_m for t in days.values()),
        duration_s=sum(p.duration_s for p in patrols),
        inside_distance_m=sum(t.inside_distance_m for t in days.values()),
        inside_duration_s=sum(t.inside_duration_s for t in days.values()),
        compliant=not shortfalls,
        months=tuple(months),
        shortfalls=tuple(shortfalls),
        days=ordered_days,
    )


def local_period(start: date, end: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """UTC instants [from, to) covering local days start..end, for loading patrols."""
    lo = datetime(start.year, start.month, start.day, tzinfo=tz).astimezone(UTC)
    hi = datetime(end.year, end.month, end.day, tzinfo=tz) + timedelta(days=1)
    return lo, hi.astimezone(UTC)
