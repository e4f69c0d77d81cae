"""Storing fixes (the points consumer's use case): batches accepted by the points endpoint, read
back from Kafka, stored per patrol with the track summary they make, the ranger's position moved,
and only then what changed published. Idempotent: a redelivered batch changes nothing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from services.patrol.domain import overdue as overdue_rules
from services.patrol.domain.track import Fix, QualityRules, can_extend, extend, summarize
from services.patrol.settings import PatrolSettings
from services.patrol.store import PatrolStore, Position, StoredTrack
from services.patrol.usecases.common import Villages, quality_rules
from services.patrol.usecases.flows import finished_event
from shared.clock import as_utc
from shared.events import Event, PositionUpdated, PositionUpdatedData
from shared.kafka import Publisher
from shared.org import OrgDirectory
from shared.policy import Policy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReceivedFixes:
    """One accepted batch as the points consumer hands it over (a patrol.points_received event,
    its points already WGS-84 fixes with epoch times)."""

    patrol_id: str
    received_at: datetime
    fixes: Sequence[Fix]


class FixStorage:
    def __init__(
        self,
        *,
        store: PatrolStore,
        publisher: Publisher,
        org: OrgDirectory,
        policy: Policy,
        settings: PatrolSettings,
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.villages = Villages(org)
        self.quality: QualityRules = quality_rules(policy)
        self.producer = settings.service

    async def store_batches(self, batches: Sequence[ReceivedFixes]) -> None:
        """Store the fixes of one or more received batches, grouped by patrol; announce (after
        the writes) the positions that moved and the revised figures of finished patrols."""
        grouped: dict[str, list[ReceivedFixes]] = {}
        for b in batches:
            grouped.setdefault(b.patrol_id, []).append(b)
        events: list[Event] = []
        for patrol_id, group in grouped.items():
            events.extend(await self._store_patrol(patrol_id, group))
        if events:
            await self.publisher.publish_many(events)

    async def _store_patrol(self, patrol_id: str, group: list[ReceivedFixes]) -> list[Event]:
        patrol, stored_track = await asyncio.gather(
            self.store.patrol(patrol_id), self.store.track(patrol_id)
        )
        if patrol is None:
            log.warning("points for an unknown patrol dropped", extra={"patrol_id": patrol_id})
            return []
        by_seq = {f.seq: f for b in group for f in b.fixes}
        fixes = list(by_seq.values())
        if not fixes:
            return []
        before = stored_track or StoredTrack()
        inside = self.villages.inside_of(patrol.village)
        if can_extend(before.summary, fixes):
            summary = extend(before.summary, fixes, self.quality, inside)
        else:  # late, resent or out of order: the whole track again, the new copies winning
            stored = await self.store.fixes_of(patrol_id)
            summary = summarize([*stored, *fixes], self.quality, inside)
        received_at = max(as_utc(b.received_at) for b in group)
        last_t = datetime.fromtimestamp(summary.last.t, UTC) if summary.last else None
        track = StoredTrack(
            summary=summary,
            revision=before.revision + 1,
            last_point_at=last_t,
            last_received_at=received_at,
            last_seen_at=overdue_rules.last_seen(patrol.started_at, last_t, received_at),
        )
        latest = max(fixes, key=lambda f: (f.t, f.seq))
        position = Position(
            ranger_id=patrol.ranger_id,
            patrol_id=patrol_id,
            village=patrol.village,
            lat=latest.lat,
            lon=latest.lon,
            t=datetime.fromtimestamp(latest.t, UTC),
            accuracy_m=latest.accuracy_m,
        )
        # Different records with one writer each (this consumer): stored side by side.
        _, moved = await asyncio.gather(
            self.store.append_fixes(patrol_id, fixes, track), self.store.move_position(position)
        )
        events: list[Event] = []
        if moved:
            events.append(
                PositionUpdated.new(
                    PositionUpdatedData(
                        ranger_id=patrol.ranger_id,
                        on_patrol=not patrol.finished,
                        patrol_id=patrol_id,
                        village=patrol.village,
                        lat=position.lat,
                        lon=position.lon,
                        t=position.t,
                        accuracy_m=position.accuracy_m,
                    ),
                    key=patrol.ranger_id,
                    producer=self.producer,
                )
            )
        if patrol.finished:
            # Late points after the finish change the figures: patrol.finished again, revised.
            events.append(
                finished_event(
                    patrol,
                    points=summary.points,
                    distance_m=summary.distance_m,
                    revision=track.revision,
                    producer=self.producer,
                )
            )
        return events
