"""The escalation engine, commands and the outbox relay on fakes, the clock moved by hand: a
timer fires when the clock passes its deadline and not before, an acknowledgement stops the
climb, timers survive a restart, a lost version race is decided again."""

from __future__ import annotations

from datetime import datetime

from services.incidents.domain.incident import Incident, Status
from services.incidents.store import Change
from services.incidents.usecases.events import incident_id_for
from shared.errors import NotFound
from tests.unit.incidents.conftest import ORG, VILLAGE, World

CHIEF = f"vc-{VILLAGE}"


async def opened_fire(world: World) -> Incident:
    event = world.report("fire")
    await world.uc.batches.on_reports([event])
    incident = await world.store.get(incident_id_for(event.data.report_id))
    assert incident is not None and incident.next_escalation_at is not None
    return incident


def seconds_until(world: World, at: datetime) -> float:
    return (at - world.clock.now()).total_seconds()


async def test_escalation_fires_when_the_clock_passes_the_deadline(world: World) -> None:
    incident = await opened_fire(world)
    assert incident.next_escalation_at is not None
    world.clock.advance(seconds_until(world, incident.next_escalation_at) - 1)
    assert await world.uc.engine.run_due() == 0
    world.clock.advance(2)
    assert await world.uc.engine.run_due() == 1
    climbed = await world.store.get(incident.id)
    assert climbed is not None
    assert climbed.escalation_level == incident.escalation_level + 1
    assert world.publisher.types() == ["incident.opened", "incident.escalated"]


async def test_an_acknowledgement_stops_the_climb(world: World) -> None:
    incident = await opened_fire(world)
    await world.uc.commands.acknowledge(person=ORG.person(CHIEF), incident_id=incident.id, note="")
    assert incident.next_escalation_at is not None
    world.clock.advance(seconds_until(world, incident.next_escalation_at) + 3600)
    assert await world.uc.engine.run_due() == 0
    acked = await world.store.get(incident.id)
    assert acked is not None and acked.status == Status.ACKNOWLEDGED
    assert world.publisher.types() == ["incident.opened", "incident.acknowledged"]


async def test_timers_stored_before_a_restart_fire_after_it(world: World) -> None:
    incident = await opened_fire(world)
    after = world.restart()
    await after.uc.rescan.rescan()
    assert incident.next_escalation_at is not None
    after.clock.advance(seconds_until(after, incident.next_escalation_at) + 1)
    assert await after.uc.engine.run_due() == 1
    assert after.publisher.of_type("incident.escalated") != []


async def test_a_lost_version_race_is_decided_again_on_a_fresh_read(world: World) -> None:
    incident = await opened_fire(world)
    store, real = world.store, world.store.commit
    raced: list[str] = []

    async def racing(change: Change, *, at: datetime) -> bool:
        if not raced:  # someone else escalates the incident first
            raced.append(change.change_id)
            other = incident.model_copy(update={"version": 2, "escalation_level": 1})
            await real(Change(1, other, (), None), at=at)
        return await real(change, at=at)

    store.commit = racing  # type: ignore[method-assign]
    await world.uc.commands.acknowledge(
        person=ORG.person(f"tc-{VILLAGE[:9]}"), incident_id=incident.id, note=None
    )
    acked = await world.store.get(incident.id)
    assert raced == [f"{incident.id}:1"]
    assert acked is not None and acked.version == 3
    assert (acked.status, acked.escalation_level) == (Status.ACKNOWLEDGED, 1)


async def test_an_incident_outside_ones_scope_is_not_found(world: World) -> None:
    incident = await opened_fire(world)
    stranger = ORG.person("vc-500114002002")
    try:
        await world.uc.queries.get_incident(person=stranger, incident_id=incident.id)
    except NotFound:
        pass
    else:
        raise AssertionError("an incident of another village was shown")
    shown = await world.uc.queries.get_incident(person=ORG.person(CHIEF), incident_id=incident.id)
    assert shown["id"] == incident.id and "version" not in shown
