"""On the real store: a change of one incident version is claimed by exactly one writer, even when
many race for it (FerretDB's findAndModify is not a compare-and-set; the unique _id is); a
change whose writer died before publishing is replayed and published by the relay, and one whose
writer died before claiming it changes nothing and is dropped."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from services.incidents.domain.escalation import next_timer_at
from services.incidents.repository import OUTBOX, IncidentsRepository
from services.incidents.repository.mapping import to_doc
from services.incidents.repository.store import MongoIncidentStore
from services.incidents.settings import IncidentsSettings
from services.incidents.usecases import UseCases, build_usecases
from services.incidents.usecases.events import event_for
from shared import db as dbmod
from shared.clock import SystemClock
from shared.events import IncidentEscalated
from shared.kafka import Publisher, ensure_topics
from shared.org import load_org
from shared.policy import Policy
from shared.topics import INCIDENTS
from tests.support.kafka import read_topic

# what every stored incident has, so the store can list it (repository/lists.py)
LISTED: dict[str, Any] = {
    "status": "reported",
    "type": "fire",
    "opened_at": datetime(2026, 4, 1, 8, 0, tzinfo=UTC),
    "updated_at": datetime(2026, 4, 1, 8, 0, tzinfo=UTC),
    "village": "500114001001",
    "township": "500114001",
    "district": "500114",
}


@asynccontextmanager
async def relay_setup(
    s: IncidentsSettings,
) -> AsyncIterator[tuple[IncidentsRepository, UseCases]]:
    """The store's documents and the use cases (with the relay) on the real store and broker."""
    await ensure_topics(s)
    client = dbmod.connect(s)
    publisher = Publisher(s)
    await publisher.start()
    try:
        repo = IncidentsRepository(dbmod.database(client, s), shards=2)
        yield (
            repo,
            build_usecases(
                store=MongoIncidentStore(repo),
                publisher=publisher,
                org=load_org(None),
                policy=Policy(),
                settings=s,
                clock=SystemClock(),
            ),
        )
    finally:
        await publisher.stop()
        await client.close()


async def test_only_one_of_many_racing_writers_claims_a_version(
    settings_for: Callable[..., Any],
) -> None:
    s: IncidentsSettings = settings_for(IncidentsSettings)
    client = dbmod.connect(s)
    try:
        repo = IncidentsRepository(dbmod.database(client, s), shards=2)
        now = datetime.now(UTC)
        await repo.apply({**LISTED, "_id": "inc-1", "version": 1, "escalation_level": 0})
        docs = [
            {**LISTED, "_id": "inc-1", "version": 2, "escalation_level": 1, "by": i}
            for i in range(8)
        ]
        won = await asyncio.gather(
            *(repo.commit(base_version=1, doc=d, events=[], at=now) for d in docs)
        )
        assert sum(1 for w in won if w is not None) == 1
        winner = next(d for d, w in zip(docs, won, strict=True) if w is not None)
        stored = await repo.get_incident("inc-1")
        assert stored is not None and stored["by"] == winner["by"]
    finally:
        await client.close()


async def test_relay_replays_and_publishes_a_change_left_by_a_crash(
    settings_for: Callable[..., Any],
) -> None:
    s: IncidentsSettings = settings_for(IncidentsSettings, relay_grace_s=0.1)
    async with relay_setup(s) as (repo, service):
        from tests.unit.incidents.conftest import opened, report

        now = datetime.now(UTC)
        incident = opened(report("fire"), Policy(), now=now).model_copy(update={"version": 1})
        await repo.apply(to_doc(incident, next_timer_at(Policy(), incident)))
        climbed = incident.model_copy(update={"escalation_level": 1, "version": 2})
        from services.incidents.domain.incident import Notice

        notice = Notice(kind="escalated", at=now, reason="test", from_level=0, to_level=1)
        event = event_for(notice, climbed, "incidents")
        # The crash: the change staged and claimed, the document never written, nothing
        # published.
        change_id = f"{incident.id}:1"
        staged_at = now - timedelta(seconds=1)
        assert await repo.stage(
            change_id,
            doc=to_doc(climbed, next_timer_at(Policy(), climbed)),
            events=[event.model_dump(mode="json")],
            at=staged_at,
        )
        assert await repo.claim(change_id, at=staged_at)
        assert await service.relay.relay() == 1
        stored = await repo.get_incident(incident.id)
        assert stored is not None and stored["escalation_level"] == 1
        assert await service.relay.relay() == 0
        events = await read_topic(s, INCIDENTS, 1)
        assert [e.id for e in events if isinstance(e, IncidentEscalated)] == [event.id]


async def test_relay_drops_a_change_staged_but_never_claimed(
    settings_for: Callable[..., Any],
) -> None:
    s: IncidentsSettings = settings_for(IncidentsSettings, relay_grace_s=0.1)
    async with relay_setup(s) as (repo, service):
        from tests.unit.incidents.conftest import opened, report

        now = datetime.now(UTC)
        incident = opened(report("fire"), Policy(), now=now).model_copy(update={"version": 1})
        await repo.apply(to_doc(incident, None))
        climbed = incident.model_copy(update={"escalation_level": 1, "version": 2})
        doc = to_doc(climbed, None)
        change_id = f"{incident.id}:1"
        # Died between staging and claiming, recently: the relay waits (it may still claim).
        assert await repo.stage(change_id, doc=doc, events=[], at=now - timedelta(seconds=0.2))
        assert await service.relay.relay() == 0
        assert await repo.pending_changes(before=now, limit=10) != []
        # Long enough ago: dropped, and the incident is untouched.
        await repo.mark_published([change_id])
        assert await repo.stage(change_id, doc=doc, events=[], at=now - timedelta(seconds=5))
        assert await service.relay.relay() == 0
        assert await repo.pending_changes(before=now, limit=10) == []
        stored = await repo.get_incident(incident.id)
        assert stored is not None and stored["escalation_level"] == 0
        # The version can be changed again by a live writer.
        assert await repo.commit(base_version=1, doc=doc, events=[], at=now) == change_id


