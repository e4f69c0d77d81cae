"""On the real store: a change of one incident version is claimed by exactly one writer, even when
many race for it (FerretDB's findAndModify is not a compare-and-set; the unique _id is), and a
change whose writer died before publishing is replayed and published by the relay."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from services.incidents.handlers import IncidentsService
from services.incidents.repository import IncidentsRepository
from services.incidents.settings import IncidentsSettings
from shared import db as dbmod
from shared.clock import SystemClock
from shared.events import IncidentEscalated
from shared.kafka import Publisher, ensure_topics
from shared.org import load_org
from shared.policy import Policy
from shared.topics import INCIDENTS
from tests.support.kafka import read_topic


async def test_only_one_of_many_racing_writers_claims_a_version(
    settings_for: Callable[..., Any],
) -> None:
    s: IncidentsSettings = settings_for(IncidentsSettings)
    client = dbmod.connect(s)
    try:
        repo = IncidentsRepository(dbmod.database(client, s), shards=2)
        now = datetime.now(UTC)
        await repo.apply({"_id": "inc-1", "version": 1, "escalation_level": 0})
        docs = [{"_id": "inc-1", "version": 2, "escalation_level": 1, "by": i} for i in range(8)]
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
    await ensure_topics(s)
    client = dbmod.connect(s)
    publisher = Publisher(s)
    await publisher.start()
    try:
        repo = IncidentsRepository(dbmod.database(client, s), shards=2)
        service = IncidentsService(
            repo=repo,
            publisher=publisher,
            org=load_org(None),
            policy=Policy(),
            settings=s,
            clock=SystemClock(),
        )
        from services.incidents.handlers import event_for, to_doc
        from tests.unit.incidents.conftest import opened, report

        now = datetime.now(UTC)
        incident = opened(report("fire"), Policy(), now=now).model_copy(update={"version": 1})
        await repo.apply(to_doc(incident, Policy()))
        climbed = incident.model_copy(update={"escalation_level": 1, "version": 2})
        from services.incidents.domain.incident import Notice

        notice = Notice(kind="escalated", at=now, reason="test", from_level=0, to_level=1)
        event = event_for(notice, climbed, "incidents")
        # The crash: the claim is stored, the document never written, nothing published.
        await repo._changes(incident.id).insert_one(
            {
                "_id": f"{incident.id}:1",
                "incident_id": incident.id,
                "base_version": 1,
                "at": now - timedelta(seconds=1),
                "doc": to_doc(climbed, Policy()),
                "events": [event.model_dump(mode="json")],
                "published": False,
            }
        )
        assert await service.relay() == 1
        stored = await repo.get_incident(incident.id)
        assert stored is not None and stored["escalation_level"] == 1
        assert await service.relay() == 0
        events = await read_topic(s, INCIDENTS, 1)
        assert [e.id for e in events if isinstance(e, IncidentEscalated)] == [event.id]
    finally:
        await publisher.stop()
        await client.close()
