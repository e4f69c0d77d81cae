"""Which topic and event type go to which use case in the patrol service.

patrol consumes only its own `hulin.patrol.points` (batches the points endpoint accepted); a run of
consecutive batches from one partition is stored in one go (grouped by patrol). Those events carry
the volume (1000 fixes each), so they are parsed here straight into `Fix` tuples, each field
checked as the contract's `TrackPoint` checks it, instead of one pydantic model per fix; the
envelope is still validated by its model, and every other event goes through `parse_event`.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from datetime import datetime
from itertools import repeat
from typing import Any, Literal

import orjson
from pydantic import AwareDatetime, SkipValidation

from services.patrol.domain.patrol import epoch_of
from services.patrol.domain.track import Fix
from services.patrol.usecases.intake import POINTS_TYPE
from services.patrol.usecases.storing import FixStorage, ReceivedFixes
from shared.events import Event, EventData, parse_event
from shared.kafka import ConsumerRunner
from shared.runtime import Runtime
from shared.topics import PATROL_POINTS

# Records fetched per poll: a partition's run of batches becomes one store per patrol, so more
# records mean fewer database round trips per fix (each record is ~100 kB).
MAX_RECORDS = 200


class FixesData(EventData):
    """`PointsReceivedData` as the points consumer reads it: `points` arrive as `fixes`."""

    patrol_id: str
    ranger_id: str
    village: str
    received_at: AwareDatetime
    coord_system: Literal["wgs84", "gcj02"] = "wgs84"
    fixes: SkipValidation[tuple[Fix, ...]]  # checked by fixes_of


class FixesReceived(Event):
    type: Literal["patrol.points_received"] = "patrol.points_received"
    data: FixesData


def fixes_of(points: Any) -> tuple[Fix, ...]:
    """The event's points as fixes; ValueError naming the first bad one (a poison message).
    Column by column, each check one pass in C; the per-point loop only explains a failure."""
    try:
        seqs = [p["seq"] for p in points]
        dts = list(map(datetime.fromisoformat, [p["t"] for p in points]))
        lats = [p["lat"] for p in points]
        lons = [p["lon"] for p in points]
        accs = [p.get("accuracy_m") for p in points]
    except (KeyError, TypeError, AttributeError, ValueError):
        return _fixes_one_by_one(points)
    if not seqs:
        return ()
    if (
        not set(map(type, seqs)) <= {int}
        or not set(map(type, lats)) | set(map(type, lons)) <= {float, int}
        or not set(map(type, accs)) <= {float, int, type(None)}
        or None in map(_tzinfo, dts)
        or min(seqs) < 0
        or not (-90 <= min(lats) and max(lats) <= 90 and -180 <= min(lons) and max(lons) <= 180)
    ):
        return _fixes_one_by_one(points)
    # tuple.__new__ builds each Fix in C (a NamedTuple's own __new__ is a Python function).
    stamps = map(datetime.timestamp, dts)
    return tuple(map(tuple.__new__, repeat(Fix), zip(seqs, stamps, lats, lons, accs, strict=True)))


_tzinfo = operator.attrgetter("tzinfo")


def _fixes_one_by_one(points: Any) -> tuple[Fix, ...]:
    out = []
    try:
        for i, p in enumerate(points):
            seq, t, lat, lon = p["seq"], epoch_of(p["t"]), float(p["lat"]), float(p["lon"])
            acc = p.get("accuracy_m")
            if type(seq) is not int or seq < 0 or not (-90 <= lat <= 90 and -180 <= lon <= 180):
                raise ValueError(f"points[{i}] is not a valid track point: {p!r}")
            out.append(Fix(seq, t, lat, lon, None if acc is None else float(acc)))
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"malformed points: {exc!r}") from None
    return tuple(out)


def parse_message(raw: bytes) -> Event:
    """`parse_event`, with a fast path for patrol.points_received (same errors)."""
    obj = orjson.loads(raw)
    if not (isinstance(obj, dict) and obj.get("type") == POINTS_TYPE):
        return parse_event(obj)
    data = obj.get("data")
    if not isinstance(data, dict) or "points" not in data:
        return parse_event(obj)  # the contract model names what is missing
    rest = {k: v for k, v in data.items() if k != "points"}
    return FixesReceived.model_validate(
        {**obj, "data": {**rest, "fixes": fixes_of(data["points"])}}
    )


def build_consumers(runtime: Runtime, storing: FixStorage) -> list[ConsumerRunner]:
    async def on_points_received(events: Sequence[FixesReceived]) -> None:
        await storing.store_batches(
            [ReceivedFixes(e.data.patrol_id, e.data.received_at, e.data.fixes) for e in events]
        )

    return [
        ConsumerRunner(
            runtime.settings,
            name="points",
            topics=[PATROL_POINTS],
            handlers={},
            batch_handlers={POINTS_TYPE: on_points_received},
            publisher=runtime.publisher,
            max_records=MAX_RECORDS,
            parse=parse_message,
        )
    ]
