"""FIRMS parsing (MODIS and VIIRS), bad rows listed, low confidence dropped, clustering by pixel
footprint; the nearest ranger on patrol."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.incidents.domain.hotspots import (
    MissingColumns,
    cluster,
    is_low_confidence,
    parse_csv,
    parse_rows,
)
from services.incidents.domain.verification import RangerPosition, nearest_ranger
from shared.policy import Policy

NOW = datetime(2026, 3, 15, 8, 0, tzinfo=UTC)
MODIS = (
    "latitude,longitude,brightness,scan,track,acq_date,acq_time,satellite,confidence,frp,daynight"
)
VIIRS = (
    "latitude,longitude,bright_ti4,scan,track,acq_date,acq_time,satellite,confidence,frp,daynight"
)


def test_modis_rows_parsed_bad_rows_listed_with_number_and_reason() -> None:
    text = "\n".join(
        [
            MODIS,
            "29.5,108.7,330.5,1.0,1.0,2026-03-15,0530,Terra,85,12.1,D",
            "29.5,108.7,330.5,1.0,1.0,2026-03-15,2530,Terra,85,12.1,D",
            "95,108.7,330.5,1.0,1.0,2026-03-15,0530,Terra,85,12.1,D",
            "29.5,108.7,330.5,1.0,1.0,2026-03-16,0530,Terra,85,12.1,D",
            "29.5,108.7,330.5,1.0,1.0,2026-03-15,530,Aqua,85,12.1,N",
        ]
    )
    parsed = parse_csv(text, now=NOW, future_s=300)
    assert [r.row for r in parsed.rows] == [1, 4 + 1]
    assert parsed.rows[1].acquired_at == datetime(2026, 3, 15, 5, 30, tzinfo=UTC)
    assert [(r.row, r.reason.split(":")[0]) for r in parsed.rejected] == [
        (2, "acq_time"),
        (3, "latitude"),
        (4, "acq_date/acq_time"),
    ]


def test_missing_columns_are_named() -> None:
    with pytest.raises(MissingColumns) as err:
        parse_csv("latitude,longitude,brightness\n1,2,3\n", now=NOW, future_s=0)
    assert {e["field"] for e in err.value.errors or []} >= {"scan", "track", "satellite"}
    with pytest.raises(MissingColumns):
        parse_rows([{"latitude": 1}], columns=None, now=NOW, future_s=0)


def test_low_confidence_dropped_for_modis_and_viirs() -> None:
    policy = Policy()
    rows = parse_csv(
        "\n".join(
            [
                VIIRS,
                "29.5,108.7,330,0.4,0.4,2026-03-15,0530,N,l,1,D",
                "29.5,108.7,330,0.4,0.4,2026-03-15,0530,N,n,1,D",
                "29.5,108.7,330,0.4,0.4,2026-03-15,0530,N,h,1,D",
            ]
        ),
        now=NOW,
        future_s=0,
    ).rows
    assert [is_low_confidence(r, policy) for r in rows] == [True, False, False]
    assert rows[0].instrument == "VIIRS"
    modis = parse_rows(
        [
            {
                "latitude": 29.5,
                "longitude": 108.7,
                "brightness": 300,
                "scan": 1,
                "track": 1,
                "acq_date": "2026-03-15",
                "acq_time": "0530",
                "satellite": "T",
                "confidence": c,
            }
            for c in (29, 30)
        ],
        columns=None,
        now=NOW,
        future_s=0,
    ).rows
    assert [is_low_confidence(r, policy) for r in modis] == [True, False]


def test_pixels_cluster_by_footprint_within_one_overpass() -> None:
    lines = [MODIS]
    # Three touching 1 km pixels, one far away, and one touching but from another overpass.
    for dlat in (0.0, 0.009, 0.018):
        lines.append(f"{29.5 + dlat},108.7,330,1.0,1.0,2026-03-15,0530,Terra,80,5,D")
    lines.append("29.6,108.7,330,1.0,1.0,2026-03-15,0530,Terra,80,5,D")
    lines.append("29.5,108.7,330,1.0,1.0,2026-03-15,0700,Aqua,80,5,D")
    clusters = cluster(parse_csv("\n".join(lines), now=NOW, future_s=0).rows)
    assert sorted(c.pixels for c in clusters) == [1, 1, 3]
    big = max(clusters, key=lambda c: c.pixels)
    assert big.details()["frp_mw_sum"] == 15
    again = cluster(parse_csv("\n".join(lines), now=NOW, future_s=0).rows)
    assert {c.report_id for c in clusters} == {c.report_id for c in again}  # idempotent upload


def test_a_hotspot_report_id_is_in_the_satellite_id_space_never_an_app_uuid() -> None:
    line = "29.5,108.7,330,1.0,1.0,2026-03-15,0530,Terra,80,5,D"
    [one] = cluster(parse_csv("\n".join([MODIS, line]), now=NOW, future_s=0).rows)
    assert one.report_id.startswith("firms:")
    with pytest.raises(ValueError):
        uuid.UUID(one.report_id)  # what an app's report id must be (ReportIn.id)


def test_nearest_ranger_on_patrol_with_a_recent_position() -> None:
    fresh, stale = NOW - timedelta(minutes=5), NOW - timedelta(hours=3)
    positions = [
        RangerPosition("far", 29.52, 108.7, fresh),
        RangerPosition("near-but-off", 29.5001, 108.7, fresh, on_patrol=False),
        RangerPosition("near-but-stale", 29.5002, 108.7, stale),
        RangerPosition("near", 29.501, 108.7, fresh),
    ]
    assert nearest_ranger(positions, 29.5, 108.7, now=NOW, max_age_s=3600) == "near"
    assert nearest_ranger([], 29.5, 108.7, now=NOW, max_age_s=3600) is None
