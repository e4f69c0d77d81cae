"""The org directory: the demo district, tree and space queries, and every validation fault."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from shapely.geometry import LineString, Point

from shared.geo import haversine_m
from shared.org import (
    Level,
    OrgDirectory,
    OrgFault,
    OrgFileError,
    PatrolRule,
    Role,
    demo_org_path,
    load_org,
    parse_org,
    validate_org_file,
)

DISTRICT = "500114"
T1, T2, T3 = "500114001", "500114002", "500114003"
V11, V12, V21 = "500114001001", "500114001002", "500114002001"


@pytest.fixture(scope="module")
def org() -> OrgDirectory:
    return load_org()


# --- the demo district ---------------------------------------------------------------------------


def test_demo_has_one_district_three_townships_nine_villages(org: OrgDirectory) -> None:
    levels = [u.level for u in org.units.values()]
    assert levels.count(Level.DISTRICT) == 1
    assert levels.count(Level.TOWNSHIP) == 3
    assert levels.count(Level.VILLAGE) == 9
    assert org.district.code == DISTRICT
    assert org.district.name == "黔江区"
    assert [u.code for u in org.children(DISTRICT)] == [T1, T2, T3]
    for t in (T1, T2, T3):
        kids = org.children(t)
        assert len(kids) == 3
        assert all(len(k.code) == 12 and k.code.startswith(t) for k in kids)


def test_demo_staffs_every_role(org: OrgDirectory) -> None:
    roles = {p.role for p in org.people.values()}
    assert roles == set(Role)


def test_demo_staffs_each_village_with_the_basic_chain(org: OrgDirectory) -> None:
    # 一长三员: a village chief, rangers, a supervisor and an instructor in every village
    for v in (u for u in org.units.values() if u.level is Level.VILLAGE):
        roles = [p.role for p in org.people_in(v.code)]
        assert roles.count(Role.VILLAGE_CHIEF) == 1
        assert roles.count(Role.RANGER) == 2
        assert roles.count(Role.SUPERVISOR) == 1
        assert roles.count(Role.INSTRUCTOR) == 1
    for t in (T1, T2, T3):
        assert [p.id for p in org.people_in(t, Role.TOWNSHIP_CHIEF)] == [f"tc-{t}"]
        assert [p.id for p in org.people_in(t, Role.POLICE)] == [f"po-{t}"]
    assert len(org.people_in(DISTRICT, Role.COMMAND_CENTER)) == 2
    assert org.person("dc-500114") is not None
    assert org.person("rg-500114001001-1") is not None
    assert org.person("nobody") is None


def test_demo_villages_have_the_county_patrol_rule(org: OrgDirectory) -> None:
    rule = org.village_rule(V11)
    assert rule == PatrolRule(
        min_distance_m=3000,
        min_duration_s=3600,
        valid_days_fire_season=20,
        valid_days_otherwise=10,
        spread_over_dekads=True,
        patrols_per_week=None,
        fire_season_months=(1, 2, 3, 4, 10, 11, 12),
    )
    assert rule.valid_days_required(11) == 20
    assert rule.valid_days_required(7) == 10
    # one village overrides a single field and keeps the rest of the defaults
    assert org.village_rule("500114002002").patrols_per_week == 3
    assert org.village_rule("500114002002").min_distance_m == 3000
    with pytest.raises(KeyError):
        org.village_rule(T1)


def test_demo_townships_are_the_union_of_their_villages(org: OrgDirectory) -> None:
    for t in (T1, T2, T3):
        township = org.unit(t).boundary
        area = sum(v.boundary.area for v in org.children(t))
        assert township.area == pytest.approx(area, rel=1e-9)
    assert org.district.boundary.area == pytest.approx(
        sum(org.unit(t).boundary.area for t in (T1, T2, T3)), rel=1e-9
    )
    minx, miny, maxx, maxy = org.district.boundary.bounds
    assert 108.55 < minx < maxx < 108.95 and 29.35 < miny < maxy < 29.65


def test_demo_boundaries_are_not_rectangles(org: OrgDirectory) -> None:
    for v in org.children(T1):
        assert len(v.boundary.exterior.coords) > 5
        assert v.boundary.area < v.boundary.envelope.area


def test_demo_file_validates_clean() -> None:
    assert validate_org_file(demo_org_path()) == []


def test_demo_file_is_what_the_generator_writes() -> None:
    from shared.org.make_demo import render

    assert demo_org_path().read_text(encoding="utf-8") == render()


# --- the tree ------------------------------------------------------------------------------------


def test_unit_lookup_raises_key_error_for_unknown_code(org: OrgDirectory) -> None:
    assert org.unit(V11).name == "枫香村"
    with pytest.raises(KeyError):
        org.unit("999")


def test_ancestors_start_at_the_unit_and_end_at_the_district(org: OrgDirectory) -> None:
    assert [u.code for u in org.ancestors(V21)] == [V21, T2, DISTRICT]
    assert [u.code for u in org.ancestors(DISTRICT)] == [DISTRICT]
    assert org.parent(V21) == org.unit(T2)
    assert org.parent(DISTRICT) is None
    assert org.township_of(V21).code == T2


def test_in_subtree(org: OrgDirectory) -> None:
    assert org.in_subtree(DISTRICT, V21)
    assert org.in_subtree(T2, V21)
    assert org.in_subtree(V21, V21)
    assert not org.in_subtree(T1, V21)
    assert not org.in_subtree(V21, T2)
    assert not org.in_subtree(V11, V12)
    assert not org.in_subtree(DISTRICT, "nope")


def test_people_in_filters_by_role_and_subtree(org: OrgDirectory) -> None:
    assert org.people_in(T1, Role.RANGER) == []
    rangers = org.people_in(T1, Role.RANGER, subtree=True)
    assert len(rangers) == 6 and all(org.in_subtree(T1, p.unit) for p in rangers)
    chain = org.people_in(V11, Role.VILLAGE_CHIEF, Role.SUPERVISOR, Role.INSTRUCTOR)
    assert sorted(p.role for p in chain) == sorted(
        [Role.VILLAGE_CHIEF, Role.SUPERVISOR, Role.INSTRUCTOR]
    )
    assert len(org.people_in(DISTRICT, subtree=True)) == len(org.people)
    assert len(org.people_in(V11)) == 5


# --- space ---------------------------------------------------------------------------------------


def test_each_village_point_is_located_in_that_village(org: OrgDirectory) -> None:
    for unit in org.units.values():
        located = org.locate(*unit.point)
        assert located is not None
        if unit.level is Level.VILLAGE:
            assert located.code == unit.code
        assert org.in_subtree(unit.code, located.code)


def test_a_point_outside_the_district_is_located_nowhere(org: OrgDirectory) -> None:
    assert org.locate(39.9, 116.4) is None  # Beijing
    assert org.locate(29.5, 108.5) is None  # just west of the district


def _shared_edge(org: OrgDirectory, a: str, b: str) -> LineString:
    edge = org.unit(a).boundary.intersection(org.unit(b).boundary)
    assert edge.length > 0, f"{a} and {b} should share an edge"
    assert isinstance(edge, LineString) or hasattr(edge, "geoms")
    return edge


def test_a_point_on_a_shared_edge_goes_to_one_village_deterministically(
    org: OrgDirectory,
) -> None:
    edge = _shared_edge(org, V11, V12)
    p = edge.interpolate(0.5, normalized=True)
    first = org.locate(p.y, p.x)
    assert first is not None and first.code in (V11, V12)
    assert all(org.locate(p.y, p.x) == first for _ in range(3))


def test_adjacent_villages_share_edges_without_overlap(org: OrgDirectory) -> None:
    villages = [u for u in org.units.values() if u.level is Level.VILLAGE]
    for i, a in enumerate(villages):
        for b in villages[i + 1 :]:
            assert a.boundary.intersection(b.boundary).area < 1e-12
    _shared_edge(org, V11, V12)  # north-south neighbours
    _shared_edge(org, V11, V21)  # across a township boundary


def test_neighbours_within_finds_the_village_across_a_nearby_edge(org: OrgDirectory) -> None:
    edge = _shared_edge(org, V11, V12)
    mid = edge.interpolate(0.5, normalized=True)
    # step 300 m into V11, away from the edge: find a point inside V11 about 300 m from V12
    lat, lon = mid.y, mid.x
    candidates = [(lat + dlat, lon) for dlat in (-0.0027, 0.0027)]
    inside = next(p for p in candidates if org.locate(*p) == org.unit(V11))
    dist = org.distance_to_boundary_m(V12, *inside)
    assert 100 < dist < 400
    assert [u.code for u in org.neighbours_within(*inside, 1000)] == [V12]
    assert org.neighbours_within(*inside, 50) == []


def test_neighbours_within_is_empty_in_the_middle_of_a_village(org: OrgDirectory) -> None:
    centre = org.unit(V12).boundary.representative_point()
    assert org.distance_to_boundary_m(V12, centre.y, centre.x) > 1000
    assert org.neighbours_within(centre.y, centre.x, 1000) == []
    assert org.neighbour_units(centre.y, centre.x, 1000) == []


def test_neighbour_units_adds_the_other_township_across_a_township_border(
    org: OrgDirectory,
) -> None:
    edge = _shared_edge(org, V11, V21)
    mid = edge.interpolate(0.5, normalized=True)
    lat, lon = mid.y, mid.x - 0.003  # ~290 m west, inside V11 (石溪镇)
    assert org.locate(lat, lon) == org.unit(V11)
    codes = [u.code for u in org.neighbour_units(lat, lon, 1000)]
    assert V21 in codes and T2 in codes
    assert V11 not in codes and T1 not in codes and DISTRICT not in codes
    assert codes == sorted(codes)


def test_distance_to_boundary_is_in_metres(org: OrgDirectory) -> None:
    minx, miny, maxx, _ = org.district.boundary.bounds
    # a point 0.01° of latitude south of the district's southern extreme
    lat, lon = miny - 0.01, (minx + maxx) / 2
    d = org.distance_to_boundary_m(DISTRICT, lat, lon)
    nearest = org.district.boundary.boundary.interpolate(
        org.district.boundary.boundary.project(Point(lon, lat))
    )
    assert d == pytest.approx(haversine_m(lat, lon, nearest.y, nearest.x), rel=0.02)
    assert d > 1100  # at least 0.01° of latitude (1112 m)


def test_boundary_geojson_is_lon_lat_lists(org: OrgDirectory) -> None:
    gj = org.unit(V11).boundary_geojson()
    assert gj["type"] == "Polygon"
    ring = gj["coordinates"][0]
    assert isinstance(ring, list) and isinstance(ring[0], list)
    assert 108 < ring[0][0] < 109 and 29 < ring[0][1] < 30
    assert ring[0] == ring[-1]
    assert "boundary" not in repr(org.unit(V11))


def test_load_org_is_cached_per_file(tmp_path: Path) -> None:
    assert load_org() is load_org(demo_org_path())
    copy_path = tmp_path / "org.yaml"
    copy_path.write_text(demo_org_path().read_text(encoding="utf-8"), encoding="utf-8")
    assert load_org(copy_path) is load_org(str(copy_path))


# --- validation ----------------------------------------------------------------------------------

SQUARE_T = [[108.6, 29.4], [108.7, 29.4], [108.7, 29.5], [108.6, 29.5], [108.6, 29.4]]
WEST = [[108.6, 29.4], [108.65, 29.4], [108.65, 29.5], [108.6, 29.5], [108.6, 29.4]]
EAST = [[108.65, 29.4], [108.7, 29.4], [108.7, 29.5], [108.65, 29.5], [108.65, 29.4]]


def _poly(ring: list[list[float]]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [ring]}


def _base() -> dict[str, Any]:
    return {
        "defaults": {
            "patrol_rule": {
                "min_distance_m": 3000,
                "min_duration_s": 3600,
                "valid_days_fire_season": 20,
                "valid_days_otherwise": 10,
                "spread_over_dekads": True,
                "fire_season_months": [1, 2, 3, 4, 10, 11, 12],
            }
        },
        "units": [
            {"code": "1", "name": "区", "level": "district", "parent": None},
            {"code": "11", "name": "镇", "level": "township", "parent": "1",
             "boundary": _poly(SQUARE_T)},
            {"code": "111", "name": "西村", "level": "village", "parent": "11",
             "boundary": _poly(WEST)},
            {"code": "112", "name": "东村", "level": "village", "parent": "11",
             "boundary": _poly(EAST)},
        ],
        "people": [
            {"id": "vc-111", "name": "甲", "role": "village_chief", "unit": "111", "phone": "1"},
            {"id": "rg-111", "name": "乙", "role": "ranger", "unit": "111", "phone": "2"},
        ],
    }  # fmt: skip


def _faults(tmp_path: Path, data: dict[str, Any] | str) -> list[OrgFault]:
    path = tmp_path / "org.yaml"
    text = data if isinstance(data, str) else yaml.safe_dump(data, allow_unicode=True)
    path.write_text(text, encoding="utf-8")
    return validate_org_file(path)


def _has(faults: list[OrgFault], location: str, words: str) -> bool:
    return any(f.location == location and words in f.message for f in faults)


def test_the_small_base_file_is_valid(tmp_path: Path) -> None:
    assert _faults(tmp_path, _base()) == []
    org, faults = parse_org(yaml.safe_dump(_base()))
    assert faults == [] and org is not None
    assert org.district.code == "1"
    # the district's boundary is derived from its township when not given
    assert org.district.boundary.equals(org.unit("11").boundary)
    assert org.locate(29.45, 108.62) == org.unit("111")


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    faults = _faults(tmp_path, "units:\n  - code: 1\n    name: [unclosed\n  - x: 1\n")
    assert len(faults) == 1
    assert faults[0].location.startswith("line ")
    assert "YAML syntax error" in faults[0].message


def test_missing_fields_are_named(tmp_path: Path) -> None:
    data = _base()
    del data["units"][1]["name"]
    del data["units"][2]["level"]
    del data["people"][0]["role"]
    del data["people"][1]["unit"]
    faults = _faults(tmp_path, data)
    assert _has(faults, "units[1] (11).name", "missing")
    assert _has(faults, "units[2] (111).level", "missing")
    assert _has(faults, "people[0] (vc-111).role", "missing")
    assert _has(faults, "people[1] (rg-111).unit", "missing")


def test_missing_units_list(tmp_path: Path) -> None:
    assert _has(_faults(tmp_path, {"people": []}), "units", "missing")


def test_unknown_parent(tmp_path: Path) -> None:
    data = _base()
    data["units"][3]["parent"] = "99"
    assert _has(_faults(tmp_path, data), "units[3] (112).parent", "unknown parent 99")


def test_duplicate_unit_code(tmp_path: Path) -> None:
    data = _base()
    data["units"].append(copy.deepcopy(data["units"][3]))
    assert _has(_faults(tmp_path, data), "units[4] (112).code", "duplicate unit code 112")


def test_duplicate_person_id(tmp_path: Path) -> None:
    data = _base()
    data["people"][1]["id"] = "vc-111"
    assert _has(_faults(tmp_path, data), "people[1] (vc-111).id", "duplicate person id")


def test_person_in_unknown_unit(tmp_path: Path) -> None:
    data = _base()
    data["people"][1]["unit"] = "404"
    assert _has(_faults(tmp_path, data), "people[1] (rg-111).unit", "unknown unit 404")


def test_unknown_role(tmp_path: Path) -> None:
    data = _base()
    data["people"][0]["role"] = "forest_king"
    assert _has(_faults(tmp_path, data), "people[0] (vc-111).role", "unknown role 'forest_king'")


def test_unknown_field_is_named(tmp_path: Path) -> None:
    data = _base()
    data["units"][2]["parnet"] = "11"
    assert _has(_faults(tmp_path, data), "units[2] (111).parnet", "unknown field")


def test_self_intersecting_boundary(tmp_path: Path) -> None:
    data = _base()
    bowtie = [[108.6, 29.4], [108.65, 29.5], [108.65, 29.4], [108.6, 29.5], [108.6, 29.4]]
    data["units"][2]["boundary"] = _poly(bowtie)
    assert _has(_faults(tmp_path, data), "units[2] (111).boundary", "Self-intersection")


def test_malformed_boundary(tmp_path: Path) -> None:
    data = _base()
    data["units"][2]["boundary"] = {"type": "Polygon", "coordinates": [[[108.6, 29.4]]]}
    data["units"][3]["boundary"] = {"type": "Point", "coordinates": [108.6, 29.4]}
    faults = _faults(tmp_path, data)
    assert _has(faults, "units[2] (111).boundary", "bad coordinates")
    assert _has(faults, "units[3] (112).boundary", "GeoJSON Polygon")


def test_lat_lon_swapped_boundary(tmp_path: Path) -> None:
    data = _base()
    data["units"][2]["boundary"] = _poly([[lat, lon] for lon, lat in WEST])
    assert _has(_faults(tmp_path, data), "units[2] (111).boundary", "[lon, lat]")


def test_village_without_boundary(tmp_path: Path) -> None:
    data = _base()
    del data["units"][2]["boundary"]
    assert _has(_faults(tmp_path, data), "units[2] (111).boundary", "missing")


def test_village_directly_under_district_is_wrong_nesting(tmp_path: Path) -> None:
    data = _base()
    data["units"][3]["parent"] = "1"
    assert _has(_faults(tmp_path, data), "units[3] (112).parent", "wrong nesting")


def test_township_under_township_is_wrong_nesting(tmp_path: Path) -> None:
    data = _base()
    data["units"].append(
        {"code": "12", "name": "镇二", "level": "township", "parent": "11",
         "boundary": _poly(SQUARE_T)}
    )  # fmt: skip
    assert _has(_faults(tmp_path, data), "units[4] (12).parent", "wrong nesting")


def test_village_without_patrol_rule_and_no_default(tmp_path: Path) -> None:
    data = _base()
    del data["defaults"]
    faults = _faults(tmp_path, data)
    assert _has(faults, "units[2] (111).patrol_rule.min_distance_m", "missing")
    assert _has(faults, "units[3] (112).patrol_rule.fire_season_months", "missing")


def test_village_patrol_rule_override_and_bad_value(tmp_path: Path) -> None:
    data = _base()
    data["units"][2]["patrol_rule"] = {"min_distance_m": 5000}
    data["units"][3]["patrol_rule"] = {"valid_days_otherwise": "lots"}
    faults = _faults(tmp_path, data)
    assert _has(faults, "units[3] (112).patrol_rule.valid_days_otherwise", "integer")
    assert len(faults) == 1
    data["units"][3]["patrol_rule"] = {}
    org, _ = parse_org(yaml.safe_dump(data))
    assert org is not None and org.village_rule("111").min_distance_m == 5000


def test_bad_default_patrol_rule_is_named_in_defaults(tmp_path: Path) -> None:
    data = _base()
    data["defaults"]["patrol_rule"]["min_duration_s"] = -1
    faults = _faults(tmp_path, data)
    assert _has(faults, "defaults.patrol_rule.min_duration_s", "greater than 0")
    assert len(faults) == 1  # reported once, not once per village


def test_more_than_one_root(tmp_path: Path) -> None:
    data = _base()
    data["units"].append({"code": "2", "name": "另一区", "level": "district", "parent": None})
    assert _has(_faults(tmp_path, data), "units[4] (2)", "more than one root")


def test_no_root(tmp_path: Path) -> None:
    data = _base()
    data["units"][0]["level"] = "township"
    data["units"][0]["parent"] = None
    assert _has(_faults(tmp_path, data), "units", "no root")


def test_village_outside_its_township(tmp_path: Path) -> None:
    data = _base()
    far = [[108.8, 29.4], [108.85, 29.4], [108.85, 29.5], [108.8, 29.5], [108.8, 29.4]]
    data["units"][3]["boundary"] = _poly(far)
    assert _has(_faults(tmp_path, data), "units[3] (112).boundary", "not inside its parent 11")


def test_village_slightly_over_its_township_edge_is_tolerated(tmp_path: Path) -> None:
    data = _base()
    # 0.0003° ≈ 30 m east of the township edge: within the 50 m tolerance
    east = [[108.65, 29.4], [108.7003, 29.4], [108.7003, 29.5], [108.65, 29.5], [108.65, 29.4]]
    data["units"][3]["boundary"] = _poly(east)
    assert _faults(tmp_path, data) == []


def test_overlapping_villages(tmp_path: Path) -> None:
    data = _base()
    wide_west = [[108.6, 29.4], [108.67, 29.4], [108.67, 29.5], [108.6, 29.5], [108.6, 29.4]]
    data["units"][2]["boundary"] = _poly(wide_west)
    assert _has(_faults(tmp_path, data), "units[3] (112).boundary", "overlaps units[2] (111)")


def test_every_fault_is_reported_not_just_the_first(tmp_path: Path) -> None:
    data = _base()
    data["units"][3]["parent"] = "99"
    data["people"][0]["role"] = "king"
    data["people"][1]["unit"] = "404"
    faults = _faults(tmp_path, data)
    assert len(faults) == 3
    path = tmp_path / "org.yaml"
    with pytest.raises(OrgFileError) as info:
        load_org(path)
    assert len(info.value.faults) == 3
    text = str(info.value)
    assert "units[3] (112).parent: unknown parent 99" in text
    assert "people[0] (vc-111).role" in text and "people[1] (rg-111).unit" in text


def test_missing_file_is_an_org_file_error(tmp_path: Path) -> None:
    with pytest.raises(OrgFileError):
        load_org(tmp_path / "absent.yaml")
    assert validate_org_file(tmp_path / "absent.yaml")[0].location == "file"


def test_a_unit_serialises_to_json_with_a_geojson_boundary(org: OrgDirectory) -> None:
    dumped = org.unit(V11).model_dump(mode="json")
    assert dumped["boundary"] == org.unit(V11).boundary_geojson()
    assert dumped["patrol_rule"]["min_distance_m"] == 3000
