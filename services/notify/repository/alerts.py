"""A district's alerts on MongoDB (FerretDB v1 locally), numbered 1, 2, … without a gap: the live
stream's ids and the source of the listing, the stream's catch-up and webhook deliveries.

An alert's `_id` is its place in the district's sequence (`alert_id`), so a page of a district's
alerts is one `_id` range (MongoDB's `_id` index; patch 0005 locally) and the stream's tail reads
the next number by exact `_id`. Numbers are taken by unique insert ("highest + 1"), since the
local store has no atomic counter; the search for the highest number stays in here. Nothing here
decides what an alert says or who sees it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from services.notify.domain.alerts import Alert, AlertDraft, numbered
from services.notify.repository.writes import insert_many_ordered
from shared.db import Document

ALERTS = "alerts"
PROBES = 8  # alert numbers read at once (by exact `_id`) when looking for a district's highest
NUMBERING_TRIES = 100  # duplicates in a row that neither store nor find anything, then give up


def alert_id(district: str, seq: int) -> str:
    """The `_id` of a district's alert number `seq`: the tail reads the next one by exact id."""
    return f"{district}:{seq:012d}"


def alerts_numbered_after(district: str, seq: int = 0) -> Document:
    """The district's alerts numbered above `seq`, as one string range on `_id` (`alert_id` pads
    the number, so `_id` order is number order). The district stays a condition too, so a code
    that is a prefix of another's never mixes in."""
    return {"_id": {"$gt": alert_id(district, seq), "$lt": f"{district};"}, "district": district}


