"""The daily roll-call (日点名): per unit and local day, the share of the roster of
rangers whose app was online (上线率), who patrolled (巡护率) and whose patrol met the
daily standard (出巡达标率), against the policy's targets; the ranking of sibling units
(赛马比拼, 动态晾晒); and the rangers who fell short, by how much.

A ranger's day is what the read model kept of it: whether the app was heard from, and the patrol
distance and time inside the ranger's own village that day (a patrol across midnight has already
been split by local day). The standard is the policy's when set, else the village's own valid-day
rule. The roster of a unit is every ranger of its subtree, so a township's rates are those of its
rangers, not an average of its villages'.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from shared.org import OrgDirectory, Role
from shared.policy.models import AssessmentPolicy


@dataclass(frozen=True)
class RangerDay:
    """What was kept of one ranger's local day."""

    person: str
    day: date
    online: bool = False  # any fix or request from the app that day
    patrolled: bool = False  # a patrol with a fix that day
    inside_distance_m: float = 0.0
    inside_duration_s: float = 0.0


@dataclass(frozen=True)
class Standard:
    min_distance_m: float
    min_duration_s: float

    def met_by(self, day: RangerDay) -> bool:
        return (
            day.inside_distance_m >= self.min_distance_m
            and day.inside_duration_s >= self.min_duration_s
        )


class Missing(StrEnum):
    OFFLINE = "offline"  # the app was not heard from at all
    NO_PATROL = "no_patrol"  # online, no patrol
    BELOW_STANDARD = "below_standard"  # patrolled, short of the standard


@dataclass(frozen=True)
class ShortRanger:
    """A ranger who fell short that day, and by how much."""

    person: str
    name: str
    village: str
    missing: Missing
    short_distance_m: float  # what the standard still needed (0 when that part was met)
    short_duration_s: float


@dataclass(frozen=True)
class Rate:
    count: int
    roster: int
    target: float

    @property
    def value(self) -> float:
        """The share of the roster (1.0 for an empty roster: nobody fell short)."""
        return self.count / self.roster if self.roster else 1.0

    @property
    def met(self) -> bool:
        return self.value + 1e-12 >= self.target


@dataclass(frozen=True)
class UnitRollCall:
    unit: str
    day: date
    roster: int
    online: Rate
    patrolled: Rate
    met_standard: Rate
    short: tuple[ShortRanger, ...]  # worst first: offline, then no patrol, then furthest below
    rank: int | None = None  # among the siblings ranked with it (1 = best; ties share a rank)
    ranked_among: int | None = None


def standard_for(org: OrgDirectory, village: str, policy: AssessmentPolicy) -> Standard:
    """The daily standard of a village's rangers: the policy's where set, else the village rule."""
    rule = org.village_rule(village)
    return Standard(
        min_distance_m=policy.standard.min_distance_m or rule.min_distance_m,
        min_duration_s=policy.standard.min_duration_s or rule.min_duration_s,
    )


def roster_of(org: OrgDirectory, unit: str) -> list[tuple[str, str, str]]:
    """(person id, name, village) of every ranger in the unit's subtree, by id."""
    return sorted(
        (p.id, p.name, p.unit) for p in org.people_in(unit, Role.RANGER, subtree=True)
    )


def roll_call(
    *,
    org: OrgDirectory,
    unit: str,
    day: date,
    days: Mapping[str, RangerDay],
    policy: AssessmentPolicy,
) -> UnitRollCall:
    """One unit's roll-call for one local day; `days` holds the kept days of its rangers by
    person id (a ranger absent from it was not heard from)."""
    online = patrolled = met = 0
    short: list[ShortRanger] = []
    standards: dict[str, Standard] = {}
    roster = roster_of(org, unit)
    for person, name, village in roster:
        standard = standards.get(village) or standards.setdefault(
            village, standard_for(org, village, policy)
        )
        kept = days.get(person) or RangerDay(person=person, day=day)
        if kept.day != day:
            raise ValueError(f"{person}: a kept day of {kept.day} given for {day}")
        online += kept.online or kept.patrolled  # a patrol's fixes came from the app
        patrolled += kept.patrolled
        if kept.patrolled and standard.met_by(kept):
            met += 1
            continue
        missing = (
            Missing.BELOW_STANDARD
            if kept.patrolled
            else Missing.NO_PATROL if kept.online else Missing.OFFLINE
        )
        short.append(
            ShortRanger(
                person=person,
                name=name,
                village=village,
                missing=missing,
                short_distance_m=max(0.0, standard.min_distance_m - kept.inside_distance_m),
                short_duration_s=max(0.0, standard.min_duration_s - kept.inside_duration_s),
            )
        )
    order = {Missing.OFFLINE: 0, Missing.NO_PATROL: 1, Missing.BELOW_STANDARD: 2}
    short.sort(key=lambda s: (order[s.missing], -s.short_distance_m, -s.short_duration_s, s.person))
    targets = policy.targets
    n = len(roster)
    return UnitRollCall(
        unit=unit,
        day=day,
        roster=n,
        online=Rate(online, n, targets.online),
        patrolled=Rate(patrolled, n, targets.patrolled),
        met_standard=Rate(met, n, targets.met_standard),
        short=tuple(short),
    )


def rank(calls: Iterable[UnitRollCall]) -> list[UnitRollCall]:
    """Sibling units ranked best first by 出巡达标率, then 巡护率, then 上线率 (standard
    competition ranking: equal rates share a rank and the next rank skips, 1, 2, 2, 4); units
    without rangers are listed last, unranked."""
    calls = list(calls)
    staffed = [c for c in calls if c.roster]
    empty = sorted((c for c in calls if not c.roster), key=lambda c: c.unit)

    def key(c: UnitRollCall) -> tuple[float, float, float]:
        return (
            round(c.met_standard.value, 9),
            round(c.patrolled.value, 9),
            round(c.online.value, 9),
        )

    staffed.sort(key=lambda c: (tuple(-k for k in key(c)), c.unit))
    out: list[UnitRollCall] = []
    for i, c in enumerate(staffed):
        same = i and key(staffed[i - 1]) == key(c)
        position = out[-1].rank if same and out[-1].rank is not None else i + 1
        out.append(_ranked(c, position, len(staffed)))
    return out + empty


def _ranked(call: UnitRollCall, position: int, among: int) -> UnitRollCall:
    return UnitRollCall(
        unit=call.unit,
        day=call.day,
        roster=call.roster,
        online=call.online,
        patrolled=call.patrolled,
        met_standard=call.met_standard,
        short=call.short,
        rank=position,
        ranked_among=among,
    )


@dataclass(frozen=True)
class RollCallSheet:
    """The roll-call of a unit with its children ranked beneath it (a district's townships, a
    township's villages); a village's sheet has no children."""

    unit: UnitRollCall
    children: tuple[UnitRollCall, ...] = field(default_factory=tuple)


def sheet(
    *,
    org: OrgDirectory,
    unit: str,
    day: date,
    days: Mapping[str, RangerDay],
    policy: AssessmentPolicy,
) -> RollCallSheet:
    """A unit's roll-call and its children's, ranked among themselves."""
    own = roll_call(org=org, unit=unit, day=day, days=days, policy=policy)
    children: Sequence[UnitRollCall] = rank(
        roll_call(org=org, unit=child.code, day=day, days=days, policy=policy)
        for child in org.children(unit)
    )
    return RollCallSheet(unit=own, children=tuple(children))
