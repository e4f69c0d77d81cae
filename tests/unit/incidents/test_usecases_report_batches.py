"""Report batches on fakes: a report opens an incident (published only once stored), a later
report near it joins it, a redelivered batch doubles nothing, a resend under a taken id by
someone else is dropped, a publisher failure leaves the change for the relay."""

from __future__ import annotations

from collections.abc import Sequence

from services.incidents.domain.incident import Status
from services.incidents.usecases.events import incident_id_for
from shared.clock import FakeClock
from shared.events import Event
from tests.fakes.incidents_store import InMemoryIncidentStore
from tests.fakes.publisher import RecordingPublisher
from tests.unit.incidents.conftest import World, world_on


class StoreFirstPublisher(RecordingPublisher):
    """Fails the test if an incident event goes out before its incident is stored."""

    def __init__(self, store: InMemoryIncidentStore) -> None:
        super().__init__()
        self.store = store

    async def publish_many(self, events: Sequence[Event], *, key: str | None = None) -> None:
        for event in events:
            if event.type.startswith("incident."):
                stored = self.store.incidents.get(event.key)
                assert stored is not None, f"{event.type} published before the store write"
        await super().publish_many(events, key=key)


async def test_a_report_opens_an_incident_and_publishes_opened_only_after_the_store_write() -> None:
    store = InMemoryIncidentStore()
    w = world_on(store, StoreFirstPublisher(store), FakeClock())
    event = w.report("fire")
    await w.uc.batches.on_reports([event])
    incident_id = incident_id_for(event.data.report_id)
    stored = await w.store.get(incident_id)
    assert stored is not None and stored.status == Status.REPORTED
    assert stored.report_ids == (event.data.report_id,)
    assert w.publisher.types() == ["incident.opened"]
    assert await w.store.incident_of(event.data.report_id) == incident_id
    await w.settled()
    assert w.store.outbox == {}  # published, so out of the outbox


async def test_a_second_report_within_the_window_joins_the_open_incident(world: World) -> None:
    first = world.report("fire")
    await world.uc.batches.on_reports([first])
    world.clock.advance(600)
    second = world.report("smoke", north_m=300)
    await world.uc.batches.on_reports([second])
    incident_id = incident_id_for(first.data.report_id)
    stored = await world.store.get(incident_id)
    assert stored is not None
    assert stored.report_ids == (first.data.report_id, second.data.report_id)
    assert world.publisher.types() == ["incident.opened", "incident.updated"]
    assert await world.store.incident_of(second.data.report_id) == incident_id


async def test_a_report_beyond_the_distance_opens_its_own_incident(world: World) -> None:
    first, far = world.report("fire"), world.report("fire", north_m=1500)
    await world.uc.batches.on_reports([first, far])
    assert len(world.store.incidents) == 2
    assert world.publisher.types() == ["incident.opened", "incident.opened"]


async def test_a_redelivered_batch_doubles_nothing(world: World) -> None:
    batch = [world.report("fire"), world.report("fire", north_m=100)]
    await world.uc.batches.on_reports(batch)
    before = dict(world.store.incidents)
    published = len(world.publisher.events)
    await world.uc.batches.on_reports(batch)
    assert world.store.incidents == before
    assert len(world.store.incidents) == 1
    assert len(world.publisher.events) == published


async def test_a_report_under_an_id_holding_another_reporters_report_is_dropped(
    world: World,
) -> None:
    mine = world.report("fire", reporter="rg-a")
    await world.uc.batches.on_reports([mine])
    theirs = world.report("pest", reporter="rg-b", id_=mine.data.report_id, north_m=5000)
    await world.uc.batches.on_reports([theirs])
    assert len(world.store.incidents) == 1
    stored = await world.store.report(mine.data.report_id)
    assert stored is not None and stored.reporter_id == "rg-a"


async def test_a_publisher_failure_leaves_the_change_in_the_outbox_and_the_relay_sends_it_later(
    world: World,
) -> None:
    world.publisher.failing = True
    event = world.report("fire")
    await world.uc.batches.on_reports([event])
    assert world.publisher.events == []
    assert list(world.store.outbox) == [f"{incident_id_for(event.data.report_id)}:0"]
    world.publisher.failing = False
    assert await world.uc.relay.relay() == 0  # within its grace the writer may still publish
    world.clock.advance(world.settings.relay_grace_s + 1)
    assert await world.uc.relay.relay() == 1
    assert world.publisher.types() == ["incident.opened"]
    assert world.store.outbox == {}
    assert await world.uc.relay.relay() == 0
