"""The overdue scan (超时未归): announce each open patrol silent for too long, once across
replicas. Reads only the open patrols, never the history.

Claim (unique insert) → publish → mark published. A failed publish releases the claim so the
next scan retries; a crash in between leaves a lease that expires, and the retry carries the same
event id (consumers drop the copy).
"""

from __future__ import annotations

import uuid

from services.patrol.domain import overdue as overdue_rules
from services.patrol.settings import PatrolSettings
from services.patrol.store import PatrolStore, StoredTrack
from shared.clock import Clock
from shared.events import PatrolOverdue, PatrolOverdueData
from shared.kafka import Publisher
from shared.policy import Policy


class OverdueScan:
    def __init__(
        self,
        *,
        store: PatrolStore,
        publisher: Publisher,
        clock: Clock,
        policy: Policy,
        settings: PatrolSettings,
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.clock = clock
        self.overdue_after_s = policy.patrol.overdue_after_s
        self.lease_s = settings.patrol_overdue_lease_s
        self.producer = settings.service

    async def scan_overdue(self) -> int:
        """Announce every overdue patrol not announced yet; how many this replica announced."""
        now = self.clock.now()
        scan = overdue_rules.scan_for(now, self.overdue_after_s, self.lease_s)
        open_patrols = await self.store.open_patrols()
        # Started by `silent_since` at the latest: the rule's own boundary (due at exactly it).
        candidates = [p for p in open_patrols if p.started_at <= scan.silent_since]
        if not candidates:
            return 0
        ids = [p.id for p in candidates]
        announced_before = await self.store.overdue_announced(ids)
        tracks = await self.store.track_heads(ids)
        announced = 0
        for patrol in candidates:
            if patrol.id in announced_before:
                continue
            track = tracks.get(patrol.id) or StoredTrack()
            since = overdue_rules.overdue_since(
                finished=patrol.finished,
                started_at=patrol.started_at,
                last_seen_at=track.last_seen_at or patrol.started_at,
                now=now,
                overdue_after_s=self.overdue_after_s,
            )
            if since is None:
                continue
            token = uuid.uuid4().hex
            if not await self.store.claim_overdue(
                patrol.id, token, now=now, lease_until=scan.lease_until
            ):
                continue
            last = track.summary.last
            event = PatrolOverdue.new(
                PatrolOverdueData(
                    patrol_id=patrol.id,
                    ranger_id=patrol.ranger_id,
                    village=patrol.village,
                    started_at=patrol.started_at,
                    last_point_at=track.last_point_at,
                    overdue_since=since,
                    last_lat=last.lat if last else None,
                    last_lon=last.lon if last else None,
                ),
                key=patrol.ranger_id,
                producer=self.producer,
                event_id=overdue_rules.overdue_event_id(patrol.id),
            )
            try:
                await self.publisher.publish(event)
            except Exception:
                await self.store.release_overdue(patrol.id, token)
                raise
            await self.store.mark_overdue_published(patrol.id, token, self.clock.now())
            announced += 1
        return announced
