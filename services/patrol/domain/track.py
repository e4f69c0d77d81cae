"""A patrol's track: ordering, great-circle distance, duration and quality flags (轨迹质量).

Pure: no I/O, no await, no clock. Times are UTC epoch seconds (floats) so a 10,000-point track is
summarised without building datetimes. A point is identified by its `seq` within the patrol: the
last copy of a seq wins, and every summary is computed over points sorted by (time, seq).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from shared.geo import EARTH_RADIUS_M

Inside = Callable[[Sequence["Fix"]], list[bool]]  # which fixes lie inside the ranger's village


class Fix(NamedTuple):
    """One GPS fix: seq (per patrol), t (UTC epoch seconds), WGS-84 lat/lon, accuracy in metres."""

    seq: int
    t: float
    lat: float
    lon: float
    accuracy_m: float | None = None


@dataclass(frozen=True)
class QualityRules:
    """Thresholds for track evidence (DOMAIN.md: flag impossible speeds, jumps, long gaps)."""

    max_speed_kmh: float  # faster than this on foot is impossible (> 30 km/h)
    jump_m: float  # a displacement of at least this …
    jump_within_s: float  # … within this many seconds is a jump (GPS glitch or a vehicle)
    gap_s: float  # no fix for longer than this is a gap (> 10 min)


@dataclass(frozen=True)
class QualityFlags:
    """Counts of each flag, plus the first few examples (seq pairs / seqs) as evidence."""

    speed: int = 0
    jumps: int = 0
    gaps: int = 0
    gap_s_total: float = 0.0
    outside: int = 0
    examples: dict[str, list[int]] = field(default_factory=dict)

    MAX_EXAMPLES = 10

    def names(self) -> list[str]:
        """The flags raised, e.g. ["speed", "gap"]."""
        out = []
        if self.speed:
            out.append("speed")
        if self.jumps:
            out.append("jump")
        if self.gaps:
            out.append("gap")
        if self.outside:
            out.append("outside_village")
        return out


@dataclass(frozen=True)
class TrackSummary:
    """What the patrol keeps about its track; enough to extend it with later fixes in order."""

    points: int = 0
    distance_m: float = 0.0
    first: Fix | None = None
    last: Fix | None = None
    flags: QualityFlags = QualityFlags()
    seq_ranges: tuple[tuple[int, int], ...] = ()  # stored seqs as inclusive, sorted ranges


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


_by_time = operator.itemgetter(1, 0)  # (t, seq)


def order_fixes(fixes: Iterable[Fix]) -> list[Fix]:
    """Unique by seq (the last copy given wins), sorted by (t, seq)."""
    by_seq: dict[int, Fix] = {}
    for f in fixes:
        by_seq[f.seq] = f
    return sorted(by_seq.values(), key=_by_time)


def path_distance_m(fixes: Sequence[Fix]) -> float:
    """Great-circle length of the fixes in the order given."""
    total = 0.0
    for a, b in zip(fixes, fixes[1:], strict=False):
        total += haversine_m(a.lat, a.lon, b.lat, b.lon)
    return total


# --- seq ranges ---------------------------------------------------------------------------------


def merge_ranges(
    ranges: Iterable[tuple[int, int]], seqs: Iterable[int] = ()
) -> tuple[tuple[int, int], ...]:
    """Union of inclusive ranges and single seqs: sorted disjoint ranges, adjacent ones joined."""
    singles = sorted(set(seqs))
    if singles and singles[-1] - singles[0] + 1 == len(singles):
        seqs = ()  # the usual batch: one run of consecutive seqs is one range
        ranges = [*ranges, (singles[0], singles[-1])]
    else:
        seqs = singles
    items = sorted([*ranges, *((s, s) for s in seqs)])
    out: list[list[int]] = []
    for lo, hi in items:
        if out and lo <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return tuple((lo, hi) for lo, hi in out)


def count_known(ranges: Sequence[tuple[int, int]], seqs: Iterable[int]) -> int:
    """How many of `seqs` fall inside the ranges (binary search per seq)."""
    import bisect

    if not ranges:
        return 0
    seqs = list(seqs)
    if not seqs or min(seqs) > ranges[-1][1] or max(seqs) < ranges[0][0]:
        return 0  # the usual live batch: every seq after everything stored
    los = [lo for lo, _ in ranges]
    n = 0
    for s in seqs:
        i = bisect.bisect_right(los, s) - 1
        if i >= 0 and ranges[i][1] >= s:
            n += 1
    return n


# --- quality --------------------------------------------------------------------------------------


def _segment_flags(a: Fix, b: Fix, rules: QualityRules) -> tuple[bool, bool, bool, float, float]:
    """(speed, jump, gap, gap seconds, metres) for the segment a→b (b not before a)."""
    dt = b.t - a.t
    d = haversine_m(a.lat, a.lon, b.lat, b.lon)
    speed = d > 0 and (dt <= 0 or d / dt * 3.6 > rules.max_speed_kmh)
    jump = d >= rules.jump_m and dt <= rules.jump_within_s
    gap = dt > rules.gap_s
    return speed, jump, gap, dt if gap else 0.0, d


def _add_flags(
    flags: QualityFlags,
    ordered: Sequence[Fix],
    rules: QualityRules,
    inside: Sequence[bool] | None,
    previous: Fix | None,
) -> tuple[QualityFlags, float]:
    """The flags with these fixes added, and the metres they add (one haversine a segment)."""
    distance = 0.0
    speed, jumps, gaps, gap_total, outside = (
        flags.speed,
        flags.jumps,
        flags.gaps,
        flags.gap_s_total,
        flags.outside,
    )
    examples = {k: list(v) for k, v in flags.examples.items()}

    def note(name: str, seq: int) -> None:
        lst = examples.setdefault(name, [])
        if len(lst) < QualityFlags.MAX_EXAMPLES:
            lst.append(seq)

    prev = previous
    for i, f in enumerate(ordered):
        if prev is not None:
            s, j, g, gs, d = _segment_flags(prev, f, rules)
            distance += d
            if s:
                speed += 1
                note("speed", f.seq)
            if j:
                jumps += 1
                note("jump", f.seq)
            if g:
                gaps += 1
                gap_total += gs
                note("gap", f.seq)
        if inside is not None and not inside[i]:
            outside += 1
            note("outside_village", f.seq)
        prev = f
    return QualityFlags(speed, jumps, gaps, gap_total, outside, examples), distance


def summarize(
    fixes: Iterable[Fix], rules: QualityRules, inside: Inside | None = None
) -> TrackSummary:
    """The summary of a whole track (any order, duplicates allowed)."""
    ordered = order_fixes(fixes)
    if not ordered:
        return TrackSummary()
    flags, distance = _add_flags(
        QualityFlags(), ordered, rules, inside(ordered) if inside is not None else None, None
    )
    return TrackSummary(
        points=len(ordered),
        distance_m=distance,
        first=ordered[0],
        last=ordered[-1],
        flags=flags,
        seq_ranges=merge_ranges((), (f.seq for f in ordered)),
    )


def can_extend(summary: TrackSummary, fixes: Sequence[Fix]) -> bool:
    """True when every fix is new (seq never stored) and after the track's last fix by (t, seq):
    then `extend` gives exactly what `summarize` over all points would."""
    if not fixes:
        return False
    seqs = [f.seq for f in fixes]
    if len(set(seqs)) != len(seqs):
        return False
    if count_known(summary.seq_ranges, seqs):
        return False
    if summary.last is None:
        return True
    last = summary.last
    return min((f.t, f.seq) for f in fixes) > (last.t, last.seq)


def extend(
    summary: TrackSummary,
    fixes: Sequence[Fix],
    rules: QualityRules,
    inside: Inside | None = None,
) -> TrackSummary:
    """Append fixes that `can_extend` accepted; O(len(fixes)), not O(track)."""
    ordered = order_fixes(fixes)
    if not ordered:
        return summary
    flags, distance = _add_flags(
        summary.flags,
        ordered,
        rules,
        inside(ordered) if inside is not None else None,
        summary.last,
    )
    return replace(
        summary,
        points=summary.points + len(ordered),
        distance_m=summary.distance_m + distance,
        first=summary.first or ordered[0],
        last=ordered[-1],
        flags=flags,
        seq_ranges=merge_ranges(summary.seq_ranges, (f.seq for f in ordered)),
    )


def duration_s(started_at: float, ended_at: float | None, last: Fix | None) -> float:
    """Seconds of the patrol: start to finish once finished, else start to the latest fix."""
    if ended_at is not None:
        return max(0.0, ended_at - started_at)
    if last is None:
        return 0.0
    return max(0.0, last.t - started_at)


def inside_boundary(boundary: object) -> Inside:
    """An `Inside` test for a (lon, lat) shapely polygon; points on the edge count as inside."""
    import shapely

    shapely.prepare(boundary)

    def test(fixes: Sequence[Fix]) -> list[bool]:
        if not fixes:
            return []
        lons = [f.lon for f in fixes]
        lats = [f.lat for f in fixes]
        return [bool(v) for v in shapely.intersects_xy(boundary, lons, lats)]

    return test
