"""Who hears what at which level: the 一长三员 chain and the chiefs above it (org directory).

Pure: reads the in-memory org directory, never a database; it decides people, not channels.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from shared.events import IncidentSnapshot
from shared.org import Level, OrgDirectory, Role

LEVEL_VILLAGE = 0  # 村级: village chief, supervisor, instructor (一长三员 less the ranger)
LEVEL_TOWNSHIP = 1  # 乡镇林长
LEVEL_DISTRICT = 2  # 区级林长 / 总林长
LEVEL_HQ = 3  # 森林防火指挥部 (森防指)

VILLAGE_CHAIN: tuple[Role, ...] = (Role.VILLAGE_CHIEF, Role.SUPERVISOR, Role.INSTRUCTOR)
# The level at which a neighbour unit of a given tier hears about a boundary incident.
NEIGHBOUR_LEVEL: dict[Level, int] = {
    Level.VILLAGE: LEVEL_VILLAGE,
    Level.TOWNSHIP: LEVEL_TOWNSHIP,
    Level.DISTRICT: LEVEL_DISTRICT,
}


@dataclass(frozen=True, order=True)
class Recipient:
    """One person to be told, at the level that reached them, and why (for the message)."""

    level: int
    person_id: str
    role: str
    unit: str
    reason: str  # "chain" | "police" | "neighbour"


def levels_for_opened(level_reached: int, *, floor: int = 0) -> range:
    """incident.opened at level L tells levels 0..L (an SOS at least up to `floor`)."""
    return range(0, max(level_reached, floor) + 1)


def levels_for_escalated(from_level: int, to_level: int, *, floor: int = 0) -> range:
    """incident.escalated a→b tells a+1..b; levels already told (≤ a, or ≤ floor) are not."""
    start = max(from_level, floor) + 1
    return range(start, max(to_level, start - 1) + 1)


def _chain_at(org: OrgDirectory, unit_code: str, level: int) -> list[tuple[str, str]]:
    """(person id, role) of the people who answer for `unit_code` at `level`."""
    roles: tuple[Role, ...]
    if level == LEVEL_VILLAGE:
        roles = VILLAGE_CHAIN
    elif level == LEVEL_TOWNSHIP:
        roles = (Role.TOWNSHIP_CHIEF,)
    elif level == LEVEL_DISTRICT:
        roles = (Role.DISTRICT_CHIEF,)
    else:
        roles = (Role.HQ,)
    return [(p.id, p.role.value) for p in org.people_in(unit_code, *roles)]


def _unit_for_level(org: OrgDirectory, village: str, level: int) -> str | None:
    """The unit whose people answer at `level` for an incident in `village`."""
    wanted = {
        LEVEL_VILLAGE: Level.VILLAGE,
        LEVEL_TOWNSHIP: Level.TOWNSHIP,
        LEVEL_DISTRICT: Level.DISTRICT,
    }.get(level, Level.DISTRICT)  # HQ sits at the district
    try:
        chain = org.ancestors(village)
    except KeyError:
        return None
    for unit in chain:
        if unit.level is wanted:
            return unit.code
    return None


def incident_recipients(
    org: OrgDirectory,
    snapshot: IncidentSnapshot,
    levels: Iterable[int],
    *,
    police_at_level: int = LEVEL_VILLAGE,
) -> list[Recipient]:
    """Everyone told at `levels` about an incident, sorted by level then person; the reporter
    (e.g. the ranger who reported it) is never told about their own report."""
    found: dict[tuple[int, str], Recipient] = {}

    def add(level: int, people: Sequence[tuple[str, str]], unit: str, reason: str) -> None:
        for person_id, role in people:
            if person_id == snapshot.reporter_id:
                continue
            found.setdefault((level, person_id), Recipient(level, person_id, role, unit, reason))

    neighbours: list[tuple[str, Level]] = []
    for code in snapshot.neighbour_units:
        try:
            neighbours.append((code, org.unit(code).level))
        except KeyError:
            continue  # a unit of another directory: not ours to notify
    for level in sorted(set(levels)):
        own = _unit_for_level(org, snapshot.village, level)
        if own is not None:
            add(level, _chain_at(org, own, level), own, "chain")
        if snapshot.police and level == police_at_level:
            township = _unit_for_level(org, snapshot.village, LEVEL_TOWNSHIP)
            if township is not None:
                police = [(p.id, p.role.value) for p in org.people_in(township, Role.POLICE)]
                add(level, police, township, "police")
        for code, tier in neighbours:
            if NEIGHBOUR_LEVEL.get(tier) == level:
                add(level, _chain_at(org, code, level), code, "neighbour")
    return sorted(found.values())


def overdue_recipients(org: OrgDirectory, village: str, ranger_id: str) -> list[Recipient]:
    """A patrol gone silent: the village chain of the ranger's village (not the ranger)."""
    try:
        people = _chain_at(org, village, LEVEL_VILLAGE)
    except KeyError:
        return []
    return sorted(
        Recipient(LEVEL_VILLAGE, pid, role, village, "chain")
        for pid, role in people
        if pid != ranger_id
    )


def scope_units(org: OrgDirectory, village: str, neighbour_units: Iterable[str] = ()) -> list[str]:
    """Units whose people see an alert on their stream: the village and its ancestors, and each
    neighbour unit with its ancestors (a person sees alerts whose scope holds their unit)."""
    codes: list[str] = []
    for code in [village, *neighbour_units]:
        try:
            chain = org.ancestors(code)
        except KeyError:
            continue
        for unit in chain:
            if unit.code not in codes:
                codes.append(unit.code)
    return codes
