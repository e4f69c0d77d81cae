"""Lifecycle moves and who may make them; the pest closed loop: order, evidence, negative test."""

from __future__ import annotations

import pytest

from services.incidents.domain.incident import Incident
from services.incidents.domain.lifecycle import Actor, NotAllowed, acknowledge, transition
from services.incidents.domain.pest_loop import expected_step, record_step
from shared.errors import IllegalTransition, InvalidInput
from shared.policy import Policy
from tests.unit.incidents.conftest import later as at
from tests.unit.incidents.conftest import opened, report

VC, TC, DC, HQ = (Actor(r, r) for r in ("village_chief", "township_chief", "district_chief", "hq"))
RANGER, PUBLIC, POLICE = Actor("rg", "ranger"), Actor("pub", "public"), Actor("po", "police")


def test_ack_needs_the_chain_at_or_above_the_level(policy: Policy) -> None:
    fire = opened(report("fire"), policy)
    for who in (RANGER, PUBLIC, POLICE):
        with pytest.raises(NotAllowed):
            acknowledge(fire, actor=who, now=at(1))
    high = fire.model_copy(update={"escalation_level": 2})
    for who in (VC, TC):
        with pytest.raises(NotAllowed):
            acknowledge(high, actor=who, now=at(1))
    assert acknowledge(high, actor=DC, now=at(1)).incident.status == "acknowledged"
    with pytest.raises(IllegalTransition):
        acknowledge(acknowledge(fire, actor=VC, now=at(1)).incident, actor=VC, now=at(2))
    sisluan = opened(report("poaching"), policy)
    assert acknowledge(sisluan, actor=POLICE, now=at(1)).incident.acknowledged_by == "po"


@pytest.mark.parametrize(
    ("level", "may", "may_not"),
    [(3, (HQ,), (VC, TC, DC)), (2, (DC, HQ), (VC, TC)), (0, (VC, TC, DC, HQ), ())],
)
def test_a_false_alarm_is_for_the_chain_at_or_above_the_level_reached(
    policy: Policy, level: int, may: tuple[Actor, ...], may_not: tuple[Actor, ...]
) -> None:
    """Issue 16, finding 7: a village chief could end (silence) an HQ-level fire."""
    fire = opened(report("fire"), policy).model_copy(update={"escalation_level": level})
    for who in may_not:
        with pytest.raises(NotAllowed):
            transition(fire, to="false_alarm", actor=who, now=at(1), policy=policy, note="smoke")
    for who in may:
        moved = transition(fire, to="false_alarm", actor=who, now=at(1), policy=policy, note="x")
        assert moved.incident.status == "false_alarm"


def walk(policy: Policy, incident: Incident, *steps: tuple[str, Actor]) -> Incident:
    for to, who in steps:
        incident = transition(
            incident, to=to, actor=who, now=at(5), policy=policy, note="n"
        ).incident
    return incident


def test_lifecycle_moves_and_closing_roles(policy: Policy) -> None:
    fire = opened(report("fire"), policy)
    with pytest.raises(IllegalTransition):
        walk(policy, fire, ("resolved", VC))
    done = walk(policy, fire, ("acknowledged", VC), ("responding", VC), ("resolved", VC))
    with pytest.raises(NotAllowed):
        walk(policy, done, ("closed", VC))
    closed = walk(policy, done, ("closed", TC))
    assert closed.status == "closed"
    with pytest.raises(IllegalTransition):
        walk(policy, closed, ("responding", HQ))
    reopened = walk(policy, done, ("responding", VC))
    assert reopened.status == "responding"
    events = [e.event for e in closed.timeline]
    assert events[-4:] == ["acknowledged", "status:responding", "status:resolved", "status:closed"]
    with pytest.raises(InvalidInput):
        transition(fire, to="false_alarm", actor=VC, now=at(1), policy=policy, note=" ")
    with pytest.raises(NotAllowed):
        walk(policy, fire, ("false_alarm", RANGER))
    assert walk(policy, fire, ("false_alarm", VC)).status == "false_alarm"


