"""Who hears what at which level (pure, on the demo org directory)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.notify.domain.recipients import (
    incident_recipients,
    levels_for_escalated,
    levels_for_opened,
    overdue_recipients,
    scope_units,
)
from shared.events import IncidentSnapshot
from shared.org import OrgDirectory, load_org

V = "500114001001"
T = "500114001"
D = "500114"
CHAIN = {f"vc-{V}", f"sv-{V}", f"in-{V}"}


@pytest.fixture(scope="module")
def org() -> OrgDirectory:
    return load_org(None)


def snap(**kw: object) -> IncidentSnapshot:
    now = datetime(2026, 3, 15, 8, 0, tzinfo=UTC)
    base: dict[str, object] = dict(
        id="i1",
        type="fire",
        family="fire",
        status="reported",
        severity="general",
        verified=True,
        village=V,
        township=T,
        district=D,
        lat=29.43,
        lon=108.65,
        report_ids=("r1",),
        escalation_level=0,
        opened_at=now,
        observed_at=now,
        reporter_id=f"rg-{V}-1",
    )
    base.update(kw)
    return IncidentSnapshot(**base)  # type: ignore[arg-type]


def ids(recipients: list[object], level: int | None = None) -> set[str]:
    return {r.person_id for r in recipients if level is None or r.level == level}  # type: ignore[attr-defined]


def test_level_0_is_the_village_chain_without_rangers(org: OrgDirectory) -> None:
    got = incident_recipients(org, snap(), levels_for_opened(0))
    assert ids(got) == CHAIN
    assert {r.level for r in got} == {0}


def test_the_reporter_is_never_told_of_their_own_report(org: OrgDirectory) -> None:
    got = incident_recipients(org, snap(reporter_id=f"vc-{V}"), levels_for_opened(0))
    assert ids(got) == CHAIN - {f"vc-{V}"}


def test_levels_1_2_3_are_township_district_chief_and_hq(org: OrgDirectory) -> None:
    got = incident_recipients(org, snap(), range(0, 4))
    assert ids(got, 1) == {f"tc-{T}"}
    assert ids(got, 2) == {f"dc-{D}"}
    assert ids(got, 3) == {f"hq-{D}"}
    assert not any(p.startswith("cc-") for p in ids(got))  # command center: stream only


def test_four_chaos_add_township_police_at_level_0(org: OrgDirectory) -> None:
    got = incident_recipients(org, snap(type="poaching", police=True), levels_for_opened(0))
    assert ids(got) == CHAIN | {f"po-{T}"}
    police = [r for r in got if r.person_id == f"po-{T}"][0]
    assert police.reason == "police" and police.level == 0


def test_neighbour_units_hear_at_their_own_tier(org: OrgDirectory) -> None:
    s = snap(neighbour_units=("500114002001", "500114002"))
    at0 = incident_recipients(org, s, [0])
    assert {"vc-500114002001", "sv-500114002001", "in-500114002001"} <= ids(at0)
    assert "tc-500114002" not in ids(at0)
    at1 = incident_recipients(org, s, [1])
    assert ids(at1) == {f"tc-{T}", "tc-500114002"}
    unknown = incident_recipients(org, snap(neighbour_units=("999999",)), [0])
    assert ids(unknown) == CHAIN


@pytest.mark.parametrize(
    ("level", "floor", "expected"),
    [(0, 0, [0]), (2, 0, [0, 1, 2]), (0, 2, [0, 1, 2]), (3, 2, [0, 1, 2, 3])],
)
def test_opened_tells_every_level_up_to_the_one_reached(
    level: int, floor: int, expected: list[int]
) -> None:
    assert list(levels_for_opened(level, floor=floor)) == expected


@pytest.mark.parametrize(
    ("a", "b", "floor", "expected"),
    [
        (0, 1, 0, [1]),
        (0, 2, 0, [1, 2]),
        (1, 3, 0, [2, 3]),
        (2, 2, 0, []),
        (2, 1, 0, []),
        (0, 1, 2, []),
        (2, 3, 2, [3]),
    ],
)
def test_escalated_tells_only_the_new_levels(
    a: int, b: int, floor: int, expected: list[int]
) -> None:
    assert list(levels_for_escalated(a, b, floor=floor)) == expected


def test_patrol_overdue_goes_to_the_rangers_village_chain(org: OrgDirectory) -> None:
    got = overdue_recipients(org, V, f"rg-{V}-2")
    assert ids(got) == CHAIN
    assert overdue_recipients(org, "nope", "x") == []


def test_scope_units_cover_the_village_its_ancestors_and_neighbours(org: OrgDirectory) -> None:
    assert scope_units(org, V) == [V, T, D]
    assert scope_units(org, V, ["500114002001"]) == [V, T, D, "500114002001", "500114002"]
