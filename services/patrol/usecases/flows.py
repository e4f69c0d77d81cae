"""Starting and finishing a patrol (巡护开始/结束): the ranger's app declares each once and may
resend it; patrol.started / patrol.finished are published after the state is stored, and a
resend publishes what a crash left unpublished. Never touches fixes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from services.patrol.domain import patrol as lifecycle
from services.patrol.domain.patrol import Patrol
from services.patrol.settings import PatrolSettings
from services.patrol.store import PatrolStore
from services.patrol.usecases.common import Access, PatrolRead, event_id
from shared.clock import Clock, as_utc
from shared.errors import Forbidden
from shared.events import PatrolFinished, PatrolFinishedData, PatrolStarted, PatrolStartedData
from shared.kafka import Publisher
from shared.org import OrgDirectory, Person, Role
from shared.policy import Policy


def finished_event(
    patrol: Patrol, *, points: int, distance_m: float, revision: int, producer: str
) -> PatrolFinished:
    """patrol.finished with the track's figures; `revision` > 0 when late points changed them
    (consumers treat it as an update), each revision with its own deterministic id."""
    assert patrol.ended_at is not None
    return PatrolFinished.new(
        PatrolFinishedData(
            patrol_id=patrol.id,
            ranger_id=patrol.ranger_id,
            village=patrol.village,
            started_at=patrol.started_at,
            ended_at=patrol.ended_at,
            distance_m=distance_m,
            duration_s=(patrol.ended_at - patrol.started_at).total_seconds(),
            points=points,
            revision=revision,
        ),
        key=patrol.ranger_id,
        producer=producer,
        event_id=event_id(patrol.id, "finished", revision),
    )


class PatrolFlows:
    def __init__(
        self,
        *,
        store: PatrolStore,
        publisher: Publisher,
        clock: Clock,
        org: OrgDirectory,
        policy: Policy,
        settings: PatrolSettings,
        on_finished: Callable[[str], None] = lambda _patrol_id: None,
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.clock = clock
        self.org = org
        self.access = Access(org)
        self.future_tolerance_s = policy.patrol.future_tolerance_s
        self.producer = settings.service
        self.on_finished = on_finished

    async def start(
        self, person: Person, patrol_id: str, started_at: datetime
    ) -> tuple[bool, PatrolRead]:
        """(created, the patrol). Only rangers of a village start patrols; the same body again
        is a no-op, a different one a conflict."""
        if person.role != Role.RANGER:
            raise Forbidden(
                f"only rangers start patrols; you are {person.role.value}", field="role"
            )
        if self.org.unit(person.unit).patrol_rule is None:
            raise Forbidden("a ranger must belong to a village to patrol", field="unit")
        now = self.clock.now()
        started_at = as_utc(started_at)
        lifecycle.check_start(started_at, now, self.future_tolerance_s)
        created, patrol = await self.store.start(
            Patrol(
                id=patrol_id,
                ranger_id=person.id,
                village=person.unit,
                scope_units=tuple(u.code for u in self.org.ancestors(person.unit)),
                started_at=started_at,
                created_at=now,
            )
        )
        if not created:
            lifecycle.same_start(patrol.ranger_id, patrol.started_at, person.id, started_at)
        if not patrol.started_published:
            await self.publisher.publish(
                PatrolStarted.new(
                    PatrolStartedData(
                        patrol_id=patrol.id,
                        ranger_id=patrol.ranger_id,
                        village=patrol.village,
                        started_at=patrol.started_at,
                    ),
                    key=patrol.ranger_id,
                    producer=self.producer,
                    event_id=event_id(patrol.id, "started"),
                )
            )
            await self.store.mark_announced(patrol.id, "started")
        return created, PatrolRead(patrol)

    async def finish(self, person: Person, patrol_id: str, ended_at: datetime) -> PatrolRead:
        """Finish once (the same end again is a no-op); patrol.finished carries the track's
        figures as stored so far."""
        patrol = await self.access.visible(self.store, person, patrol_id)
        if patrol.ranger_id != person.id:
            raise Forbidden("only the patrol's ranger finishes it", field="id")
        ended_at = as_utc(ended_at)
        now = self.clock.now()
        if patrol.ended_at is not None:
            lifecycle.same_finish(patrol.ended_at, ended_at)
        else:
            lifecycle.check_finish(patrol.started_at, ended_at, now, self.future_tolerance_s)
            updated = await self.store.finish(patrol_id, ended_at=ended_at, now=now)
            if updated is None:  # finished in between by another request
                stored = await self.store.patrol(patrol_id)
                assert stored is not None and stored.ended_at is not None
                lifecycle.same_finish(stored.ended_at, ended_at)
                updated = stored
            patrol = updated
        self.on_finished(patrol_id)
        track = await self.store.track(patrol_id)
        if not patrol.finished_published:
            summary = track.summary if track else None
            await self.publisher.publish(
                finished_event(
                    patrol,
                    points=summary.points if summary else 0,
                    distance_m=summary.distance_m if summary else 0.0,
                    revision=0,
                    producer=self.producer,
                )
            )
            await self.store.mark_announced(patrol_id, "finished")
        return PatrolRead(patrol, track)