def between(low: int, high: int, k: int) -> list[int]:
    """Up to `k` numbers strictly between `low` and `high`, evenly spread (all when they fit)."""
    if high - low - 1 <= k:
        return list(range(low + 1, high))
    return [low + j * (high - low) // (k + 1) for j in range(1, k + 1)]


def to_doc(alert: Alert) -> Document:
    return {
        "_id": alert_id(alert.district, alert.seq),
        "seq": alert.seq,
        "event_id": alert.event_id,
        "event_type": alert.event_type,
        "kind": alert.kind,
        "alarm": alert.alarm,
        "subject_id": alert.subject_id,
        "incident_id": alert.incident_id,
        "level": alert.level,
        "type": alert.type,
        "severity": alert.severity,
        "status": alert.status,
        "village": alert.village,
        "township": alert.township,
        "district": alert.district,
        "lat": alert.lat,
        "lon": alert.lon,
        "at": alert.at,
        "scope_units": list(alert.scope_units),
        "facts": dict(alert.facts),
        "stored_at": alert.stored_at,
    }


def from_doc(doc: Mapping[str, Any]) -> Alert:
    return Alert(
        event_id=doc["event_id"],
        event_type=doc["event_type"],
        kind=doc["kind"],
        subject_id=doc["subject_id"],
        incident_id=doc["incident_id"],
        level=int(doc["level"]),
        type=doc["type"],
        severity=doc["severity"],
        status=doc["status"],
        village=doc["village"],
        township=doc["township"],
        district=doc["district"],
        lat=doc["lat"],
        lon=doc["lon"],
        at=doc["at"],
        scope_units=tuple(doc["scope_units"]),
        alarm=bool(doc["alarm"]),
        facts=doc["facts"],
        seq=int(doc["seq"]),
        stored_at=doc["stored_at"],
    )


class MongoAlertSequence:
    """The `AlertSequence` port (store.py) on MongoDB."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db
        self._last_seq: dict[str, int] = {}  # district → the highest number known to be taken
        self._numbering = asyncio.Lock()  # this process numbers one batch at a time

    async def append(self, drafts: Sequence[AlertDraft], *, at: datetime) -> list[Alert]:
        """One ordered insert (in chunks the local store keeps ordered) numbers the batch.

        The number is "highest + 1", made unique by the `_id` (district:seq) and the event by the
        `event_id` index. The invariant: an alert numbered n is inserted only when n − 1 is known
        stored (or n = 1). The highest number of a district known here is only ever a number this
        process stored or read stored, and an ordered insert stores a prefix. Alerts are never
        deleted, so any number read stored vouches for all below it: reads made at different
        moments can only err low, never high.

        A duplicate key stops the insert at one alert, and the local store does not say which
        index refused it, so its number is read by exact `_id`:
        - stored, with this event: the event is stored already (another replica was first);
        - stored, with another event: the number is taken; the district's highest is found by
          exact `_id` reads forward from it (`_highest_from`), and the rest goes on from there;
        - missing: the duplicate was the event, stored under another number (a redelivery): one
          query by event finds the stored alerts of every event left in the batch."""
        out: list[Alert | None] = [None] * len(drafts)
        async with self._numbering:
            pending = list(range(len(drafts)))  # the drafts not stored or found yet, in order
            stuck = 0
            while pending:
                batch: list[Alert] = []
                last: dict[str, int] = {}
                for i in pending:
                    district = drafts[i].district
                    if district not in last:
                        last[district] = await self._highest_known(district)
                    last[district] += 1
                    batch.append(numbered(drafts[i], last[district], at))
                stored = await insert_many_ordered(self.db[ALERTS], [to_doc(a) for a in batch])
                for i, alert in zip(pending[:stored], batch[:stored], strict=True):
                    out[i] = alert
                    self._last_seq[alert.district] = alert.seq
                pending = pending[stored:]
                if not pending:
                    break
                refused = batch[stored]
                held = await self._alert_holding(refused)
                if held is None:  # the number is free: the event is stored under another one
                    found = await self._by_event({drafts[i].event_id for i in pending})
                    for i in pending:
                        out[i] = found.get(drafts[i].event_id)
                    pending = [i for i in pending if out[i] is None]
                    progress = bool(found)
                elif held.event_id == refused.event_id:
                    out[pending.pop(0)] = held
                    progress = True
                else:
                    progress = stored > 0
                stuck = 0 if progress else stuck + 1
                if stuck >= NUMBERING_TRIES:
                    raise RuntimeError(f"could not number an alert of {refused.district}")
        return [a for a in out if a is not None]

    async def _by_event(self, event_ids: Collection[str]) -> dict[str, Alert]:
        """The stored alerts of these events (by the `event_id` index; the redelivery path)."""
        cursor = self.db[ALERTS].find({"event_id": {"$in": list(event_ids)}})
        return {str(d["event_id"]): from_doc(d) async for d in cursor}

    async def _highest_known(self, district: str) -> int:
        if district not in self._last_seq:
            self._last_seq[district] = await self.highest(district)
        return self._last_seq[district]

    async def _alert_holding(self, refused: Alert) -> Alert | None:
        """The alert stored at the number an insert refused, or None if that number is free. If
        stored, the district's highest known number moves to the highest read stored."""
        district, seq = refused.district, refused.seq
        probes = [seq, *(seq + (1 << k) for k in range(PROBES))]
        docs = await self._docs_at(district, probes)
        seen = dict(zip(probes, docs, strict=True))
        held = seen[seq]
        if held is not None:
            highest = await self._highest_from(district, seen)
            self._last_seq[district] = max(self._last_seq.get(district, 0), highest)
        return from_doc(held) if held is not None else None

    async def _highest_from(self, district: str, seen: Mapping[int, Document | None]) -> int:
        """The district's highest stored number, searched from the numbers `seen` (at least one
        stored): galloping past the highest stored until a number is missing, then `PROBES`
        numbers evenly between, all read at once. Only a number read stored is returned."""
        low = max(n for n, doc in seen.items() if doc is not None)
        high = min((n for n, doc in seen.items() if doc is None and n > low), default=None)
        reach = 1 << PROBES
        while high is None or high > low + 1:
            if high is None:
                probes = [low + reach * (1 << k) for k in range(PROBES)]
                reach <<= PROBES
            else:
                probes = between(low, high, PROBES)
            docs = await self._docs_at(district, probes)
            low = max([low, *(n for n, doc in zip(probes, docs, strict=True) if doc is not None)])
            missing = [n for n, doc in zip(probes, docs, strict=True) if doc is None and n > low]
            if high is not None and high > low:
                missing.append(high)
            high = min(missing, default=None)
        return low

    async def _docs_at(self, district: str, seqs: Sequence[int]) -> list[Document | None]:
        return list(
            await asyncio.gather(
                *(self.db[ALERTS].find_one({"_id": alert_id(district, n)}) for n in seqs)
            )
        )

    async def at(self, district: str, seq: int) -> Alert | None:
        doc = await self.db[ALERTS].find_one({"_id": alert_id(district, seq)})
        return from_doc(doc) if doc is not None else None

    async def highest(self, district: str) -> int:
        doc = await self.db[ALERTS].find_one(
            alerts_numbered_after(district), sort=[("_id", DESCENDING)]
        )
        return int(doc["seq"]) if doc else 0

    async def after(
        self, district: str, seq: int, *, limit: int, unit: str | None = None
    ) -> list[Alert]:
        query = alerts_numbered_after(district, seq)
        if unit is not None:
            query["scope_units"] = unit
        cursor = self.db[ALERTS].find(query).sort("_id", ASCENDING).limit(limit)
        return [from_doc(d) async for d in cursor]

    async def latest(self, district: str, unit: str, *, limit: int) -> list[Alert]:
        query = {**alerts_numbered_after(district), "scope_units": unit}
        cursor = self.db[ALERTS].find(query).sort("_id", DESCENDING).limit(limit)
        return [from_doc(d) async for d in cursor]
