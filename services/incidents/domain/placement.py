"""Placement: which village, township and district a point lies in, and which neighbouring units
are close enough to share the incident. Pure: reads the in-memory org directory, never I/O."""

from __future__ import annotations

from dataclasses import dataclass

from shared.errors import InvalidInput
from shared.org import OrgDirectory


class OutsideDistrict(InvalidInput):
    """The point lies outside every village of the org directory."""


@dataclass(frozen=True)
class Placement:
    village: str
    township: str
    district: str
    neighbour_units: tuple[str, ...]
    near_district_boundary: bool


def place(org: OrgDirectory, lat: float, lon: float, *, proximity_m: float) -> Placement:
    """Place a WGS-84 point; raises OutsideDistrict naming lat/lon when no village holds it."""
    village = org.locate(lat, lon)
    if village is None:
        district = org.district
        raise OutsideDistrict(
            f"point lat={lat}, lon={lon} lies outside every village of {district.name} "
            f"({district.code})",
            field="lat",
            errors=[
                {"field": "lat", "reason": "point outside the district"},
                {"field": "lon", "reason": "point outside the district"},
            ],
        )
    township = org.township_of(village.code)
    district_code = org.district.code
    neighbours = tuple(u.code for u in org.neighbour_units(lat, lon, proximity_m))
    near_edge = org.distance_to_boundary_m(district_code, lat, lon) <= proximity_m
    return Placement(
        village=village.code,
        township=township.code,
        district=district_code,
        neighbour_units=neighbours,
        near_district_boundary=near_edge,
    )