def test_pest_loop_in_order_with_evidence_and_complete_before_close(policy: Policy) -> None:
    pest = opened(report("pest", photos=("t.jpg",), details={"subcompartment": "12-3"}), policy)
    assert [s.name for s in pest.pest_steps] == ["reported"]
    assert expected_step(pest, policy) == "checked"
    with pytest.raises(IllegalTransition):
        record_step(pest, step="sampled", evidence={}, actor=RANGER, now=at(1), policy=policy)
    with pytest.raises(InvalidInput):
        record_step(
            pest, step="checked", evidence={"photo": "x"}, actor=RANGER, now=at(1), policy=policy
        )
    with pytest.raises(NotAllowed):
        record_step(
            pest,
            step="checked",
            evidence={"photo": "x", "gps": "g"},
            actor=PUBLIC,
            now=at(1),
            policy=policy,
        )
    acked = acknowledge(pest, actor=VC, now=at(1)).incident
    with pytest.raises(IllegalTransition):
        walk(policy, acked, ("closed", TC))
    evidence = {
        **PEST_EVIDENCE,
        "accepted": {"cleared_site_photo": "p", "signed_commitment": "c"},
        "surveillance": {},
    }
    loop = acked
    for step, ev in evidence.items():
        result = (
            "positive"
            if step in policy.pest_loop.negative_closes_at and step != "checked"
            else None
        )
        loop = record_step(
            loop, step=step, evidence=ev, actor=RANGER, now=at(2), policy=policy, result=result
        ).incident
    assert loop.pest_outcome == "complete" and expected_step(loop, policy) is None
    assert walk(policy, loop, ("closed", TC)).status == "closed"


def test_negative_county_test_finishes_the_loop_early(policy: Policy) -> None:
    pest = opened(report("pest", photos=("t.jpg",), details={"subcompartment": "1"}), policy)
    pest = record_step(
        pest,
        step="checked",
        evidence={"photo": "p", "gps": "g"},
        actor=RANGER,
        now=at(1),
        policy=policy,
    ).incident
    pest = record_step(
        pest,
        step="sampled",
        evidence={"photo": "p", "sampler": "s", "sample_label": "l"},
        actor=RANGER,
        now=at(1),
        policy=policy,
    ).incident
    with pytest.raises(InvalidInput):  # a test step needs its result
        record_step(
            pest,
            step="county_test",
            evidence={"lab_result": "r"},
            actor=VC,
            now=at(2),
            policy=policy,
        )
    done = record_step(
        pest,
        step="county_test",
        evidence={"lab_result": "r"},
        actor=VC,
        now=at(2),
        policy=policy,
        result="negative",
    )
    assert done.incident.pest_outcome == "negative"
    assert done.notices[0].reason == "pest_step:county_test:negative"
    with pytest.raises(IllegalTransition):
        record_step(
            done.incident,
            step="city_recheck",
            evidence={"lab_result": "r"},
            actor=VC,
            now=at(3),
            policy=policy,
        )
    acked = acknowledge(done.incident, actor=VC, now=at(4)).incident
    assert walk(policy, acked, ("closed", TC)).status == "closed"


PEST_EVIDENCE = {
    "checked": {"photo": "p", "gps": "g"},
    "sampled": {"photo": "p", "sampler": "s", "sample_label": "l"},
    "county_test": {"lab_result": "r"},
    "city_recheck": {"lab_result": "r"},
    "province_confirm": {"lab_result": "r"},
    "marked": {"subcompartment": "12-3"},
    "felling_assigned": {"assignee": "team 2"},
    "felled": {"stump_photo": "p", "gps": "g"},
    "disposed": {"disposal_photo": "p"},
}
H = 3600.0


