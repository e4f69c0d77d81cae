"""How the patrol adapter maps domain models to and from its MongoDB documents (FerretDB v1
compatible: no nested arrays). Pure mapping; never reads or writes the store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.patrol.domain.patrol import ACTIVE, Patrol
from services.patrol.domain.track import Fix, QualityFlags, TrackSummary
from services.patrol.store import Position, StoredTrack
from shared.clock import as_utc

Document = dict[str, Any]


def patrol_to_doc(p: Patrol) -> Document:
    return {
        "_id": p.id,
        "ranger_id": p.ranger_id,
        "village": p.village,
        "scope_units": list(p.scope_units),
        "started_at": p.started_at,
        "ended_at": p.ended_at,
        "finished_at": p.finished_at,
        "status": p.status,
        "created_at": p.created_at,
        "started_published": p.started_published,
        "finished_published": p.finished_published,
    }


def patrol_from_doc(doc: Document) -> Patrol:
    ended, finished = doc.get("ended_at"), doc.get("finished_at")
    return Patrol(
        id=str(doc["_id"]),
        ranger_id=str(doc["ranger_id"]),
        village=str(doc["village"]),
        scope_units=tuple(doc.get("scope_units") or [doc["village"]]),
        started_at=as_utc(doc["started_at"]),
        created_at=as_utc(doc.get("created_at") or doc["started_at"]),
        ended_at=as_utc(ended) if ended else None,
        finished_at=as_utc(finished) if finished else None,
        status=str(doc.get("status", ACTIVE)),
        started_published=bool(doc.get("started_published")),
        finished_published=bool(doc.get("finished_published")),
    )


def _fix_out(f: Fix) -> list[Any]:
    return [f.seq, f.t, f.lat, f.lon, f.accuracy_m]


def _fix_in(v: Sequence[Any] | None) -> Fix | None:
    if not v:
        return None
    return Fix(int(v[0]), float(v[1]), float(v[2]), float(v[3]), v[4])


def ranges_from_doc(flat: Sequence[Any] | None) -> tuple[tuple[int, int], ...]:
    values = [int(v) for v in flat or ()]
    return tuple(zip(values[0::2], values[1::2], strict=True))


def track_to_doc(track: StoredTrack) -> Document:
    s = track.summary
    f = s.flags
    return {
        "rev": track.revision,
        "points": s.points,
        "distance_m": s.distance_m,
        "first": _fix_out(s.first) if s.first else None,
        "last": _fix_out(s.last) if s.last else None,
        # No nested arrays on FerretDB v1: ranges are flattened to [lo0, hi0, lo1, hi1, …].
        "seq_ranges": [v for r in s.seq_ranges for v in r],
        "flags": {
            "speed": f.speed,
            "jumps": f.jumps,
            "gaps": f.gaps,
            "gap_s_total": f.gap_s_total,
            "outside": f.outside,
            "examples": f.examples,
        },
        "last_point_at": track.last_point_at,
        "last_received_at": track.last_received_at,
        "last_seen_at": track.last_seen_at,
    }


def track_from_doc(doc: Document) -> StoredTrack:
    fl = doc.get("flags") or {}
    flags = QualityFlags(
        speed=int(fl.get("speed", 0)),
        jumps=int(fl.get("jumps", 0)),
        gaps=int(fl.get("gaps", 0)),
        gap_s_total=float(fl.get("gap_s_total", 0.0)),
        outside=int(fl.get("outside", 0)),
        examples={k: list(v) for k, v in (fl.get("examples") or {}).items()},
    )
    summary = TrackSummary(
        points=int(doc.get("points", 0)),
        distance_m=float(doc.get("distance_m", 0.0)),
        first=_fix_in(doc.get("first")),
        last=_fix_in(doc.get("last")),
        flags=flags,
        seq_ranges=ranges_from_doc(doc.get("seq_ranges")),
    )

    def at(name: str) -> Any:
        value = doc.get(name)
        return as_utc(value) if value else None

    return StoredTrack(
        summary=summary,
        revision=int(doc.get("rev", 0)),
        last_point_at=at("last_point_at"),
        last_received_at=at("last_received_at"),
        last_seen_at=at("last_seen_at"),
    )


def position_to_doc(p: Position) -> Document:
    return {
        "patrol_id": p.patrol_id,
        "village": p.village,
        "lat": p.lat,
        "lon": p.lon,
        "t": p.t,
        "accuracy_m": p.accuracy_m,
    }


def position_from_doc(doc: Document) -> Position:
    return Position(
        ranger_id=str(doc["_id"]),
        patrol_id=str(doc["patrol_id"]),
        village=str(doc["village"]),
        lat=float(doc["lat"]),
        lon=float(doc["lon"]),
        t=as_utc(doc["t"]),
        accuracy_m=doc.get("accuracy_m"),
    )
