"""The policy file: shipped defaults equal DOMAIN.md, helpers, and errors that name the field."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.policy import (
    Policy,
    PolicyFileError,
    default_policy_path,
    load_policy,
    parse_policy,
)

FIRE_TYPES = ("fire", "smoke", "hotspot")
SISLUAN = ("illegal_logging", "poaching", "illegal_digging", "land_occupation")


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy()


def test_shipped_file_equals_the_model_defaults(policy: Policy) -> None:
    assert policy == Policy()
    assert load_policy(default_policy_path()) is policy  # cached


def test_an_empty_file_gives_the_defaults() -> None:
    assert parse_policy("") == Policy()


def test_merge_windows_follow_design(policy: Policy) -> None:
    for t in FIRE_TYPES:
        assert policy.family_of(t) == "fire"
        assert policy.window_for(t) == (1000, 6 * 3600)
    for t in SISLUAN:
        assert policy.family_of(t) == "sisluan"  # 四乱
    assert policy.family_of("pest") == "pest"
    assert policy.family_of("sos") == "safety"
    assert policy.family_of("wildlife_damage") == "other"
    assert policy.family_of("unheard_of") == "other"
    for t in ("pest", "poaching", "other", "sos"):
        assert policy.window_for(t) == (300, 24 * 3600)


def test_fire_deadlines_are_5_10_15_minutes_then_hq(policy: Policy) -> None:
    for t in FIRE_TYPES:
        assert [policy.deadline_s(t, lv) for lv in range(5)] == [300, 600, 900, None, None]
    assert policy.escalation.max_level == 3


def test_fire_ban_halves_fire_deadlines_only(policy: Policy) -> None:
    assert policy.deadline_s("fire", 0, fire_ban_active=True) == 150
    assert policy.deadline_s("hotspot", 2, fire_ban_active=True) == 450
    assert policy.deadline_s("pest", 0, fire_ban_active=True) == 24 * 3600
    assert policy.escalation.fire_ban_factor == 0.5
    assert policy.patrol.fire_ban_target_multiplier == 1.5


def test_other_deadlines(policy: Policy) -> None:
    assert policy.deadline_s("pest", 0) == 24 * 3600
    assert policy.deadline_s("pest", 2) == 72 * 3600
    assert policy.deadline_s("illegal_logging", 0) == 30 * 60
    assert policy.deadline_s("sos", 0) == 120
    assert policy.deadline_s("other", 1) == 24 * 3600
    assert policy.deadline_s("never_seen", 0) == 4 * 3600
    assert policy.deadline_s("fire", -1) is None


def test_start_levels(policy: Policy) -> None:
    start = policy.escalation.start
    assert policy.start_level("sos") == 2
    assert policy.start_level("fire") == 0
    assert start.fire.serious_level == 3  # district + HQ
    assert start.fire.min_area_ha == 1.0 and start.fire.any_casualty
    assert start.fire.near_boundary and start.fire.hotspot_min_pixels == 3
    assert start.sisluan.police_at_level == 0 and start.sisluan.serious_level == 2
    assert start.sisluan.land_occupation_min_mu_public_welfare == 5
    assert start.sisluan.land_occupation_min_mu_commercial == 10


def test_reescalation_and_hotspots(policy: Policy) -> None:
    esc = policy.escalation
    assert esc.reescalation.area_bands_ha == (1, 20, 100, 1000)
    assert esc.reescalation.flame_not_out_h == (12, 24)
    assert esc.boundary_proximity_m == 1000
    assert esc.hotspot_min_pixels_at_once == 3
    assert esc.hotspot_min_confidence == 30
    assert "low" in esc.hotspot_drop_confidence and "l" in esc.hotspot_drop_confidence


def test_pest_loop_steps_and_three_sees_one_promise(policy: Policy) -> None:
    loop = policy.pest_loop
    assert loop.step_names() == [
        "reported", "checked", "sampled", "county_test", "city_recheck", "province_confirm",
        "marked", "felling_assigned", "felled", "disposed", "accepted", "surveillance",
    ]  # fmt: skip
    # 三见一诺: stump photo with GPS, disposal photo, cleared site photo, signed commitment
    assert set(loop.evidence_for("felled")) == {"stump_photo", "gps"}
    assert loop.evidence_for("disposed") == ("disposal_photo",)
    assert set(loop.evidence_for("accepted")) == {"cleared_site_photo", "signed_commitment"}
    assert "lab_result" in loop.evidence_for("county_test")
    assert "sampler" in loop.evidence_for("sampled")
    assert "county_test" in loop.negative_closes_at
    assert loop.next_step("felled") == "disposed"
    assert loop.next_step("surveillance") is None
    assert loop.check_within_s == 24 * 3600
    assert loop.dispose_within_s == 48 * 3600
    assert loop.outbreak_cleared_within_days == 365


def test_patrol_and_report_limits(policy: Policy) -> None:
    p = policy.patrol
    assert (p.overdue_after_s, p.late_points_accept_s, p.max_speed_kmh) == (3600, 86400, 30)
    assert (p.jump_m, p.jump_within_s, p.gap_s) == (1000, 60, 600)
    assert (p.future_tolerance_s, p.max_points_per_batch) == (300, 1000)
    assert policy.reports.max_description_chars == 2000
    assert policy.reports.max_photos == 10
    assert policy.fire_bans == ()


def test_fire_bans_parse_and_apply() -> None:
    policy = parse_policy(
        """
