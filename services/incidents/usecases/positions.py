"""Rangers' latest positions from the patrol topic, kept for naming the nearest ranger on patrol.
Never reads another service's store: only what patrol publishes."""

from __future__ import annotations

from services.incidents.store import Position, Positions
from shared.events import PatrolFinished, PositionUpdated


class PositionsFeed:
    def __init__(self, *, store: Positions) -> None:
        self.store = store

    async def on_position(self, event: PositionUpdated) -> None:
        d = event.data
        await self.store.save_position(
            Position(d.ranger_id, d.patrol_id, d.village, d.lat, d.lon, d.t, d.on_patrol)
        )

    async def on_patrol_finished(self, event: PatrolFinished) -> None:
        await self.store.end_patrol(event.data.ranger_id, event.data.patrol_id)
