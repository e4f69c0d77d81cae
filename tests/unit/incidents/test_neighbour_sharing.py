"""A boundary incident shared with a neighbour unit's chain (DESIGN.md): who reaches it as a
neighbour, and the neighbour's acknowledgement, which is not the owner's — pure, no I/O."""

from __future__ import annotations

import pytest

from services.incidents.domain.escalation import next_timer_at, on_timer
from services.incidents.domain.incident import Status
from services.incidents.domain.lifecycle import (
    Actor,
    NeighbourMayNotAct,
    NotAllowed,
    acknowledge,
    acknowledge_as_neighbour,
)
from services.incidents.usecases.queries import Reach, reach_of
from shared.policy import Policy
from tests.unit.incidents.conftest import ORG, opened, report
from tests.unit.incidents.conftest import later as at

OWN, NEIGHBOUR = "500114001001", "500114001002"  # same township, sharing an edge
ACROSS = "500114002001"  # a village of the next township
NVC = Actor(f"vc-{NEIGHBOUR}", "village_chief")


@pytest.mark.parametrize(
    ("person", "reach"),
    [
        (f"vc-{OWN}", Reach.OWNER),
        ("tc-500114001", Reach.OWNER),  # the neighbour's township is also the owner's
        (f"vc-{NEIGHBOUR}", Reach.NEIGHBOUR),
        (f"rg-{NEIGHBOUR}-1", Reach.NEIGHBOUR),  # reads, as notify's alert scope lets them
        (f"vc-{ACROSS}", None),
        ("tc-500114002", None),
        ("pub-1", None),
    ],
)
def test_a_neighbour_unit_or_its_ancestors_reach_the_incident_as_neighbour(
    policy: Policy, person: str, reach: Reach | None
) -> None:
    incident = opened(report("fire"), policy, neighbour_units=(NEIGHBOUR,))
    assert reach_of(ORG, ORG.person(person), incident) == reach


def test_a_neighbour_township_chief_reaches_a_village_across_the_township_line(
    policy: Policy,
) -> None:
    incident = opened(report("fire"), policy, neighbour_units=(ACROSS, "500114002"))
    assert reach_of(ORG, ORG.person("tc-500114002"), incident) == Reach.NEIGHBOUR
    assert reach_of(ORG, ORG.person(f"vc-{ACROSS}"), incident) == Reach.NEIGHBOUR
    assert reach_of(ORG, ORG.person("vc-500114002002"), incident) is None


def test_without_neighbour_units_only_the_owner_reaches_it(policy: Policy) -> None:
    incident = opened(report("fire"), policy)
    assert reach_of(ORG, ORG.person(f"vc-{NEIGHBOUR}"), incident) is None


def test_a_neighbour_ack_is_recorded_and_keeps_status_and_deadline(policy: Policy) -> None:
    fire = opened(report("fire"), policy, neighbour_units=(NEIGHBOUR,))
    outcome = acknowledge_as_neighbour(fire, actor=NVC, unit=NEIGHBOUR, now=at(60), note="seen")
    shared = outcome.incident
    assert shared.status == Status.REPORTED
    assert shared.acknowledged_by is None and shared.acknowledged_at is None
    assert shared.next_escalation_at == fire.next_escalation_at
    assert next_timer_at(policy, shared) == next_timer_at(policy, fire)
    assert [(a.unit, a.person, a.at, a.note) for a in shared.neighbour_acks] == [
        (NEIGHBOUR, NVC.id, at(60), "seen")
    ]
    assert shared.timeline[-1].event == "neighbour_acknowledged"
    assert [(n.kind, n.reason, n.actor) for n in outcome.notices] == [
        ("updated", f"neighbour_acknowledged:{NEIGHBOUR}", NVC.id)
    ]


def test_a_neighbour_ack_is_once_per_person(policy: Policy) -> None:
    fire = opened(report("fire"), policy, neighbour_units=(NEIGHBOUR,))
    once = acknowledge_as_neighbour(fire, actor=NVC, unit=NEIGHBOUR, now=at(60)).incident
    again = acknowledge_as_neighbour(once, actor=NVC, unit=NEIGHBOUR, now=at(90))
    assert again.incident == once and again.notices == ()
    other = Actor(f"sv-{NEIGHBOUR}", "supervisor")
    both = acknowledge_as_neighbour(once, actor=other, unit=NEIGHBOUR, now=at(90)).incident
    assert [a.person for a in both.neighbour_acks] == [NVC.id, other.id]


def test_the_owner_deadline_still_climbs_after_a_neighbour_ack(policy: Policy) -> None:
    fire = opened(report("fire"), policy, neighbour_units=(NEIGHBOUR,))
    shared = acknowledge_as_neighbour(fire, actor=NVC, unit=NEIGHBOUR, now=at(60)).incident
    assert fire.next_escalation_at is not None
    climbed = on_timer(policy, shared, now=fire.next_escalation_at).incident
    assert climbed.escalation_level == fire.escalation_level + 1
    # and the owner may still acknowledge: the neighbour's did not stand for theirs
    owner = Actor(f"vc-{OWN}", "village_chief")
    assert acknowledge(shared, actor=owner, now=at(61)).incident.status == Status.ACKNOWLEDGED


def test_a_neighbour_ack_needs_a_chain_role_at_any_level(policy: Policy) -> None:
    fire = opened(report("fire"), policy, neighbour_units=(NEIGHBOUR,))
    with pytest.raises(NotAllowed):
        acknowledge_as_neighbour(
            fire, actor=Actor(f"rg-{NEIGHBOUR}-1", "ranger"), unit=NEIGHBOUR, now=at(1)
        )
    high = fire.model_copy(update={"escalation_level": 2})
    assert acknowledge_as_neighbour(high, actor=NVC, unit=NEIGHBOUR, now=at(1)).notices


def test_the_refusal_to_act_says_a_neighbour_reads_and_acknowledges() -> None:
    refusal = NeighbourMayNotAct("moving it to 'responding'")
    assert refusal.status == 403 and refusal.field == "role"
    assert "may read and acknowledge" in refusal.message
