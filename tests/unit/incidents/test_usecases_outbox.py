"""The outbox relay on fakes: a committed change the store refuses for good is set aside with
its error (counted, dead-lettered), its claim released; the relay goes on with the changes
behind it, and the incident takes its next change."""

from __future__ import annotations

from services.incidents.domain.incident import Incident, Outcome
from services.incidents.store import Change
from services.incidents.usecases.events import incident_id_for
from services.incidents.usecases.outbox import changes_set_aside_total
from tests.unit.incidents.conftest import ORG, VILLAGE, World

CHIEF = f"vc-{VILLAGE}"
OTHER_VILLAGE = "500114002002"


async def opened_fire(world: World, village: str) -> Incident:
    event = world.report("fire", village=village)
    await world.uc.batches.on_reports([event])
    incident = await world.store.get(incident_id_for(event.data.report_id))
    assert incident is not None
    return incident


def set_aside_count(world: World) -> float:
    return changes_set_aside_total.labels(world.settings.service)._value.get()


def climbed(incident: Incident, world: World) -> Change:
    """A change of the incident, one level up, decided on its stored version."""
    up = incident.model_copy(update={"escalation_level": 1, "version": incident.version + 1})
    return world.uc.writer.change(incident.version, up, Outcome(up, ()))


async def test_an_unstorable_change_is_set_aside_and_the_relay_goes_on(world: World) -> None:
    first = await opened_fire(world, VILLAGE)
    world.clock.advance(1)
    second = await opened_fire(world, OTHER_VILLAGE)
    refused = climbed(first, world)
    world.store.refuse(refused, at=world.clock.now())
    behind = climbed(second, world)
    world.clock.advance(1)
    world.store.crash_after_commit(behind, at=world.clock.now())
    counted = set_aside_count(world)
    world.clock.advance(world.settings.relay_grace_s + 1)

    assert await world.uc.relay.relay() == 1  # the change behind the refused one went out
    assert set_aside_count(world) == counted + 1
    [(aside, error, _)] = world.store.set_aside_changes.values()
    assert aside.change_id == refused.change_id and "refused" in error
    assert world.store.outbox == {}
    stored_second = await world.store.get(second.id)
    assert stored_second is not None and stored_second.escalation_level == 1
    assert world.publisher.of_type("message.deadlettered") != []

    # The incident stays at the version stored and takes the next change.
    await world.uc.commands.acknowledge(person=ORG.person(CHIEF), incident_id=first.id, note="")
    acked = await world.store.get(first.id)
    assert acked is not None and acked.version == first.version + 1
    assert await world.uc.relay.relay() == 0
