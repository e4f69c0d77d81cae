"""Reading incidents in the caller's scope: one incident, or a page of a unit's. Never changes
anything; an incident outside one's scope is not found, as if absent. A boundary incident is
also readable by the chain of each neighbour unit it was shared with (DESIGN.md), one by one:
the lists stay the owner's (their read model is keyed by the incident's own units)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from services.incidents.domain.incident import Incident, Status
from services.incidents.store import Incidents
from shared.auth import in_scope
from shared.errors import NotFound
from shared.org import OrgDirectory, Person, Role


def public_view(incident: Incident) -> dict[str, Any]:
    """The incident as the HTTP contract shows it (DESIGN.md fields, plus a few additive ones)."""
    return incident.model_dump(mode="python", exclude={"version"})


class Reach(StrEnum):
    """How a person reaches an incident they may see."""

    OWNER = "owner"  # the incident's village lies in their unit's subtree
    NEIGHBOUR = "neighbour"  # only a neighbour unit it was shared with does


def reach_of(org: OrgDirectory, person: Person, incident: Incident) -> Reach | None:
    """The owner's scope first; else a neighbour unit in the person's subtree — exactly the units
    (each neighbour and its ancestors) notify puts in the alert's scope. None: not theirs."""
    if in_scope(org, person, incident.village):
        return Reach.OWNER
    if any(in_scope(org, person, unit) for unit in incident.neighbour_units):
        return Reach.NEIGHBOUR
    return None


async def load_reached(
    *, store: Incidents, org: OrgDirectory, person: Person, incident_id: str
) -> tuple[Incident, Reach]:
    """The incident and how the person reaches it; NotFound when they do not."""
    incident = await store.get(incident_id)
    reach = None if incident is None else reach_of(org, person, incident)
    if incident is None or reach is None:
        raise NotFound("incident not found")
    return incident, reach


class IncidentQueries:
    def __init__(self, *, store: Incidents, org: OrgDirectory) -> None:
        self.store = store
        self.org = org

    async def get_incident(self, *, person: Person, incident_id: str) -> dict[str, Any]:
        incident, _ = await load_reached(
            store=self.store, org=self.org, person=person, incident_id=incident_id
        )
        return public_view(incident)

    async def list_incidents(
        self,
        *,
        person: Person,
        status: Status | None,
        type_: str | None,
        unit: str | None,
        since: datetime | None,
        limit: int,
        cursor: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of incidents in the unit (or the person's), and the cursor of the next."""
        if person.role == Role.PUBLIC:
            return [], None
        root = unit or person.unit
        if not in_scope(self.org, person, root):
            raise NotFound("unit not found")
        page = await self.store.incidents_in(
            root, status=status, type_=type_, since=since, limit=limit, cursor=cursor
        )
        return [public_view(i) for i in page.incidents], page.next
