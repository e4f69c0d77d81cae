"""The use cases on fakes with the clock moved by hand: a boundary incident shared with the
neighbour village's chain is read and acknowledged by it, once per person, published as an
update; the neighbour may not act; the owner's deadline still fires on time after it."""

from __future__ import annotations

from datetime import datetime

import pytest

from services.incidents.domain.incident import Incident, Status
from services.incidents.domain.lifecycle import NeighbourMayNotAct
from services.incidents.usecases.events import incident_id_for
from shared.errors import NotFound
from tests.unit.incidents.conftest import ORG, World, near_edge

OWN, NEIGHBOUR = "500114001001", "500114001002"
NEIGHBOUR_CHIEF = ORG.person(f"vc-{NEIGHBOUR}")
STRANGER = ORG.person("vc-500114002002")


async def boundary_fire(world: World) -> Incident:
    event = world.report("fire", village=OWN, at=near_edge(OWN, NEIGHBOUR))
    await world.uc.batches.on_reports([event])
    incident = await world.store.get(incident_id_for(event.data.report_id))
    assert incident is not None and incident.village == OWN
    assert NEIGHBOUR in incident.neighbour_units
    return incident


def seconds_until(world: World, at: datetime | None) -> float:
    assert at is not None
    return (at - world.clock.now()).total_seconds()


async def test_the_neighbour_chief_reads_it_and_a_stranger_does_not(world: World) -> None:
    incident = await boundary_fire(world)
    shown = await world.uc.queries.get_incident(person=NEIGHBOUR_CHIEF, incident_id=incident.id)
    assert shown["id"] == incident.id and shown["neighbour_acks"] == ()
    with pytest.raises(NotFound):
        await world.uc.queries.get_incident(person=STRANGER, incident_id=incident.id)
    # the lists stay the owner's: the neighbour reads the shared incident one by one
    items, _ = await world.uc.queries.list_incidents(
        person=NEIGHBOUR_CHIEF, status=None, type_=None, unit=None, since=None, limit=50
    )
    assert incident.id not in {i["id"] for i in items}


async def test_a_neighbour_ack_is_recorded_once_and_published_as_an_update(world: World) -> None:
    incident = await boundary_fire(world)
    world.clock.advance(30)
    acked = await world.uc.commands.acknowledge(
        person=NEIGHBOUR_CHIEF, incident_id=incident.id, note="we watch our side"
    )
    assert acked.status == Status.REPORTED and acked.acknowledged_by is None
    assert acked.next_escalation_at == incident.next_escalation_at
    assert [(a.unit, a.person, a.at) for a in acked.neighbour_acks] == [
        (NEIGHBOUR, NEIGHBOUR_CHIEF.id, world.clock.now())
    ]
    # a retry, by either route, doubles nothing and publishes nothing more
    world.clock.advance(5)
    await world.uc.commands.acknowledge(person=NEIGHBOUR_CHIEF, incident_id=incident.id, note=None)
    await world.uc.commands.transition(
        person=NEIGHBOUR_CHIEF, incident_id=incident.id, to="acknowledged", note=None, evidence=None
    )
    stored = await world.store.get(incident.id)
    assert stored is not None and len(stored.neighbour_acks) == 1
    assert [e.event for e in stored.timeline].count("neighbour_acknowledged") == 1
    assert world.publisher.types() == ["incident.opened", "incident.updated"]
    update = world.publisher.of_type("incident.updated")[0]
    assert update.data.reason == f"neighbour_acknowledged:{NEIGHBOUR}"
    assert update.data.actor == NEIGHBOUR_CHIEF.id


async def test_a_neighbour_may_not_act_on_it(world: World) -> None:
    incident = await boundary_fire(world)
    for to in ("responding", "false_alarm", "pest_step:checked"):
        with pytest.raises(NeighbourMayNotAct):
            await world.uc.commands.transition(
                person=NEIGHBOUR_CHIEF, incident_id=incident.id, to=to, note="x", evidence=None
            )
    with pytest.raises(NeighbourMayNotAct):
        await world.uc.commands.pest_step(
            person=NEIGHBOUR_CHIEF,
            incident_id=incident.id,
            step="checked",
            evidence={},
            result=None,
            note=None,
        )
    with pytest.raises(NotFound):
        await world.uc.commands.acknowledge(person=STRANGER, incident_id=incident.id, note=None)
    stored = await world.store.get(incident.id)
    assert stored is not None and stored.version == incident.version


async def test_the_owner_deadline_fires_on_time_after_the_neighbour_ack(world: World) -> None:
    incident = await boundary_fire(world)
    await world.uc.commands.acknowledge(person=NEIGHBOUR_CHIEF, incident_id=incident.id, note="")
    world.clock.advance(seconds_until(world, incident.next_escalation_at) - 1)
    assert await world.uc.engine.run_due() == 0
    world.clock.advance(2)
    assert await world.uc.engine.run_due() == 1
    climbed = await world.store.get(incident.id)
    assert climbed is not None
    assert climbed.escalation_level == incident.escalation_level + 1
    assert climbed.status == Status.REPORTED and len(climbed.neighbour_acks) == 1
    assert world.publisher.types() == ["incident.opened", "incident.updated", "incident.escalated"]
    # the owner's chain acknowledges for itself, at the level reached
    township_chief = ORG.person(f"tc-{OWN[:9]}")
    owned = await world.uc.commands.acknowledge(
        person=township_chief, incident_id=incident.id, note=None
    )
    assert owned.status == Status.ACKNOWLEDGED and owned.acknowledged_by == township_chief.id
