"""The org directory in memory: units (district → township → village), people, patrol rules.

Read-only after loading and pure (no I/O): `loader.py` builds it from the YAML file.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from types import MappingProxyType
from typing import Any

import shapely
from pydantic import BaseModel, ConfigDict, Field, field_serializer
from shapely.geometry import MultiPolygon, Point, Polygon, mapping
from shapely.strtree import STRtree

from shared.geo import EARTH_RADIUS_M, distance_point_to_geometry_m


class Level(StrEnum):
    DISTRICT = "district"  # 区/县
    TOWNSHIP = "township"  # 乡镇/街道
    VILLAGE = "village"  # 村/社区


# The level a unit's parent must have.
PARENT_LEVEL: Mapping[Level, Level | None] = MappingProxyType(
    {Level.DISTRICT: None, Level.TOWNSHIP: Level.DISTRICT, Level.VILLAGE: Level.TOWNSHIP}
)


class Role(StrEnum):
    RANGER = "ranger"  # 护林员
    VILLAGE_CHIEF = "village_chief"  # 村级林长
    SUPERVISOR = "supervisor"  # 监管员
    INSTRUCTOR = "instructor"  # 指导员
    TOWNSHIP_CHIEF = "township_chief"  # 乡镇林长
    DISTRICT_CHIEF = "district_chief"  # 区级林长 / 总林长
    COMMAND_CENTER = "command_center"  # 指挥中心
    HQ = "hq"  # 森林防火指挥部 (森防指)
    POLICE = "police"  # 警长 (林长+警长)
    PUBLIC = "public"  # 公众
    ADMIN = "admin"


class PatrolRule(BaseModel):
    """A village's patrol rule (巡护频次/里程/时长); see DOMAIN.md "Patrols and compliance"."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_distance_m: float = Field(gt=0)  # per valid patrol day, inside the ranger's own zone
    min_duration_s: float = Field(gt=0)
    valid_days_fire_season: int = Field(ge=0, le=31)  # per month, in 防火期
    valid_days_otherwise: int = Field(ge=0, le=31)
    spread_over_dekads: bool  # spread over the three 旬 (ten-day parts) of the month
    patrols_per_week: int | None = Field(default=None, ge=0)
    fire_season_months: tuple[int, ...]

    def in_fire_season(self, month: int) -> bool:
        return month in self.fire_season_months

    def valid_days_required(self, month: int) -> int:
        """Valid patrol days required in a month (1–12)."""
        if self.in_fire_season(month):
            return self.valid_days_fire_season
        return self.valid_days_otherwise


