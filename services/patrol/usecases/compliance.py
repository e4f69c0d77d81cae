"""The compliance query (巡护考核): per ranger of a unit, over local days, the valid patrol days
and what falls short of the village rule. Reads the period's patrols and their fixes only; the
rule itself is `domain/compliance.py`."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from services.patrol.domain import compliance as rules
from services.patrol.domain.patrol import Patrol
from services.patrol.domain.track import duration_s
from services.patrol.settings import PatrolSettings
from services.patrol.store import PatrolStore, StoredTrack
from services.patrol.usecases.common import Access, Villages, local_zone, quality_rules
from shared.clock import Clock
from shared.errors import InvalidInput
from shared.org import OrgDirectory, Person, Role
from shared.policy import Policy


@dataclass(frozen=True)
class RangerReport:
    result: rules.RangerCompliance
    ranger: Person
    rule: dict[str, Any]  # the village rule as the org file states it


@dataclass(frozen=True)
class ComplianceReport:
    unit: str
    start: date
    end: date
    rangers: list[RangerReport]


class ComplianceQuery:
    def __init__(
        self,
        *,
        store: PatrolStore,
        clock: Clock,
        org: OrgDirectory,
        policy: Policy,
        settings: PatrolSettings,
    ) -> None:
        self.store = store
        self.clock = clock
        self.org = org
        self.policy = policy
        self.access = Access(org)
        self.villages = Villages(org)
        self.quality = quality_rules(policy)
        self.tz = local_zone(settings)
        self.max_days = settings.patrol_compliance_max_days

    def _basis(self, village: str) -> str:
        """What a patrol's day summary depends on besides its fixes: the village it is judged
        against, that village's boundary, the quality rules and the calendar."""
        boundary = self.org.unit(village).boundary
        wkb = b"" if boundary is None else boundary.wkb
        seen = f"{village}|{self.quality!r}|{self.tz!r}|".encode() + wkb
        return hashlib.sha256(seen).hexdigest()[:20]

    async def _days_of(
        self, village: str, patrols: list[Patrol], heads: dict[str, StoredTrack]
    ) -> list[rules.PatrolDays]:
        """Each patrol's day summary: the kept one while its track is unchanged since, else
        computed from its fixes (one patrol's fixes in memory at a time) and kept."""
        basis = self._basis(village)
        kept = await self.store.day_summaries([p.id for p in patrols if p.id in heads], basis)
        out = []
        for p in patrols:
            started = p.started_at.timestamp()
            head = heads.get(p.id)
            summary = kept.get(p.id)
            if head is None:
                days = rules.PatrolDays(p.id, started, 0.0)
            elif summary is not None and summary.revision == head.revision:
                days = summary.days
            else:
                track = rules.PatrolTrack(p.id, started, 0.0, await self.store.fixes_of(p.id))
                days = rules.patrol_days(
                    track, self.villages.inside_of(village), self.quality, self.tz
                )
                await self.store.keep_day_summary(basis, head.revision, days)
            ended = p.ended_at.timestamp() if p.ended_at else None
            # Unfinished, a patrol lasts until its latest fix.
            lasted = duration_s(started, ended if ended is not None else days.last_fix_t, None)
            out.append(replace(days, duration_s=lasted))
        return out

    def _target_multiplier(self, village: str) -> Callable[[int, int], float]:
        """× the policy's factor for a month in which a 禁火令/封山令 covers the village."""
        lat, lon = self.org.unit(village).point
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
    ) -> ComplianceReport:
        """Local days start..end, both included (default: this month so far)."""
        code = self.access.scope_unit(person, unit)
        today = self.clock.now().astimezone(self.tz).date()
        start = start or today.replace(day=1)
        end = end or today
        if end < start:
            raise InvalidInput("to is before from", field="to")
        if (end - start).days > self.max_days:
            raise InvalidInput("at most one year at a time", field="to")
        rangers = self.org.people_in(code, Role.RANGER, subtree=True)
        if person.role == Role.RANGER:
            rangers = [r for r in rangers if r.id == person.id]
        lo, hi = rules.local_period(start, end, self.tz)
        patrols = await self.store.patrols_of(
            [r.id for r in rangers],
            started_from=lo - timedelta(days=1),  # a patrol may run over midnight into the period
            started_to=hi,
            limit=None,  # every patrol of the period: bounded by the period, not the history
        )
        village_of = {r.id: r.unit for r in rangers}
        heads = await self.store.track_heads([p.id for p in patrols])
        by_ranger: dict[str, list[rules.PatrolDays]] = {r.id: [] for r in rangers}
        for village in sorted({village_of[p.ranger_id] for p in patrols}):
            of_village = [p for p in patrols if village_of[p.ranger_id] == village]
            for p, days in zip(
                of_village, await self._days_of(village, of_village, heads), strict=True
            ):
                in_period = lo.timestamp() <= days.started_at < hi.timestamp() or any(
                    start <= part.day <= end for part in days.days
                )
                if in_period:
                    by_ranger[p.ranger_id].append(days)
        reports = []
        for r in rangers:
            rule = self.org.village_rule(r.unit)
            result = rules.evaluate(
                ranger_id=r.id,
                village=r.unit,
                rule=rule,
                patrols=by_ranger.get(r.id, []),
                inside=self.villages.inside_of(r.unit),
                quality=self.quality,
                start=start,
                end=end,
                tz=self.tz,
                multiplier=self._target_multiplier(r.unit),
            )
            reports.append(RangerReport(result, r, rule.model_dump()))
        return ComplianceReport(code, start, end, reports)
