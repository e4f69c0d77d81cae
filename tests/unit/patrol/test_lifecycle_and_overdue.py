"""Pure tests of the patrol lifecycle checks, the overdue rule and the GCJ-02 conversion."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from services.patrol.domain import overdue, patrol
from services.patrol.domain.coords import gcj02_to_wgs84
from shared.errors import Conflict, InvalidInput
from shared.geo import haversine_m, wgs84_to_gcj02

NOW = datetime(2026, 3, 15, 8, tzinfo=UTC)
RULES = patrol.IngestRules(
    future_tolerance_s=300, late_points_accept_s=86400, max_points_per_batch=1000
)


def test_fix_times_must_lie_between_start_and_five_minutes_ahead() -> None:
    start = NOW - timedelta(hours=1)
    ahead = NOW + timedelta(seconds=299)

    def check(*times: datetime) -> None:
        stamps = patrol.fix_times([t.isoformat() for t in times])
        patrol.check_times(stamps, started_at=start, now=NOW, rules=RULES)

    check(start, ahead)
    with pytest.raises(InvalidInput) as e:
        check(start, NOW + timedelta(seconds=301))
    assert e.value.field == "points[1].t"
    with pytest.raises(InvalidInput) as e:
        check(start - timedelta(seconds=1))
    assert e.value.field == "points[0].t" and "before" in e.value.message


def test_fix_times_read_rfc3339_in_any_zone_and_name_an_impossible_date() -> None:
    assert patrol.fix_times(
        ["2026-11-23T02:55:11Z", "2026-11-23t10:55:11.5+08:00", "2026-11-23 02:55:11z"]
    ) == [1795402511.0, 1795402511.5, 1795402511.0]
    with pytest.raises(InvalidInput) as e:
        patrol.fix_times(["2026-02-28T00:00:00Z", "2026-02-30T00:00:00Z"])
    assert e.value.field == "points[1].t"
    assert re.match(patrol.RFC3339, "2026-11-23T02:55:11+08:00")
    assert not re.match(patrol.RFC3339, "2026-01-01T00:00:00")  # no zone


def test_points_are_accepted_for_24_hours_after_the_finish() -> None:
    ended = NOW - timedelta(hours=23)
    patrol.check_batch_open(ended_at=ended, finished_at=ended, now=NOW, rules=RULES)
    with pytest.raises(Conflict):
        patrol.check_batch_open(
            ended_at=ended - timedelta(hours=2), finished_at=None, now=NOW, rules=RULES
        )


def test_resent_start_or_finish_must_match() -> None:
    patrol.same_start("r", NOW, "r", NOW)
    with pytest.raises(Conflict):
        patrol.same_start("r", NOW, "r", NOW + timedelta(seconds=1))
    with pytest.raises(Conflict):
        patrol.same_finish(NOW, NOW + timedelta(seconds=1))
    with pytest.raises(InvalidInput):
        patrol.check_finish(NOW, NOW - timedelta(seconds=1), NOW, 300)


def test_overdue_after_an_hour_of_silence_only_while_active() -> None:
    start = NOW - timedelta(hours=2)
    seen = NOW - timedelta(minutes=59)
    assert (
        overdue.overdue_since(
            finished=False, started_at=start, last_seen_at=seen, now=NOW, overdue_after_s=3600
        )
        is None
    )
    seen = NOW - timedelta(minutes=61)
    assert overdue.overdue_since(
        finished=False, started_at=start, last_seen_at=seen, now=NOW, overdue_after_s=3600
    ) == seen + timedelta(hours=1)
    assert (
        overdue.overdue_since(
            finished=True, started_at=start, last_seen_at=seen, now=NOW, overdue_after_s=3600
        )
        is None
    )
    assert overdue.last_seen(start, None, seen) == seen
    assert overdue.overdue_event_id("p") == overdue.overdue_event_id("p")


def test_gcj02_batch_conversion_inverts_the_published_formula() -> None:
    wgs = [(29.41 + i * 0.01, 108.6 + i * 0.02) for i in range(20)]
    gcj = [wgs84_to_gcj02(lat, lon) for lat, lon in wgs]
    lats, lons = gcj02_to_wgs84([g[0] for g in gcj], [g[1] for g in gcj])
    for (lat, lon), la, lo in zip(wgs, lats, lons, strict=True):
        assert haversine_m(lat, lon, la, lo) < 0.01
    assert haversine_m(*wgs[0], *gcj[0]) > 100  # the offset is real (hundreds of metres)
