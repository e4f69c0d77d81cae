"""Geometry helpers: great-circle distances, GCJ-02 ↔ WGS-84, local metre projections.

Pure functions only: no I/O, no clock, no settings. Shapely geometries here are always (lon, lat).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

EARTH_RADIUS_M = 6371008.8  # IUGG mean Earth radius

# GCJ-02 (国测局 "Mars" coordinates, used by Chinese map SDKs): the Krasovsky ellipsoid constants
# of the published obfuscation formula.
_GCJ_A = 6378245.0
_GCJ_EE = 0.00669342162296594323


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two WGS-84 points."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def path_length_m(points: Iterable[tuple[float, float]]) -> float:
    """Length in metres of a path of (lat, lon) points, in the order given."""
    total = 0.0
    prev: tuple[float, float] | None = None
    for lat, lon in points:
        if prev is not None:
            total += haversine_m(prev[0], prev[1], lat, lon)
        prev = (lat, lon)
    return total


# --- GCJ-02 -------------------------------------------------------------------------------------


def out_of_china(lat: float, lon: float) -> bool:
    """True outside the rough bounding box where GCJ-02 applies (there it equals WGS-84)."""
    return not (72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _transform_lat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lon(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def wgs84_to_gcj02(lat: float, lon: float) -> tuple[float, float]:
    """WGS-84 (GPS) → GCJ-02 (Chinese map SDKs); points outside China are returned unchanged."""
    if out_of_china(lat, lon):
        return lat, lon
    dlat = _transform_lat(lon - 105.0, lat - 35.0)
    dlon = _transform_lon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * math.pi
    magic = 1 - _GCJ_EE * math.sin(radlat) ** 2
    sqrtmagic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_GCJ_A * (1 - _GCJ_EE)) / (magic * sqrtmagic) * math.pi)
    dlon = (dlon * 180.0) / (_GCJ_A / sqrtmagic * math.cos(radlat) * math.pi)
    return lat + dlat, lon + dlon


def gcj02_to_wgs84(lat: float, lon: float) -> tuple[float, float]:
    """GCJ-02 → WGS-84 by fixed-point iteration of the forward transform (error ≪ 0.5 m)."""
    if out_of_china(lat, lon):
        return lat, lon
    wlat, wlon = lat, lon
    for _ in range(30):
        glat, glon = wgs84_to_gcj02(wlat, wlon)
        dlat, dlon = glat - lat, glon - lon
        wlat, wlon = wlat - dlat, wlon - dlon
        if abs(dlat) < 1e-10 and abs(dlon) < 1e-10:
            break
    return wlat, wlon


# --- local projection ----------------------------------------------------------------------------


class LocalProjector(NamedTuple):
    """An equirectangular projection around (lat0, lon0): x east and y north, in metres.

    Good to well under 1 % within tens of kilometres of the origin, which is all a district needs.
    """

    to_xy: Callable[[float, float], tuple[float, float]]  # (lon, lat) -> (x, y)
    to_lonlat: Callable[[float, float], tuple[float, float]]  # (x, y) -> (lon, lat)
    project: Callable[[BaseGeometry], BaseGeometry]  # a (lon, lat) geometry -> metres


def local_projector(lat0: float, lon0: float) -> LocalProjector:
    """Functions projecting (lon, lat) to local metres around (lat0, lon0), and back."""
    ky = math.radians(1.0) * EARTH_RADIUS_M
    kx = ky * math.cos(math.radians(lat0))

    def to_xy(lon: float, lat: float) -> tuple[float, float]:
        return (lon - lon0) * kx, (lat - lat0) * ky

    def to_lonlat(x: float, y: float) -> tuple[float, float]:
        return lon0 + x / kx, lat0 + y / ky

    def _array(coords: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        out = np.empty_like(coords)
        out[:, 0] = (coords[:, 0] - lon0) * kx
        out[:, 1] = (coords[:, 1] - lat0) * ky
        return out

    def project(geom: BaseGeometry) -> BaseGeometry:
        result: BaseGeometry = shapely.transform(geom, _array)
        return result

    return LocalProjector(to_xy=to_xy, to_lonlat=to_lonlat, project=project)


def distance_point_to_geometry_m(lat: float, lon: float, geom: BaseGeometry) -> float:
    """Metres from a point to a (lon, lat) geometry; 0 inside a polygon (pass `.boundary`)."""
    proj = local_projector(lat, lon)
    return float(proj.project(geom).distance(Point(0.0, 0.0)))
