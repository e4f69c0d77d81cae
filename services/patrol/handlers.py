"""Use cases of the patrol service: load via the repository, apply the domain, store, publish.

Events are published only after the state they describe is stored. Nothing here parses HTTP or
Kafka messages: routes and consumers hand over typed values.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import Any, NotRequired

import orjson
from typing_extensions import TypedDict

from services.patrol.domain import compliance as compliance_rules
from services.patrol.domain import overdue as overdue_rules
from services.patrol.domain import patrol as lifecycle
from services.patrol.domain.coords import gcj02_to_wgs84
from services.patrol.domain.track import (
    Fix,
    Inside,
    QualityRules,
    can_extend,
    count_known,
    duration_s,
    extend,
    inside_boundary,
    summarize,
)
from services.patrol.repository import (
    PatrolRepository,
    is_legacy,
    ranges_from_doc,
    summary_from_doc,
)
from services.patrol.settings import PatrolSettings
from shared import metrics
from shared.auth import in_scope
from shared.clock import Clock, as_utc
from shared.errors import Forbidden, InvalidInput, NotFound
from shared.events import (
    PatrolFinished,
    PatrolFinishedData,
    PatrolOverdue,
    PatrolOverdueData,
    PatrolStarted,
    PatrolStartedData,
    PositionUpdated,
    PositionUpdatedData,
)
from shared.events.patrol import PatrolPointsReceived
from shared.kafka import Publisher
from shared.logging import current_correlation_id
from shared.org import OrgDirectory, Person, Role
from shared.policy import Policy
from shared.topics import PATROL_POINTS

log = logging.getLogger(__name__)

_EVENT_NS = uuid.UUID("0b9f3f0e-3c55-4d8e-9d39-6f1f6d3f2a7e")
POINTS_TYPE: str = PatrolPointsReceived.model_fields["type"].default


def _event_id(*parts: object) -> uuid.UUID:
    """A deterministic event id, so a re-publish after a crash is recognisably the same event."""
    return uuid.uuid5(_EVENT_NS, ":".join(str(p) for p in parts))


class PointIn(TypedDict):
    """A fix as the app sent it, already validated for shape and ranges by the route (a plain
    dict: it goes into the event as it is, without copying); `t` is its RFC 3339 text."""

    seq: int
    t: str
    lat: float
    lon: float
    accuracy_m: NotRequired[float | None]


@dataclass(frozen=True)
class ReceivedFixes:
    """One accepted batch as the points consumer hands it over (a patrol.points_received event,
    its points already WGS-84 fixes with epoch times)."""

    patrol_id: str
    received_at: datetime
    fixes: Sequence[Fix]


@dataclass
class _IngestView:
    doc: dict[str, Any]
    read_at: float


class PatrolService:
    """The patrol use cases, wired with real or fake adapters."""

    def __init__(
        self,
        *,
        settings: PatrolSettings,
        org: OrgDirectory,
        policy: Policy,
        repo: PatrolRepository,
        publisher: Publisher,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.org = org
        self.policy = policy
        self.repo = repo
        self.publisher = publisher
        self.clock = clock
        p = policy.patrol
        self.quality = QualityRules(
            max_speed_kmh=p.max_speed_kmh,
            jump_m=p.jump_m,
            jump_within_s=p.jump_within_s,
            gap_s=p.gap_s,
        )
        self.ingest_rules = lifecycle.IngestRules(
            future_tolerance_s=p.future_tolerance_s,
            late_points_accept_s=p.late_points_accept_s,
            max_points_per_batch=p.max_points_per_batch,
        )
        self.tz: tzinfo = timezone(timedelta(hours=settings.patrol_utc_offset_h))
        self._inside: dict[str, Inside] = {}
        self._ingest_cache: dict[str, _IngestView] = {}
        self._points_topic = settings.topic(PATROL_POINTS)

    # --- helpers -------------------------------------------------------------------------------
    def inside_of(self, village: str) -> Inside:
        test = self._inside.get(village)
        if test is None:
            test = inside_boundary(self.org.unit(village).boundary)
            self._inside[village] = test
        return test

    def can_see(self, person: Person, doc: dict[str, Any]) -> bool:
        if person.role == Role.RANGER:
            return bool(doc["ranger_id"] == person.id)
        return in_scope(self.org, person, doc["village"])

    async def _visible(self, person: Person, patrol_id: str) -> dict[str, Any]:
        doc = await self.repo.get(patrol_id)
        if doc is None or not self.can_see(person, doc):
            raise NotFound("patrol not found", field="id")
        return doc

    def villages_in(self, unit: str) -> list[str]:
        return [u.code for u in self.org.descendants(unit) if u.patrol_rule is not None]

    # --- start ----------------------------------------------------------------------------------
    async def start(self, person: Person, patrol_id: str, started_at: datetime) -> tuple[bool, Any]:
        """(created, view). Only rangers start patrols; the same body again is a no-op."""
        if person.role != Role.RANGER:
            raise Forbidden(
                f"only rangers start patrols; you are {person.role.value}", field="role"
            )
        unit = self.org.unit(person.unit)
        if unit.patrol_rule is None:
            raise Forbidden("a ranger must belong to a village to patrol", field="unit")
        now = self.clock.now()
        started_at = as_utc(started_at)
        lifecycle.check_start(started_at, now, self.policy.patrol.future_tolerance_s)
        doc: dict[str, Any] = {
            "_id": patrol_id,
            "ranger_id": person.id,
            "village": person.unit,
            "scope_units": [u.code for u in self.org.ancestors(person.unit)],
            "started_at": started_at,
            "ended_at": None,
            "finished_at": None,
            "status": lifecycle.ACTIVE,
            "created_at": now,
            "last_seen_at": started_at,
            "started_published": False,
        }
        created = await self.repo.insert_patrol(doc)
        if not created:
            stored = await self.repo.get(patrol_id)
            if stored is None:  # pragma: no cover - deleted in between
                raise NotFound("patrol not found", field="id")
            lifecycle.same_start(
                stored["ranger_id"], as_utc(stored["started_at"]), person.id, started_at
            )
            doc = stored
        if not doc.get("started_published"):
            await self.publisher.publish(
                PatrolStarted.new(
                    PatrolStartedData(
                        patrol_id=patrol_id,
                        ranger_id=doc["ranger_id"],
                        village=doc["village"],
                        started_at=as_utc(doc["started_at"]),
                    ),
                    key=doc["ranger_id"],
                    producer=self.settings.service,
                    event_id=_event_id(patrol_id, "started"),
                )
            )
            await self.repo.set_flag(patrol_id, "started_published")
        return created, self.view(doc, None)

    # --- points ---------------------------------------------------------------------------------
    async def _ingest_view(self, patrol_id: str) -> dict[str, Any] | None:
        ttl = self.settings.patrol_ingest_cache_s
        now = time.monotonic()
        if ttl > 0:
            cached = self._ingest_cache.get(patrol_id)
            if cached is not None and now - cached.read_at < ttl:
                return cached.doc
        doc = await self.repo.get_for_ingest(patrol_id)
        if doc is not None:
            track = await self.repo.get_seq_ranges(patrol_id)
            doc["seq_ranges"] = ranges_from_doc((track or {}).get("seq_ranges"))
        if doc is not None and ttl > 0:
            if len(self._ingest_cache) > 10000:
                self._ingest_cache.clear()
            self._ingest_cache[patrol_id] = _IngestView(doc, now)
        return doc

    async def ingest(
        self,
        person: Person,
        patrol_id: str,
        points: Sequence[PointIn],
        coord_system: str,
    ) -> tuple[int, int]:
        """Validate a batch and hand it to Kafka; (accepted, duplicates) once the broker has it.

        `duplicates` counts fixes of this batch whose seq was already stored for the patrol when
        the request was read (as far as the stored summary knew, up to patrol_ingest_cache_s
        old) or that repeat a seq earlier in the same batch. A resend racing its first copy
        through the pipeline may count 0; it is still stored once.
        """
        rules = self.ingest_rules
        if len(points) > rules.max_points_per_batch:
            raise InvalidInput(
                f"at most {rules.max_points_per_batch} points per batch, got {len(points)}",
                field="points",
            )
        doc = await self._ingest_view(patrol_id)
        if doc is None:
            raise NotFound("patrol not found", field="id")
        if doc["ranger_id"] != person.id:
            if self.can_see(person, doc):
                raise Forbidden("only the patrol's ranger sends its points", field="id")
            raise NotFound("patrol not found", field="id")
        now = self.clock.now()
        lifecycle.check_batch_open(
            ended_at=doc.get("ended_at"), finished_at=doc.get("finished_at"), now=now, rules=rules
        )
        if not points:
            return 0, 0
        times = lifecycle.fix_times([p["t"] for p in points])
        lifecycle.check_times(times, started_at=as_utc(doc["started_at"]), now=now, rules=rules)
        if coord_system == "gcj02":
            lats, lons = gcj02_to_wgs84([p["lat"] for p in points], [p["lon"] for p in points])
            points = [
                {**p, "lat": la, "lon": lo} for p, la, lo in zip(points, lats, lons, strict=True)
            ]
        seqs = [p["seq"] for p in points]
        unique = set(seqs)
        duplicates = (len(seqs) - len(unique)) + count_known(doc["seq_ranges"], unique)
        data = {
            "patrol_id": patrol_id,
            "ranger_id": doc["ranger_id"],
            "village": doc["village"],
            "received_at": now,
            "coord_system": coord_system,
            "points": points,
        }
        envelope = {
            "id": str(uuid.uuid4()),
            "type": POINTS_TYPE,
            "version": 1,
            "occurred_at": now,
            "producer": self.settings.service,
            "key": doc["ranger_id"],
            "correlation_id": current_correlation_id(),
            "data": data,
        }
        # Serialised once, straight from plain values: the model validates it on the way out
        # in tests (test_points_event_matches_contract), not on every request.
        value = orjson.dumps(envelope)
        start = time.perf_counter()
        await self.publisher.send_raw(
            self._points_topic,
            value,
            key=doc["ranger_id"].encode(),
            headers=[
                ("correlation_id", envelope["correlation_id"].encode()),
                ("type", POINTS_TYPE.encode()),
            ],
        )
        metrics.publish_seconds.labels(self.settings.service, self._points_topic).observe(
            time.perf_counter() - start
        )
        metrics.events_published_total.labels(
            self.settings.service, self._points_topic, POINTS_TYPE
        ).inc()
        return len(points), duplicates

    # --- storing points (consumer) ---------------------------------------------------------------
    async def store_batches(self, batches: Sequence[ReceivedFixes]) -> None:
        """Store fixes of one or more received batches, grouped by patrol; recompute summaries,
        move positions, and announce (after the writes) what changed."""
        grouped: dict[str, list[ReceivedFixes]] = {}
        for b in batches:
            grouped.setdefault(b.patrol_id, []).append(b)
        events: list[Any] = []
        for patrol_id, group in grouped.items():
            events.extend(await self._store_patrol(patrol_id, group))
        if events:
            await self.publisher.publish_many(events)

    async def _store_patrol(self, patrol_id: str, group: list[ReceivedFixes]) -> list[Any]:
        doc, track = await asyncio.gather(self.repo.get(patrol_id), self.repo.get_track(patrol_id))
        if doc is None:
            log.warning("points for an unknown patrol dropped", extra={"patrol_id": patrol_id})
            return []
        by_seq: dict[int, Fix] = {}
        for b in group:
            for f in b.fixes:
                by_seq[f.seq] = f
        fixes = list(by_seq.values())
        if not fixes:
            return []
        digests = await self.repo.store_fixes(patrol_id, fixes)
        # The chunk list in the summary is the patrol's index of its fixes (read by exact _id);
        # a chunk stored again (a redelivery) is listed once, where it was first.
        listed = list((track or {}).get("chunks") or [])
        known = set(listed)
        chunks = listed + [d for d in digests if d not in known]
        inside = self.inside_of(doc["village"])
        received_at = max(as_utc(b.received_at) for b in group)
        summary, rev = summary_from_doc(track)
        if can_extend(summary, fixes):
            new = extend(summary, fixes, self.quality, inside)
        else:
            listed_now = {**(track or {}), "chunks": chunks}
            stored = await self.repo.load_track_fixes(patrol_id, listed_now)
            new = summarize(stored, self.quality, inside)
        last_t = datetime.fromtimestamp(new.last.t, UTC) if new.last else None
        save = self.repo.save_summary(
            patrol_id,
            new,
            rev=rev + 1,
            extra={
                "chunks": chunks,
                "legacy_buckets": bool(track) and is_legacy(track or {}),
                "last_point_at": last_t,
                "last_received_at": received_at,
                "last_seen_at": overdue_rules.last_seen(
                    as_utc(doc["started_at"]), last_t, received_at
                ),
            },
        )
        events: list[Any] = []
        finished = doc.get("ended_at") is not None
        latest = max(fixes, key=lambda f: (f.t, f.seq))
        position = {
            "patrol_id": patrol_id,
            "village": doc["village"],
            "lat": latest.lat,
            "lon": latest.lon,
            "t": datetime.fromtimestamp(latest.t, UTC),
            "accuracy_m": latest.accuracy_m,
        }
        _, moved = await asyncio.gather(save, self.repo.update_position(doc["ranger_id"], position))
        if moved:
            events.append(
                PositionUpdated.new(
                    PositionUpdatedData(
                        ranger_id=doc["ranger_id"], on_patrol=not finished, **position
                    ),
                    key=doc["ranger_id"],
                    producer=self.settings.service,
                )
            )
        if finished:
            # Late points after the finish change the summary: patrol.finished is published
            # again with the new figures and `revision` > 0 (consumers treat it as an update).
            events.append(self._finished_event(doc, new.points, new.distance_m, rev + 1))
        return events

    # --- finish ---------------------------------------------------------------------------------
    def _finished_event(
        self, doc: dict[str, Any], points: int, distance_m: float, revision: int
    ) -> PatrolFinished:
        started = as_utc(doc["started_at"])
        ended = as_utc(doc["ended_at"])
        return PatrolFinished.new(
            PatrolFinishedData(
                patrol_id=doc["_id"],
                ranger_id=doc["ranger_id"],
                village=doc["village"],
                started_at=started,
                ended_at=ended,
                distance_m=distance_m,
                duration_s=(ended - started).total_seconds(),
                points=points,
                revision=revision,
            ),
            key=doc["ranger_id"],
            producer=self.settings.service,
            event_id=_event_id(doc["_id"], "finished", revision),
        )

    async def finish(self, person: Person, patrol_id: str, ended_at: datetime) -> Any:
        doc = await self._visible(person, patrol_id)
        if doc["ranger_id"] != person.id:
            raise Forbidden("only the patrol's ranger finishes it", field="id")
        ended_at = as_utc(ended_at)
        now = self.clock.now()
        if doc.get("ended_at") is not None:
            lifecycle.same_finish(as_utc(doc["ended_at"]), ended_at)
        else:
            lifecycle.check_finish(
                as_utc(doc["started_at"]), ended_at, now, self.policy.patrol.future_tolerance_s
            )
            updated = await self.repo.finish(patrol_id, ended_at, now)
            if updated is None:
                updated = await self.repo.get(patrol_id)
                assert updated is not None
                lifecycle.same_finish(as_utc(updated["ended_at"]), ended_at)
            doc = updated
        self._ingest_cache.pop(patrol_id, None)
        track = await self.repo.get_track(patrol_id)
        if not doc.get("finished_published"):
            summary, _ = summary_from_doc(track)
            await self.publisher.publish(
                self._finished_event(doc, summary.points, summary.distance_m, 0)
            )
            await self.repo.set_flag(patrol_id, "finished_published")
        return self.view(doc, track)

    # --- reads ----------------------------------------------------------------------------------
    def view(
        self, doc: dict[str, Any], track: dict[str, Any] | None, overdue: bool = False
    ) -> dict[str, Any]:
        summary, _ = summary_from_doc(track)
        started = as_utc(doc["started_at"])
        ended = as_utc(doc["ended_at"]) if doc.get("ended_at") else None
        dur = duration_s(started.timestamp(), ended.timestamp() if ended else None, summary.last)
        f = summary.flags
        return {
            "id": doc["_id"],
            "ranger_id": doc["ranger_id"],
            "village": doc["village"],
            "started_at": started,
            "ended_at": ended,
            "status": doc.get("status", lifecycle.ACTIVE),
            "points": summary.points,
            "distance_m": round(summary.distance_m, 2),
            "duration_s": dur,
            "last_point_at": (track or {}).get("last_point_at"),
            "quality": {
                "flags": f.names(),
                "speed": f.speed,
                "jumps": f.jumps,
                "gaps": f.gaps,
                "gap_s_total": f.gap_s_total,
                "outside_village": f.outside,
                "examples": f.examples,
            },
            "overdue": overdue,
        }

    async def get(self, person: Person, patrol_id: str) -> dict[str, Any]:
        doc = await self._visible(person, patrol_id)
        overdue = await self.repo.overdue_states([patrol_id])
        published = bool(overdue.get(patrol_id, {}).get("published"))
        return self.view(doc, await self.repo.get_track(patrol_id), published)

    async def track(self, person: Person, patrol_id: str) -> dict[str, Any]:
        doc = await self._visible(person, patrol_id)
        stored = await self.repo.get_track(patrol_id)
        fixes = await self.repo.load_track_fixes(patrol_id, stored)
        from services.patrol.domain.track import order_fixes

        ordered = order_fixes(fixes)
        view = self.view(doc, stored)
        coords = [[f.lon, f.lat] for f in ordered]
        return {
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": coords} if len(coords) >= 2 else None,
            "properties": {
                "patrol_id": patrol_id,
                "ranger_id": doc["ranger_id"],
                "village": doc["village"],
                "status": view["status"],
                "distance_m": view["distance_m"],
                "duration_s": view["duration_s"],
                "points": len(ordered),
                "seqs": [f.seq for f in ordered],
                "times": [datetime.fromtimestamp(f.t, UTC) for f in ordered],
                "accuracy_m": [f.accuracy_m for f in ordered],
                "quality": view["quality"],
            },
        }

    def _scope_unit(self, person: Person, unit: str | None) -> str:
        code = unit or person.unit
        if code not in self.org.units or not (
            person.role == Role.RANGER and code == person.unit or in_scope(self.org, person, code)
        ):
            raise NotFound("unit not found", field="unit")
        return code

    async def list_patrols(
        self,
        person: Person,
        *,
        ranger_id: str | None,
        unit: str | None,
        start: datetime | None,
        end: datetime | None,
    ) -> list[dict[str, Any]]:
        code = self._scope_unit(person, unit)
        ranger_ids: list[str] | None = None
        if person.role == Role.RANGER:
            if ranger_id is not None and ranger_id != person.id:
                return []
            ranger_ids = [person.id]
        elif ranger_id is not None:
            ranger_ids = [ranger_id]
        docs = await self.repo.find_patrols(
            ranger_ids=ranger_ids,
            unit=code,
            started_from=as_utc(start) if start else None,
            started_to=as_utc(end) if end else None,
        )
        tracks = await self.repo.get_tracks([d["_id"] for d in docs])
        return [self.view(d, tracks.get(d["_id"])) for d in docs]

    async def positions(self, person: Person, unit: str | None) -> list[dict[str, Any]]:
        code = self._scope_unit(person, unit)
        docs = await self.repo.positions_in(self.villages_in(code))
        if person.role == Role.RANGER:
            docs = [d for d in docs if d["_id"] == person.id]
        # Only rangers whose patrol of that position is still running are "on patrol".
        active = {
            d["_id"]
            for d in await self.repo.find_patrols(
                ranger_ids=[str(d["_id"]) for d in docs], active_only=True, limit=None
            )
        }
        docs = [d for d in docs if d["patrol_id"] in active]
        return [
            {
                "ranger_id": d["_id"],
                "patrol_id": d["patrol_id"],
                "village": d["village"],
                "lat": d["lat"],
                "lon": d["lon"],
                "t": d["t"],
                "accuracy_m": d.get("accuracy_m"),
            }
            for d in sorted(docs, key=lambda d: str(d["_id"]))
        ]

    # --- compliance -----------------------------------------------------------------------------
    def _target_multiplier(self, village: str) -> Any:
        unit = self.org.unit(village)
        lat, lon = unit.point
        codes = [u.code for u in self.org.ancestors(village)]
        factor = self.policy.patrol.fire_ban_target_multiplier

        def multiplier(year: int, month: int) -> float:
            m_lo = datetime(year, month, 1, tzinfo=self.tz)
            m_hi = (m_lo + timedelta(days=32)).replace(day=1)
            for ban in self.policy.fire_bans:
                if ban.starts_at < m_hi and ban.ends_at > m_lo:
                    if ban.covers(lat=lat, lon=lon, unit_codes=codes):
                        return factor
            return 1.0

        return multiplier

    async def compliance(
        self, person: Person, *, unit: str | None, start: date | None, end: date | None
    ) -> dict[str, Any]:
        code = self._scope_unit(person, unit)
        today = self.clock.now().astimezone(self.tz).date()
        start = start or today.replace(day=1)
        end = end or today
        if end < start:
            raise InvalidInput("to is before from", field="to")
        if (end - start).days > 366:
            raise InvalidInput("at most one year at a time", field="to")
        rangers = self.org.people_in(code, Role.RANGER, subtree=True)
        if person.role == Role.RANGER:
            rangers = [r for r in rangers if r.id == person.id]
        lo, hi = compliance_rules.local_period(start, end, self.tz)
        docs = await self.repo.find_patrols(
            ranger_ids=[r.id for r in rangers],
            started_from=lo - timedelta(days=1),  # a patrol may run over midnight into the period
            started_to=hi,
            limit=None,  # every patrol of the period: bounded by the period, not the history
        )
        fixes = await self.repo.load_fixes([d["_id"] for d in docs])
        by_ranger: dict[str, list[compliance_rules.PatrolTrack]] = {r.id: [] for r in rangers}
        for d in docs:
            started = as_utc(d["started_at"]).timestamp()
            ended = as_utc(d["ended_at"]).timestamp() if d.get("ended_at") else None
            fx = fixes.get(d["_id"], [])
            last = max(fx, key=lambda f: f.t) if fx else None
            in_period = lo.timestamp() <= started < hi.timestamp() or any(
                lo.timestamp() <= f.t < hi.timestamp() for f in fx
            )
            if not in_period:
                continue
            by_ranger.setdefault(d["ranger_id"], []).append(
                compliance_rules.PatrolTrack(
                    patrol_id=d["_id"],
                    started_at=started,
                    duration_s=duration_s(started, ended, last),
                    fixes=fx,
                )
            )
        results = []
        for r in rangers:
            village = r.unit
            rule = self.org.village_rule(village)
            res = compliance_rules.evaluate(
                ranger_id=r.id,
                village=village,
                rule=rule,
                patrols=by_ranger.get(r.id, []),
                inside=self.inside_of(village),
                quality=self.quality,
                start=start,
                end=end,
                tz=self.tz,
                multiplier=self._target_multiplier(village),
            )
            results.append(_compliance_view(res, r, rule.model_dump()))
        return {"unit": code, "from": start, "to": end, "rangers": results}

    # --- overdue --------------------------------------------------------------------------------
    async def scan_overdue(self) -> int:
        """Announce every overdue patrol once; returns how many this replica announced.

        Claim (unique insert) → publish → mark published. A failed publish releases the claim so
        the next scan retries; a crash in between leaves a lease that expires, and the retry
        carries the same event id (consumers drop the copy)."""
        p = self.policy.patrol
        now = self.clock.now()
        scan = overdue_rules.scan_for(now, p.overdue_after_s, self.settings.patrol_overdue_lease_s)
        candidates = await self.repo.find_patrols(
            active_only=True, started_to=scan.silent_since, limit=None
        )
        if not candidates:
            return 0
        ids = [d["_id"] for d in candidates]
        claims = await self.repo.overdue_states(ids)
        tracks = await self.repo.get_tracks(ids)
        announced = 0
        for doc in candidates:
            claim = claims.get(doc["_id"])
            if claim is not None and claim.get("published"):
                continue
            track = tracks.get(doc["_id"]) or {}
            started = as_utc(doc["started_at"])
            last_seen = as_utc(track.get("last_seen_at") or started)
            since = overdue_rules.overdue_since(
                finished=doc.get("ended_at") is not None,
                started_at=started,
                last_seen_at=last_seen,
                now=now,
                overdue_after_s=p.overdue_after_s,
            )
            if since is None:
                continue
            token = uuid.uuid4().hex
            if not await self.repo.claim_overdue(
                doc["_id"], token, now=now, lease_until=scan.lease_until
            ):
                continue
            summary, _ = summary_from_doc(track)
            last_point = track.get("last_point_at")
            event = PatrolOverdue.new(
                PatrolOverdueData(
                    patrol_id=doc["_id"],
                    ranger_id=doc["ranger_id"],
                    village=doc["village"],
                    started_at=started,
                    last_point_at=as_utc(last_point) if last_point else None,
                    overdue_since=since,
                    last_lat=summary.last.lat if summary.last else None,
                    last_lon=summary.last.lon if summary.last else None,
                ),
                key=doc["ranger_id"],
                producer=self.settings.service,
                event_id=overdue_rules.overdue_event_id(doc["_id"]),
            )
            try:
                await self.publisher.publish(event)
            except Exception:
                await self.repo.release_overdue(doc["_id"], token)
                raise
            await self.repo.mark_overdue_published(doc["_id"], token, self.clock.now())
            announced += 1
        return announced


def _compliance_view(
    res: compliance_rules.RangerCompliance, ranger: Person, rule: dict[str, Any]
) -> dict[str, Any]:
    return {
        "ranger_id": res.ranger_id,
        "name": ranger.name,
        "village": res.village,
        "patrols": res.patrols,
        "days_patrolled": res.days_patrolled,
        "valid_days": res.valid_days,
        "distance_m": round(res.distance_m, 1),
        "duration_s": round(res.duration_s, 1),
        "inside_distance_m": round(res.inside_distance_m, 1),
        "inside_duration_s": round(res.inside_duration_s, 1),
        "rule": rule,
        "compliant": res.compliant,
        "shortfalls": [
            {
                "code": s.code,
                "month": s.month,
                "dekad": s.dekad,
                "required": s.required,
                "actual": s.actual,
                "zh": s.zh,
                "en": s.en,
            }
            for s in res.shortfalls
        ],
        "months": [
            {
                "month": m.month,
                "fire_season": m.fire_season,
                "covered_days": m.covered_days,
                "required": m.required,
                "valid_days": m.valid_days,
                "dekad_valid_days": list(m.dekad_valid_days),
                "dekad_required": m.dekad_required,
                "dekads_checked": list(m.dekads_checked),
            }
            for m in res.months
        ],
        "days": [
            {
                "date": d.day,
                "distance_m": round(d.distance_m, 1),
                "duration_s": round(d.duration_s, 1),
                "inside_distance_m": round(d.inside_distance_m, 1),
                "inside_duration_s": round(d.inside_duration_s, 1),
                "valid": d.valid,
            }
            for d in res.days
        ],
    }
