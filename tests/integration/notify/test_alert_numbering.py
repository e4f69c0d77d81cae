"""Alert numbers across replicas, on the real store: each district's alerts are numbered 1…n with
no gap and no number twice, each event has exactly one alert, however two replicas' batches and a
redelivered event interleave."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from services.notify.repository import ALERTS, INDEXES, NotifyRepository
from services.notify.settings import NotifySettings
from shared import db as dbmod

DISTRICT = "500114"


def alert(event_id: str) -> dict[str, object]:
    return {"event_id": event_id, "district": DISTRICT, "kind": "opened", "at": datetime.now(UTC)}


async def test_two_replicas_number_one_districts_alerts_without_gaps_or_twice(
    settings_for: Callable[..., NotifySettings],
) -> None:
    settings = settings_for(NotifySettings)
    clients = [dbmod.connect(settings) for _ in range(2)]
    try:
        dbs = [dbmod.database(c, settings) for c in clients]
        await dbmod.ensure_indexes(dbs[0], INDEXES)
        first, second = (NotifyRepository(db) for db in dbs)  # two replicas, two memories
        events = [str(uuid.uuid4()) for _ in range(120)]
        await first.insert_alerts_numbered([alert(e) for e in events[:5]])  # both know a number

        await second.insert_alerts_numbered([alert(events[5])])

        async def batches(repo: NotifyRepository, ids: list[str]) -> None:
            for i in range(0, len(ids), 10):
                await repo.insert_alerts_numbered([alert(e) for e in ids[i : i + 10]])

        rest = events[6:]
        await asyncio.gather(batches(first, rest[0::2]), batches(second, rest[1::2]))
        # a redelivered event, to the replica that did not store it: its alert, not a new one
        again = await second.insert_alerts_numbered([alert(events[6]), alert(str(uuid.uuid4()))])
        assert again[0]["event_id"] == events[6]

        docs = [d async for d in dbs[0][ALERTS].find({"district": DISTRICT})]
        seqs = sorted(int(d["seq"]) for d in docs)
        assert seqs == list(range(1, len(events) + 2))
        by_event = [d["event_id"] for d in docs]
        assert len(by_event) == len(set(by_event)) and set(events) <= set(by_event)
        assert again[0]["seq"] == next(d["seq"] for d in docs if d["event_id"] == events[6])
    finally:
        for c in clients:
            await c.drop_database(settings.database_name)
            await c.close()
