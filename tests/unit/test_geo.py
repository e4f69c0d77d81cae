"""Geometry helpers: distances, GCJ-02 round trips, local projection."""

from __future__ import annotations

import random

import pytest
from shapely.geometry import LineString, Point, Polygon

from shared.geo import (
    distance_point_to_geometry_m,
    gcj02_to_wgs84,
    haversine_m,
    local_projector,
    path_length_m,
    wgs84_to_gcj02,
)


def test_one_degree_of_latitude_is_111_19_km() -> None:
    assert haversine_m(0, 0, 1, 0) == pytest.approx(111_195, abs=1)
    assert haversine_m(29.5, 108.7, 30.5, 108.7) == pytest.approx(111_195, abs=1)


def test_haversine_is_symmetric_and_zero_on_the_same_point() -> None:
    assert haversine_m(29.5, 108.7, 29.5, 108.7) == 0
    a = haversine_m(29.4, 108.6, 29.6, 108.9)
    assert a == pytest.approx(haversine_m(29.6, 108.9, 29.4, 108.6))
    # Beijing → Shanghai, about 1067 km
    assert haversine_m(39.9042, 116.4074, 31.2304, 121.4737) == pytest.approx(1_067_000, rel=0.01)


def test_path_length_adds_the_legs() -> None:
    pts = [(29.5, 108.7), (29.51, 108.7), (29.51, 108.71)]
    expected = haversine_m(29.5, 108.7, 29.51, 108.7) + haversine_m(29.51, 108.7, 29.51, 108.71)
    assert path_length_m(pts) == pytest.approx(expected)
    assert path_length_m([]) == 0
    assert path_length_m([(29.5, 108.7)]) == 0


def test_gcj02_offset_is_a_few_hundred_metres_in_china() -> None:
    glat, glon = wgs84_to_gcj02(29.5, 108.7)
    assert 100 < haversine_m(29.5, 108.7, glat, glon) < 1000


def test_gcj02_round_trip_is_under_half_a_metre() -> None:
    rng = random.Random(7)
    for _ in range(500):
        lat, lon = rng.uniform(18, 53), rng.uniform(74, 134)
        back = gcj02_to_wgs84(*wgs84_to_gcj02(lat, lon))
        assert haversine_m(lat, lon, *back) < 0.5


def test_points_outside_china_are_unchanged() -> None:
    assert wgs84_to_gcj02(51.5, -0.12) == (51.5, -0.12)
    assert gcj02_to_wgs84(51.5, -0.12) == (51.5, -0.12)


def test_local_projector_gives_metres() -> None:
    proj = local_projector(29.5, 108.7)
    assert proj.to_xy(108.7, 29.5) == (0, 0)
    x, y = proj.to_xy(108.71, 29.51)
    assert (x**2 + y**2) ** 0.5 == pytest.approx(haversine_m(29.5, 108.7, 29.51, 108.71), rel=1e-3)
    lon, lat = proj.to_lonlat(x, y)
    assert (lon, lat) == pytest.approx((108.71, 29.51))
    line = proj.project(LineString([(108.7, 29.5), (108.7, 29.51)]))
    assert line.length == pytest.approx(haversine_m(29.5, 108.7, 29.51, 108.7), rel=1e-6)


def test_distance_point_to_geometry() -> None:
    square = Polygon([(108.6, 29.4), (108.7, 29.4), (108.7, 29.5), (108.6, 29.5)])
    assert distance_point_to_geometry_m(29.45, 108.65, square) == 0
    d_edge = distance_point_to_geometry_m(29.45, 108.65, square.boundary)
    assert d_edge == pytest.approx(haversine_m(29.45, 108.65, 29.45, 108.6), rel=1e-3)
    d_out = distance_point_to_geometry_m(29.39, 108.65, square)
    assert d_out == pytest.approx(haversine_m(29.39, 108.65, 29.4, 108.65), rel=1e-3)
    assert distance_point_to_geometry_m(29.5, 108.7, Point(108.7, 29.5)) == 0