async def test_incidents_filed_at_once_into_one_merge_cell_are_all_kept(
    settings_for: Callable[..., Any],
) -> None:
    """FerretDB's $set is a read then a write: without the cell lock, concurrent filings into
    one cell lose members, and a later report would open a duplicate incident."""
    s: IncidentsSettings = settings_for(IncidentsSettings)
    client = dbmod.connect(s)
    try:
        repo = IncidentsRepository(dbmod.database(client, s), shards=2)
        for trial in range(3):
            key = f"fire:1:{trial}"
            ids = [f"inc-{trial}-{i}" for i in range(8)]
            await asyncio.gather(*(repo.file_in_cells([(key, i, 29.4, 108.6)]) for i in ids))
            assert sorted((await repo.cells([key]))[key]) == sorted(ids)
            await asyncio.gather(*(repo.remove_from_cell(key, i) for i in ids[:4]))
            assert sorted((await repo.cells([key]))[key]) == sorted(ids[4:])
    finally:
        await client.close()


async def test_a_staged_change_is_stored_packed_and_read_back_whole(
    settings_for: Callable[..., Any],
) -> None:
    """A staged change's document and events travel as one packed field, and come back from
    the outbox as they went in, datetimes aware as the client reads them."""
    s: IncidentsSettings = settings_for(IncidentsSettings)
    client = dbmod.connect(s)
    try:
        repo = IncidentsRepository(dbmod.database(client, s), shards=2)
        staged_at = datetime.now(UTC) - timedelta(seconds=1)
        staged_at = staged_at.replace(microsecond=staged_at.microsecond // 1000 * 1000)  # BSON: ms
        doc = {
            **LISTED,
            "_id": "inc-4",
            "version": 2,
            "at": staged_at,
            "tags": ["a"],
            "n": {"x": 1.5},
        }
        assert await repo.stage("inc-4:1", doc=doc, events=[{"id": "e"}], at=staged_at)
        stored_record = await repo.db[OUTBOX].find_one({"_id": "inc-4:1"})
        assert stored_record is not None and isinstance(stored_record["change"], bytes)
        assert "doc" not in stored_record and "events" not in stored_record
        [pending] = await repo.pending_changes(before=datetime.now(UTC), limit=10)
        assert pending["doc"] == doc and pending["events"] == [{"id": "e"}]
        assert "change" not in pending
    finally:
        await client.close()


def nested(depth: int) -> dict[str, Any]:
    """A value nested `depth` deep: past what the store's JSON accepts in one document."""
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


async def test_relay_sets_aside_a_change_the_store_refuses_and_goes_on(
    settings_for: Callable[..., Any],
) -> None:
    """A claimed change whose document the store refuses (nested past its depth limit, staged
    straight through the adapter, past the edge's check): set aside with the error, its claim
    released; the change behind it is relayed and the incident takes its next change."""
    s: IncidentsSettings = settings_for(IncidentsSettings, relay_grace_s=0.1)
    async with relay_setup(s) as (repo, service):
        from tests.unit.incidents.conftest import opened, report

        now = datetime.now(UTC)
        base = opened(report("fire"), Policy(), now=now).model_copy(update={"version": 1})
        stuck, other = (base.model_copy(update={"id": i}) for i in ("inc-deep", "inc-next"))
        for incident in (stuck, other):
            await repo.apply(to_doc(incident, None))
        deep = stuck.model_copy(update={"details": nested(400), "version": 2})
        fine = other.model_copy(update={"escalation_level": 1, "version": 2})
        for n, change in enumerate((deep, fine)):
            at = now - timedelta(seconds=2 - n)  # the refused one first, oldest
            assert await repo.stage(f"{change.id}:1", doc=to_doc(change, None), events=[], at=at)
            assert await repo.claim(f"{change.id}:1", at=at)

        assert await service.relay.relay() == 1
        [aside] = await repo.set_aside_changes()
        assert aside["_id"] == "inc-deep:1" and aside["error"]
        assert await repo.pending_changes(before=datetime.now(UTC), limit=10) == []
        relayed = await repo.get_incident("inc-next")
        assert relayed is not None and relayed["escalation_level"] == 1
        kept = await repo.get_incident("inc-deep")
        assert kept is not None and kept["version"] == 1
        # The claim of version 1 is released: a live writer changes the incident again.
        again = to_doc(stuck.model_copy(update={"escalation_level": 1, "version": 2}), None)
        assert await repo.commit(base_version=1, doc=again, events=[], at=now) == "inc-deep:1"
        stored = await repo.get_incident("inc-deep")
        assert stored is not None and stored["escalation_level"] == 1
