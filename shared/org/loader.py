"""Reads and validates the org directory file (YAML), reporting every fault with its location.

Never returns a half-valid directory: any fault raises `OrgFileError` listing all of them.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import shapely
import yaml
from pydantic import ValidationError
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.ops import unary_union
from shapely.validation import explain_validity

from shared.geo import local_projector
from shared.org.models import (
    PARENT_LEVEL,
    Level,
    OrgDirectory,
    OrgFault,
    OrgFileError,
    PatrolRule,
    Person,
    Role,
    Unit,
)

DEMO_FILE = "demo_district.yaml"
CONTAINMENT_TOLERANCE_M = 50.0  # a village may poke this far out of its township (digitising)
OVERLAP_TOLERANCE_M2 = 100.0  # two villages may share this much area before it is a fault

_UNIT_FIELDS = {"code", "name", "name_en", "level", "parent", "boundary", "patrol_rule"}
_PERSON_FIELDS = {"id", "name", "role", "unit", "phone"}


def demo_org_path() -> Path:
    """The demo district shipped with Hulin (used when HULIN_ORG_FILE is unset)."""
    return Path(__file__).with_name(DEMO_FILE)


def load_org(path: str | Path | None = None) -> OrgDirectory:
    """Load and validate an org file (None: the demo district). Cached per file, mtime and size."""
    p = Path(path) if path is not None else demo_org_path()
    try:
        resolved = p.resolve()
        stat = resolved.stat()
    except OSError as exc:
        raise OrgFileError([OrgFault("file", f"cannot read {p}: {exc}")], str(p)) from exc
    return _load_cached(str(resolved), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=16)
def _load_cached(path: str, mtime_ns: int, size: int) -> OrgDirectory:
    directory, faults = _read(Path(path))
    if faults or directory is None:
        raise OrgFileError(faults, path)
    return directory


def validate_org_file(path: str | Path) -> list[OrgFault]:
    """Every fault of an org file, in file order (empty: the file is good)."""
    _, faults = _read(Path(path))
    return faults


def parse_org(text: str) -> tuple[OrgDirectory | None, list[OrgFault]]:
    """Parse org YAML text: the directory (None when there are faults) and every fault."""
    return _Parser().parse(text)


def _read(path: Path) -> tuple[OrgDirectory | None, list[OrgFault]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [OrgFault("file", f"cannot read {path}: {exc}")]
    return parse_org(text)


class _Parser:
    """One pass over the file's data, collecting faults instead of stopping at the first."""

    def __init__(self) -> None:
        self.faults: list[OrgFault] = []
        self._seen: set[tuple[str, str]] = set()

    def fault(self, location: str, message: str) -> None:
        if (location, message) not in self._seen:
            self._seen.add((location, message))
            self.faults.append(OrgFault(location, message))

    # --- top level -------------------------------------------------------------------------------

    def parse(self, text: str) -> tuple[OrgDirectory | None, list[OrgFault]]:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "file"
            problem = getattr(exc, "problem", None) or str(exc)
            return None, [OrgFault(where, f"YAML syntax error: {problem}")]
        if not isinstance(data, dict):
            return None, [OrgFault("file", "the file must be a mapping with `units` and `people`")]

        default_rule = self._defaults(data.get("defaults"))
        raw_units = data.get("units")
        raw_people = data.get("people", [])
        if not isinstance(raw_units, list) or not raw_units:
            self.fault("units", "missing: a non-empty list of units is required")
            raw_units = []
        if not isinstance(raw_people, list):
            self.fault("people", "must be a list")
            raw_people = []

        units = self._units(raw_units, default_rule)
        people = self._people(raw_people, {u["code"] for u in units.values()})
        if self.faults:
            return None, self.faults
        built = [
            Unit(
                code=u["code"],
                name=u["name"],
                name_en=u.get("name_en"),
                level=u["level"],
                parent=u["parent"],
                boundary=u["boundary"],
                patrol_rule=u.get("patrol_rule"),
            )
            for u in units.values()
        ]
        return OrgDirectory(built, people), []

    def _defaults(self, raw: Any) -> dict[str, Any]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.fault("defaults", "must be a mapping")
            return {}
        rule = raw.get("patrol_rule", {})
        if rule is None:
            return {}
        if not isinstance(rule, dict):
            self.fault("defaults.patrol_rule", "must be a mapping")
            return {}
        unknown = set(rule) - set(PatrolRule.model_fields)
        for key in sorted(unknown):
            self.fault(f"defaults.patrol_rule.{key}", "unknown field")
        return {k: v for k, v in rule.items() if k not in unknown}

    # --- units -----------------------------------------------------------------------------------

    def _units(
        self, raw_units: list[Any], default_rule: dict[str, Any]
    ) -> dict[str, dict[str, Any]]:
        units: dict[str, dict[str, Any]] = {}  # code -> parsed fields (+ "where", "index")
        for i, raw in enumerate(raw_units):
            where = f"units[{i}]"
            if not isinstance(raw, dict):
                self.fault(where, "must be a mapping")
                continue
            code = raw.get("code")
            if isinstance(code, int) and not isinstance(code, bool):
                code = str(code)
            if isinstance(code, str) and code.strip():
                where = f"units[{i}] ({code})"
            else:
                self.fault(f"{where}.code", "missing: a non-empty string is required")
                code = None
            parsed = self._unit_fields(raw, where, default_rule)
            if code is None:
                continue
            if code in units:
                self.fault(
                    f"{where}.code", f"duplicate unit code {code}: also {units[code]['where']}"
                )
                continue
            parsed.update(code=code, where=where)
            units[code] = parsed

        self._check_tree(units)
        self._derive_boundaries(units)
        self._check_geometry(units)
        return units

    def _unit_fields(
        self, raw: dict[str, Any], where: str, default_rule: dict[str, Any]
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in sorted(set(raw) - _UNIT_FIELDS):
            self.fault(f"{where}.{key}", "unknown field")
        name = raw.get("name")
        if isinstance(name, str) and name.strip():
            out["name"] = name
        else:
            self.fault(f"{where}.name", "missing: a non-empty string is required")
        name_en = raw.get("name_en")
        if name_en is not None and not isinstance(name_en, str):
            self.fault(f"{where}.name_en", "must be a string")
        out["name_en"] = name_en if isinstance(name_en, str) else None

        level: Level | None = None
        if "level" not in raw:
            self.fault(f"{where}.level", f"missing: one of {', '.join(Level)}")
        else:
            try:
                level = Level(str(raw["level"]))
            except ValueError:
                self.fault(
                    f"{where}.level", f"unknown level {raw['level']!r}: one of {', '.join(Level)}"
                )
        out["level"] = level

        parent = raw.get("parent")
        if isinstance(parent, int) and not isinstance(parent, bool):
            parent = str(parent)
        if "parent" not in raw and level is not Level.DISTRICT:
            self.fault(f"{where}.parent", "missing: the code of the parent unit is required")
        elif parent is not None and not isinstance(parent, str):
            self.fault(f"{where}.parent", "must be a unit code (string) or null")
            parent = None
        out["parent"] = parent
        out["parent_given"] = "parent" in raw

        if "boundary" in raw and raw["boundary"] is not None:
            out["boundary"] = self._boundary(raw["boundary"], f"{where}.boundary")
            out["boundary_given"] = True
        elif level is Level.VILLAGE:
            self.fault(f"{where}.boundary", "missing: a village needs a GeoJSON Polygon boundary")

        rule = raw.get("patrol_rule")
        if level is Level.VILLAGE:
            out["patrol_rule"] = self._patrol_rule(rule, where, default_rule)
        elif rule is not None:
            self.fault(f"{where}.patrol_rule", "only villages have a patrol rule")
        return out

    def _boundary(self, raw: Any, where: str) -> Polygon | MultiPolygon | None:
        if not isinstance(raw, dict) or raw.get("type") not in ("Polygon", "MultiPolygon"):
            self.fault(where, "must be a GeoJSON Polygon or MultiPolygon {type, coordinates}")
            return None
        try:
            geom = shape(raw)
        except Exception as exc:  # shapely raises several types for malformed coordinates
            self.fault(where, f"bad coordinates: {exc}")
            return None
        if not isinstance(geom, Polygon | MultiPolygon) or geom.is_empty:
            self.fault(where, "empty polygon")
            return None
        minx, miny, maxx, maxy = geom.bounds
        if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
            self.fault(where, "coordinates out of range (GeoJSON order is [lon, lat])")
            return None
        if not geom.is_valid:
            self.fault(where, f"invalid polygon: {explain_validity(geom)}")
            return None
        return geom

    def _patrol_rule(self, raw: Any, where: str, default_rule: dict[str, Any]) -> PatrolRule | None:
        if raw is not None and not isinstance(raw, dict):
            self.fault(f"{where}.patrol_rule", "must be a mapping")
            return None
        own = raw or {}
        merged = {**default_rule, **own}
        try:
            return PatrolRule.model_validate(merged)
        except ValidationError as exc:
            for err in exc.errors():
                field = ".".join(str(p) for p in err["loc"])
                top = str(err["loc"][0]) if err["loc"] else ""
                if err["type"] == "missing":
                    self.fault(
                        f"{where}.patrol_rule.{field}",
                        "missing: set it here or in defaults.patrol_rule",
                    )
                elif top in own or top not in default_rule:
                    self.fault(f"{where}.patrol_rule.{field}", err["msg"])
                else:
                    self.fault(f"defaults.patrol_rule.{field}", err["msg"])
            return None

    def _check_tree(self, units: dict[str, dict[str, Any]]) -> None:
        root: dict[str, Any] | None = None
        for u in units.values():
            level, parent, where = u["level"], u["parent"], u["where"]
            if level is None:
                continue
            expected = PARENT_LEVEL[level]
            if expected is None:
                if parent is not None:
                    self.fault(f"{where}.parent", "a district is the root: its parent must be null")
                if root is not None:
                    self.fault(
                        where, f"more than one root unit: {root['where']} is already the root"
                    )
                else:
                    root = u
                continue
            if parent is None:
                if u["parent_given"]:
                    self.fault(
                        f"{where}.parent",
                        f"more than one root unit: a {level} needs a {expected} parent",
                    )
                continue
            if parent not in units:
                self.fault(f"{where}.parent", f"unknown parent {parent}")
                continue
            plevel = units[parent]["level"]
            if plevel is not None and plevel is not expected:
                self.fault(
                    f"{where}.parent",
                    f"wrong nesting: a {level}'s parent must be a {expected}, "
                    f"{parent} is a {plevel}",
                )
        if root is None and units:
            self.fault("units", "no root unit: exactly one unit must have level district")

    def _derive_boundaries(self, units: dict[str, dict[str, Any]]) -> None:
        """A township or district without a boundary gets the union of its children's."""
        for level in (Level.TOWNSHIP, Level.DISTRICT):
            for u in units.values():
                if u["level"] is not level or "boundary" in u:
                    continue
                parts = [
                    c.get("boundary")
                    for c in units.values()
                    if c["parent"] == u["code"] and c["level"] is not None
                ]
                geoms = [g for g in parts if g is not None]
                if not geoms or len(geoms) != len(parts):
                    if not parts:
                        self.fault(
                            f"{u['where']}.boundary",
                            "missing, and there are no child units to derive it from",
                        )
                    u["boundary"] = None
                    continue
                merged = unary_union(geoms)
                u["boundary"] = merged if isinstance(merged, Polygon | MultiPolygon) else None

    def _check_geometry(self, units: dict[str, dict[str, Any]]) -> None:
        geoms = {c: u["boundary"] for c, u in units.items() if u.get("boundary") is not None}
        if not geoms:
            return
        centre = unary_union(list(geoms.values())).centroid
        proj = local_projector(centre.y, centre.x)
        metric = {c: proj.project(g) for c, g in geoms.items()}

        for code, u in units.items():
            parent = u["parent"]
            if (
                code not in metric
                or parent not in metric
                or not units[parent].get("boundary_given")
            ):
                continue
            outside = metric[code].difference(metric[parent].buffer(CONTAINMENT_TOLERANCE_M))
            if outside.area > 1.0:
                self.fault(
                    f"{u['where']}.boundary",
                    f"not inside its parent {parent}: {outside.area:,.0f} m² outside "
                    f"(tolerance {CONTAINMENT_TOLERANCE_M:g} m)",
                )

        villages = [
            u for u in units.values() if u["level"] is Level.VILLAGE and u["code"] in metric
        ]
        polys = [metric[u["code"]] for u in villages]
        if len(polys) < 2:
            return
        tree = shapely.STRtree(polys)
        for i, j in zip(*tree.query(polys, predicate="intersects"), strict=True):
            if i >= j:
                continue
            area = polys[i].intersection(polys[j]).area
            if area > OVERLAP_TOLERANCE_M2:
                self.fault(
                    f"{villages[j]['where']}.boundary",
                    f"overlaps {villages[i]['where']} by {area:,.0f} m²",
                )

    # --- people ----------------------------------------------------------------------------------

    def _people(self, raw_people: list[Any], codes: set[str]) -> list[Person]:
        people: list[Person] = []
        ids: dict[str, str] = {}
        for i, raw in enumerate(raw_people):
            where = f"people[{i}]"
            if not isinstance(raw, dict):
                self.fault(where, "must be a mapping")
                continue
            pid = raw.get("id")
            if isinstance(pid, str) and pid.strip():
                where = f"people[{i}] ({pid})"
            else:
                self.fault(f"{where}.id", "missing: a non-empty string is required")
                pid = None
            ok = pid is not None
            for key in sorted(set(raw) - _PERSON_FIELDS):
                self.fault(f"{where}.{key}", "unknown field")
            if pid is not None and pid in ids:
                self.fault(f"{where}.id", f"duplicate person id {pid}: also {ids[pid]}")
                ok = False
            elif pid is not None:
                ids[pid] = where
            name = raw.get("name")
            if not (isinstance(name, str) and name.strip()):
                self.fault(f"{where}.name", "missing: a non-empty string is required")
                ok = False
            role = raw.get("role")
            if role is None:
                self.fault(f"{where}.role", f"missing: one of {', '.join(Role)}")
                ok = False
            elif not isinstance(role, str) or role not in {r.value for r in Role}:
                self.fault(f"{where}.role", f"unknown role {role!r}: one of {', '.join(Role)}")
                ok = False
            unit = raw.get("unit")
            if isinstance(unit, int) and not isinstance(unit, bool):
                unit = str(unit)
            if unit is None:
                self.fault(f"{where}.unit", "missing: the code of the person's unit is required")
                ok = False
            elif unit not in codes:
                self.fault(f"{where}.unit", f"unknown unit {unit}")
                ok = False
            phone = raw.get("phone", "")
            if isinstance(phone, int) and not isinstance(phone, bool):
                phone = str(phone)
            if not isinstance(phone, str):
                self.fault(f"{where}.phone", "must be a string")
                ok = False
            if ok and pid is not None:
                people.append(
                    Person(
                        id=pid, name=str(name), role=Role(str(role)), unit=str(unit), phone=phone
                    )
                )
        return people