fire_bans:
  - id: qj-1
    kind: fire_ban
    area: ["500114001"]
    starts_at: 2026-02-01T00:00:00+08:00
    ends_at: 2026-03-01T00:00:00+08:00
    issuer: 黔江区人民政府
  - id: qj-2
    kind: mountain_closure
    area: {type: Polygon, coordinates: [[[108.6, 29.4], [108.7, 29.4], [108.7, 29.5],
                                          [108.6, 29.4]]]}
    starts_at: 2026-02-01T00:00:00Z
    ends_at: 2026-02-02T00:00:00Z
    issuer: 黔江区林业局
"""
    )
    ban, closure = policy.fire_bans
    at = datetime(2026, 2, 1, 12, tzinfo=UTC)
    assert [b.id for b in policy.active_fire_bans(at)] == ["qj-1", "qj-2"]
    assert [b.id for b in policy.active_fire_bans(datetime(2026, 2, 10, tzinfo=UTC))] == ["qj-1"]
    assert ban.covers(lat=29.45, lon=108.65, unit_codes=("500114001001", "500114001", "500114"))
    assert not ban.covers(lat=29.45, lon=108.75, unit_codes=("500114002001", "500114002"))
    assert closure.covers(lat=29.41, lon=108.69, unit_codes=())
    assert not closure.covers(lat=29.49, lon=108.61, unit_codes=())


def _error(text: str) -> PolicyFileError:
    with pytest.raises(PolicyFileError) as info:
        parse_policy(text, "p.yaml")
    return info.value


def test_a_bad_value_names_its_field_path() -> None:
    err = _error("escalation:\n  deadlines_s:\n    fire: [300, soon, 900]\n")
    assert err.faults[0][0] == "escalation.deadlines_s.fire.1"
    assert "escalation.deadlines_s.fire.1" in str(err)


def test_an_unknown_field_is_named() -> None:
    err = _error("patrol:\n  max_sped_kmh: 40\n")
    assert err.faults[0][0] == "patrol.max_sped_kmh"


def test_every_bad_field_is_reported() -> None:
    err = _error("reports:\n  max_photos: -1\nmerging:\n  default: {distance_m: 0, window_s: 1}\n")
    where = {f for f, _ in err.faults}
    assert where == {"reports.max_photos", "merging.default.distance_m"}


def test_a_fire_ban_that_ends_before_it_starts_is_refused() -> None:
    err = _error(
        "fire_bans:\n  - {id: x, kind: fire_ban, area: ['1'], issuer: y,\n"
        "     starts_at: 2026-02-02T00:00:00Z, ends_at: 2026-02-01T00:00:00Z}\n"
    )
    assert err.faults[0][0] == "fire_bans.0"
    assert "ends_at" in err.faults[0][1]


def test_an_unknown_fire_ban_kind_is_named() -> None:
    err = _error(
        "fire_bans:\n  - {id: x, kind: curfew, area: ['1'], issuer: y,\n"
        "     starts_at: 2026-02-01T00:00:00Z, ends_at: 2026-02-02T00:00:00Z}\n"
    )
    assert err.faults[0][0] == "fire_bans.0.kind"


def test_yaml_syntax_error_names_the_line() -> None:
    err = _error("patrol:\n  gap_s: [600\n")
    assert err.faults[0][0].startswith("line ")


def test_load_policy_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("reports:\n  max_photos: 3\n", encoding="utf-8")
    policy = load_policy(path)
    assert policy.reports.max_photos == 3
    assert policy.escalation == Policy().escalation
    path.write_text("reports:\n  max_photos: many\n", encoding="utf-8")
    with pytest.raises(PolicyFileError, match="reports.max_photos"):
        load_policy(path)
    with pytest.raises(PolicyFileError):
        load_policy(tmp_path / "absent.yaml")
