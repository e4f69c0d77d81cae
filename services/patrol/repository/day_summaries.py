"""Compliance day summaries (`patrol_days`, one document per patrol and basis under
`<patrol>|<basis>`), for the patrol adapter. Written by the compliance query, which may run on
several replicas at once: each write replaces the whole document with a summary computed from
the stored fixes, so two writers of one summary write the same thing. Never computes a summary:
`domain/compliance.py` does."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.patrol.domain.compliance import DayPart, PatrolDays
from services.patrol.repository.documents import Document
from services.patrol.store import KeptDays

DAYS = "patrol_days"


def _key(patrol_id: str, basis: str) -> str:
    return f"{patrol_id}|{basis}"


def _to_doc(basis: str, revision: int, days: PatrolDays) -> Document:
    return {
        "_id": _key(days.patrol_id, basis),
        "patrol_id": days.patrol_id,
        "revision": revision,
        "started_at": days.started_at,
        "duration_s": days.duration_s,
        "last_fix_t": days.last_fix_t,
        # One row per local day (a document each: FerretDB v1 stores no nested arrays).
        "days": [
            {
                "day": p.day.isoformat(),
                "m": p.distance_m,
                "s": p.duration_s,
                "in_m": p.inside_distance_m,
                "in_s": p.inside_duration_s,
            }
            for p in days.days
        ],
    }


def _from_doc(doc: Document) -> KeptDays:
    return KeptDays(
        days=PatrolDays(
            patrol_id=str(doc["patrol_id"]),
            started_at=float(doc["started_at"]),
            duration_s=float(doc["duration_s"]),
            days=tuple(
                DayPart(
                    date.fromisoformat(d["day"]),
                    float(d["m"]),
                    float(d["s"]),
                    float(d["in_m"]),
                    float(d["in_s"]),
                )
                for d in doc["days"]
            ),
            last_fix_t=None if doc.get("last_fix_t") is None else float(doc["last_fix_t"]),
        ),
        revision=int(doc["revision"]),
    )


class MongoDaySummaries:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.summaries = db[DAYS]

    async def day_summaries(self, patrol_ids: Sequence[str], basis: str) -> dict[str, KeptDays]:
        if not patrol_ids:
            return {}
        keys = [_key(p, basis) for p in patrol_ids]
        cursor = self.summaries.find({"_id": {"$in": keys}})
        kept = [_from_doc(d) async for d in cursor]
        return {k.days.patrol_id: k for k in kept}

    async def keep_day_summary(self, basis: str, revision: int, days: PatrolDays) -> None:
        doc = _to_doc(basis, revision, days)
        try:
            await self.summaries.replace_one({"_id": doc["_id"]}, doc, upsert=True)
        except DuplicateKeyError:
            # Another replica inserted it between our lookup and insert: it wrote a summary of
            # the same fixes, or of later ones, which the next read checks by revision.
            pass