class Unit(BaseModel):
    """One unit of the jurisdiction tree; `boundary` is a shapely geometry in (lon, lat)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    code: str
    name: str
    name_en: str | None = None
    level: Level
    parent: str | None
    boundary: Polygon | MultiPolygon = Field(repr=False)
    patrol_rule: PatrolRule | None = None  # villages only

    @cached_property
    def point(self) -> tuple[float, float]:
        """A (lat, lon) point guaranteed inside the unit."""
        p = self.boundary.representative_point()
        return (p.y, p.x)

    @field_serializer("boundary")
    def _boundary_as_geojson(self, _boundary: Polygon | MultiPolygon) -> dict[str, Any]:
        return self.boundary_geojson()

    def boundary_geojson(self) -> dict[str, Any]:
        """The boundary as a GeoJSON geometry dict ([lon, lat] rings)."""
        geo: dict[str, Any] = dict(mapping(self.boundary))
        geo["coordinates"] = _lists(geo["coordinates"])
        return geo


def _lists(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_lists(v) for v in value]
    return value


class Person(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    role: Role
    unit: str  # a unit code; the person's scope is that unit's subtree
    phone: str = ""


@dataclass(frozen=True)
class OrgFault:
    """One fault of an org file: where (`units[4] (500114002003).parent`) and what."""

    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class OrgFileError(Exception):
    """The org file is unusable; carries every fault found, not just the first."""

    def __init__(self, faults: Iterable[OrgFault], path: str | None = None) -> None:
        self.faults = list(faults)
        self.path = path
        head = f"invalid org file {path}" if path else "invalid org file"
        super().__init__(head + ":\n" + "\n".join(str(f) for f in self.faults))


class OrgDirectory:
    """Units and people, with tree queries and point location. Immutable once built."""

    def __init__(self, units: Iterable[Unit], people: Iterable[Person]) -> None:
        by_code = {u.code: u for u in units}
        self.units: Mapping[str, Unit] = MappingProxyType(by_code)
        self.people: Mapping[str, Person] = MappingProxyType({p.id: p for p in people})
        roots = [u for u in by_code.values() if u.parent is None]
        if len(roots) != 1:
            raise ValueError(f"an org directory needs exactly one root unit, got {len(roots)}")
        self.district: Unit = roots[0]
        children: dict[str, list[Unit]] = {code: [] for code in by_code}
        for u in by_code.values():
            if u.parent is not None:
                children[u.parent].append(u)
        self._children = {k: sorted(v, key=lambda u: u.code) for k, v in children.items()}
        staff: dict[str, list[Person]] = {code: [] for code in by_code}
        for p in sorted(self.people.values(), key=lambda p: p.id):
            staff.setdefault(p.unit, []).append(p)
        self._staff = staff
        # Villages sorted by code: a point on a shared edge goes to the lowest code.
        self._villages = sorted(
            (u for u in by_code.values() if u.level is Level.VILLAGE), key=lambda u: u.code
        )
        self._tree = STRtree([u.boundary for u in self._villages])

    # --- the tree -----------------------------------------------------------------------------

    def unit(self, code: str) -> Unit:
        """The unit with this code; KeyError when there is none."""
        return self.units[code]

    def person(self, person_id: str) -> Person | None:
        return self.people.get(person_id)

    def parent(self, code: str) -> Unit | None:
        parent = self.units[code].parent
        return None if parent is None else self.units[parent]

    def ancestors(self, code: str) -> list[Unit]:
        """The unit itself first, then its parent, … up to the district."""
        chain = [self.units[code]]
        while chain[-1].parent is not None:
            chain.append(self.units[chain[-1].parent])
        return chain

    def children(self, code: str) -> list[Unit]:
        return list(self._children[code])

    def descendants(self, code: str) -> list[Unit]:
        """The unit and every unit below it, parents before children."""
        out = [self.units[code]]
        i = 0
        while i < len(out):
            out.extend(self._children[out[i].code])
            i += 1
        return out

    def in_subtree(self, root_code: str, code: str) -> bool:
        """True when `code` is `root_code` or lies below it; False for unknown codes."""
        if code not in self.units or root_code not in self.units:
            return False
        return any(u.code == root_code for u in self.ancestors(code))

    def people_in(self, unit_code: str, *roles: Role, subtree: bool = False) -> list[Person]:
        """People of a unit (or its whole subtree), optionally only those with the given roles."""
        codes = [u.code for u in self.descendants(unit_code)] if subtree else [unit_code]
        wanted = set(roles)
        return [
            p for code in codes for p in self._staff.get(code, []) if not wanted or p.role in wanted
        ]

    def township_of(self, village_code: str) -> Unit:
        for u in self.ancestors(village_code):
            if u.level is Level.TOWNSHIP:
                return u
        raise KeyError(f"{village_code} has no township")

    def village_rule(self, village_code: str) -> PatrolRule:
        rule = self.units[village_code].patrol_rule
        if rule is None:
            raise KeyError(f"{village_code} is not a village with a patrol rule")
        return rule

    # --- space ---------------------------------------------------------------------------------

    def locate(self, lat: float, lon: float) -> Unit | None:
        """The village containing the point (edges included), or None outside the district."""
        point = Point(lon, lat)
        hits = self._tree.query(point, predicate="intersects")
        if len(hits) == 0:
            return None
        return self._villages[int(min(hits))]

    def distance_to_boundary_m(self, code: str, lat: float, lon: float) -> float:
        """Metres from the point to the unit's boundary line (inside or outside)."""
        return distance_point_to_geometry_m(lat, lon, self.units[code].boundary.boundary)

    def neighbours_within(self, lat: float, lon: float, metres: float) -> list[Unit]:
        """Villages not containing the point whose boundary lies within `metres`, by code."""
        home = self.locate(lat, lon)
        # A search box a little larger than `metres` in degrees; exact distances decide.
        dlat = 1.01 * metres / (EARTH_RADIUS_M * math.pi / 180.0)
        dlon = dlat / max(0.01, math.cos(math.radians(lat)))
        box = shapely.box(lon - dlon, lat - dlat, lon + dlon, lat + dlat)
        out: list[Unit] = []
        for i in sorted(int(i) for i in self._tree.query(box)):
            village = self._villages[i]
            if home is not None and village.code == home.code:
                continue
            if distance_point_to_geometry_m(lat, lon, village.boundary) <= metres:
                out.append(village)
        return out

    def neighbour_units(self, lat: float, lon: float, metres: float) -> list[Unit]:
        """Neighbouring villages (see `neighbours_within`) and their townships/district that are
        not the point's own; sorted by code. These units' chains hear about a boundary incident.
        """
        home = self.locate(lat, lon)
        own = {u.code for u in self.ancestors(home.code)} if home is not None else set()
        found: dict[str, Unit] = {}
        for village in self.neighbours_within(lat, lon, metres):
            for u in self.ancestors(village.code):
                if u.code not in own:
                    found[u.code] = u
        return [found[c] for c in sorted(found)]
