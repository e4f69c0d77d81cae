"""What several patrol use cases share: who may see a patrol or a unit, the thresholds read from
the policy and settings, village boundaries, and deterministic event ids. No I/O but the store
lookups it is handed."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta, timezone, tzinfo

from services.patrol.domain.patrol import IngestRules, Patrol
from services.patrol.domain.track import Inside, QualityRules, inside_boundary
from services.patrol.settings import PatrolSettings
from services.patrol.store import PatrolBook, StoredTrack
from shared.auth import in_scope
from shared.errors import NotFound
from shared.org import OrgDirectory, Person, Role
from shared.policy import Policy

_EVENT_NS = uuid.UUID("0b9f3f0e-3c55-4d8e-9d39-6f1f6d3f2a7e")


def event_id(*parts: object) -> uuid.UUID:
    """A deterministic event id, so a re-publish after a crash is recognisably the same event."""
    return uuid.uuid5(_EVENT_NS, ":".join(str(p) for p in parts))


def quality_rules(policy: Policy) -> QualityRules:
    p = policy.patrol
    return QualityRules(
        max_speed_kmh=p.max_speed_kmh, jump_m=p.jump_m, jump_within_s=p.jump_within_s, gap_s=p.gap_s
    )


def ingest_rules(policy: Policy) -> IngestRules:
    p = policy.patrol
    return IngestRules(
        future_tolerance_s=p.future_tolerance_s,
        late_points_accept_s=p.late_points_accept_s,
        max_points_per_batch=p.max_points_per_batch,
    )


def local_zone(settings: PatrolSettings) -> tzinfo:
    """The district's calendar (patrol days are local days)."""
    return timezone(timedelta(hours=settings.patrol_utc_offset_h))


@dataclass(frozen=True)
class PatrolRead:
    """A patrol with what is known of its track, as the reads answer it."""

    patrol: Patrol
    track: StoredTrack | None = None
    overdue: bool = False


class Villages:
    """The org directory's villages as the patrol rules need them (boundary tests cached)."""

    def __init__(self, org: OrgDirectory) -> None:
        self.org = org
        self._inside: dict[str, Inside] = {}

    def inside_of(self, village: str) -> Inside:
        test = self._inside.get(village)
        if test is None:
            test = inside_boundary(self.org.unit(village).boundary)
            self._inside[village] = test
        return test

    def villages_in(self, unit: str) -> list[str]:
        return [u.code for u in self.org.descendants(unit) if u.patrol_rule is not None]


class Access:
    """Who sees what: a ranger their own patrols, anyone else what lies in their unit's subtree;
    outside one's scope a patrol or unit is answered as absent (404)."""

    def __init__(self, org: OrgDirectory) -> None:
        self.org = org

    def can_see(self, person: Person, patrol: Patrol) -> bool:
        if person.role == Role.RANGER:
            return patrol.ranger_id == person.id
        return in_scope(self.org, person, patrol.village)

    async def visible(self, book: PatrolBook, person: Person, patrol_id: str) -> Patrol:
        patrol = await book.patrol(patrol_id)
        if patrol is None or not self.can_see(person, patrol):
            raise NotFound("patrol not found", field="id")
        return patrol

    def scope_unit(self, person: Person, unit: str | None) -> str:
        """The unit asked for (the caller's own by default), or NotFound when outside scope."""
        code = unit or person.unit
        if code not in self.org.units or not (
            person.role == Role.RANGER
            and code == person.unit
            or in_scope(self.org, person, code)
        ):
            raise NotFound("unit not found", field="unit")
        return code
