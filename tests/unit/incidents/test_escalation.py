"""Escalation timing with a fake clock: deadlines per level, one hop per deadline, fire bans
halving fire deadlines, flame-not-out re-escalation, ack stopping the climb."""

from __future__ import annotations

from datetime import UTC, datetime

from services.incidents.domain.escalation import next_timer_at, on_timer
from services.incidents.domain.incident import Incident
from services.incidents.domain.lifecycle import Actor, acknowledge
from shared.clock import FakeClock
from shared.policy import FireBan, Policy
from tests.unit.incidents.conftest import T0, opened, report
from tests.unit.incidents.conftest import later as at


def run(
    policy: Policy, incident: Incident, clock: FakeClock
) -> tuple[Incident, list[tuple[int, int]]]:
    """What the engine does at clock.now(): keep calling while something changes."""
    hops: list[tuple[int, int]] = []
    while True:
        outcome = on_timer(policy, incident, now=clock.now())
        if outcome.incident == incident:
            return incident, hops
        incident = outcome.incident
        hops += [
            (n.from_level or 0, n.to_level or 0) for n in outcome.notices if n.kind == "escalated"
        ]


def test_fire_climbs_on_5_10_15_minute_deadlines(policy: Policy) -> None:
    clock = FakeClock(T0)
    fire = opened(report("fire"), policy)
    assert fire.next_escalation_at == at(300)
    clock.set(at(299.9))
    fire, hops = run(policy, fire, clock)
    assert hops == []
    clock.set(at(300))
    fire, hops = run(policy, fire, clock)
    assert hops == [(0, 1)] and fire.next_escalation_at == at(900)
    clock.set(at(899))
    assert run(policy, fire, clock)[1] == []
    clock.set(at(900))
    fire, hops = run(policy, fire, clock)
    assert hops == [(1, 2)] and fire.next_escalation_at == at(1800)
    clock.set(at(1800))
    fire, hops = run(policy, fire, clock)
    assert hops == [(2, 3)] and fire.next_escalation_at is None
    clock.set(at(99999))
    fire2, hops = run(policy, fire, clock)
    assert [h for h in hops] == []  # the top: no more climbing (flame checks aside)


def test_long_outage_climbs_hop_by_hop_each_once_timestamped_at_its_deadline(
    policy: Policy,
) -> None:
    fire = opened(report("fire"), policy)
    clock = FakeClock(at(3600))
    fire, hops = run(policy, fire, clock)
    assert hops == [(0, 1), (1, 2), (2, 3)]
    assert fire.level_reached_at == at(1800)


def test_ack_stops_the_climb(policy: Policy) -> None:
    fire = opened(report("fire"), policy)
    acked = acknowledge(fire, actor=Actor("vc", "village_chief"), now=at(10)).incident
    assert acked.next_escalation_at is None
    assert run(policy, acked, FakeClock(at(3600)))[1] == []


def test_fire_ban_halves_fire_deadlines_but_not_others() -> None:
    ban = FireBan(
        id="b1",
        kind="fire_ban",
        area=["500114001"],
        starts_at=datetime(2026, 1, 1, tzinfo=UTC),
        ends_at=datetime(2027, 1, 1, tzinfo=UTC),
        issuer="黔江区人民政府",
    )
    policy = Policy(fire_bans=(ban,))
    assert opened(report("fire"), policy).next_escalation_at == at(150)
    assert opened(report("illegal_logging"), policy).next_escalation_at == at(1800)
    elsewhere = Policy(fire_bans=(ban.model_copy(update={"area": ["500114003"]}),))
    assert opened(report("fire"), elsewhere).next_escalation_at == at(300)


def test_flame_not_out_after_12h_goes_to_the_top_and_24h_realerts(policy: Policy) -> None:
    fire = opened(report("fire"), policy)
    fire = acknowledge(fire, actor=Actor("vc", "village_chief"), now=at(10)).incident
    assert next_timer_at(policy, fire) == at(12 * 3600)
    clock = FakeClock(at(12 * 3600))
    fire, hops = run(policy, fire, clock)
    assert hops == [(0, 3)] and fire.flame_checks_done == (12.0,)
    clock.set(at(24 * 3600))
    out = on_timer(policy, fire, now=clock.now())
    assert [n.reason for n in out.notices] == ["flame_not_out:24h"]
    assert next_timer_at(policy, out.incident) is None


def test_sos_starts_at_district_with_two_minute_deadline(policy: Policy) -> None:
    sos = opened(report("sos"), policy)
    assert sos.escalation_level == 2 and sos.next_escalation_at == at(600)