def _steps(policy: Policy, incident: Incident, until: str, at_s: float) -> Incident:
    """Record the loop's next steps up to and including `until`, at `at_s`."""
    done = {record.name for record in incident.pest_steps}
    for step, evidence in PEST_EVIDENCE.items():
        if step in done:
            continue
        result = "positive" if step in ("county_test", "city_recheck", "province_confirm") else None
        incident = record_step(
            incident,
            step=step,
            evidence=evidence,
            actor=RANGER,
            now=at(at_s),
            policy=policy,
            result=result,
        ).incident
        if step == until:
            return incident
    raise AssertionError(until)


def test_pest_check_deadline_climbs_once_even_when_acknowledged(policy: Policy) -> None:
    """Suspect pest reports are due for checking within 24 h (DOMAIN): acknowledging does not
    stop that clock; the missed check climbs one level, once."""
    from services.incidents.domain.escalation import next_timer_at, on_timer

    pest = opened(report("pest", photos=("t.jpg",), details={"subcompartment": "12-3"}), policy)
    acked = acknowledge(pest, actor=VC, now=at(60)).incident
    assert next_timer_at(policy, acked) == at(24 * H)
    assert not on_timer(policy, acked, now=at(24 * H - 1)).changed
    missed = on_timer(policy, acked, now=at(24 * H))
    assert missed.changed and missed.incident.escalation_level == 1
    (notice,) = missed.notices
    assert notice.kind == "escalated" and "checked not done within 24 h" in notice.reason
    assert missed.incident.pest_deadlines_missed == ("checked",)
    assert missed.incident.status == "acknowledged" and missed.incident.next_escalation_at is None
    assert next_timer_at(policy, missed.incident) is None
    assert not on_timer(policy, missed.incident, now=at(48 * H)).changed


def test_pest_checked_in_time_keeps_the_level(policy: Policy) -> None:
    from services.incidents.domain.escalation import next_timer_at, on_timer

    pest = opened(report("pest", photos=("t.jpg",), details={"subcompartment": "12-3"}), policy)
    acked = acknowledge(pest, actor=VC, now=at(60)).incident
    checked = _steps(policy, acked, "checked", 23 * H)
    assert next_timer_at(policy, checked) is None
    assert not on_timer(policy, checked, now=at(30 * H)).changed


def test_pest_disposal_due_48_h_after_confirmation(policy: Policy) -> None:
    from services.incidents.domain.escalation import next_timer_at, on_timer

    pest = opened(report("pest", photos=("t.jpg",), details={"subcompartment": "12-3"}), policy)
    acked = acknowledge(pest, actor=VC, now=at(60)).incident
    confirmed = _steps(policy, acked, "province_confirm", 10 * H)
    assert next_timer_at(policy, confirmed) == at(58 * H)
    assert not on_timer(policy, confirmed, now=at(58 * H - 1)).changed
    late = on_timer(policy, confirmed, now=at(58 * H))
    assert late.incident.escalation_level == 1
    assert "disposed not done within 48 h of province_confirm" in late.notices[0].reason
    # Disposed in time instead: no deadline left.
    disposed = _steps(policy, confirmed, "disposed", 57 * H)
    assert next_timer_at(policy, disposed) is None


def test_pest_deadline_at_the_top_level_is_noted_not_climbed(policy: Policy) -> None:
    from services.incidents.domain.escalation import on_timer

    pest = opened(report("pest", photos=("t.jpg",), details={"subcompartment": "12-3"}), policy)
    top = acknowledge(pest, actor=VC, now=at(60)).incident.model_copy(
        update={"escalation_level": policy.escalation.max_level}
    )
    noted = on_timer(policy, top, now=at(24 * H))
    assert noted.incident.escalation_level == policy.escalation.max_level
    assert noted.notices[0].kind == "updated" and noted.notices[0].reason == "pest_deadline:checked"
    assert noted.incident.timeline[-1].event == "deadline_missed"
    assert not on_timer(policy, noted.incident, now=at(25 * H)).changed


def test_pest_step_names_in_the_policy_must_exist() -> None:
    from pydantic import ValidationError

    from shared.policy.models import PestLoop

    with pytest.raises(ValidationError, match="dispose_step"):
        PestLoop(dispose_step="burned")
