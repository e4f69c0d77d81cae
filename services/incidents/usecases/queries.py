"""Reading incidents in the caller's scope: one incident, or a page of a unit's. Never changes
anything; an incident outside one's scope is not found, as if absent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.incidents.domain.incident import Incident, Status
from services.incidents.store import Incidents
from shared.auth import in_scope
from shared.errors import NotFound
from shared.org import OrgDirectory, Person, Role


def public_view(incident: Incident) -> dict[str, Any]:
    """The incident as the HTTP contract shows it (DESIGN.md fields, plus a few additive ones)."""
    return incident.model_dump(mode="python", exclude={"version"})


async def load_in_scope(
    *, store: Incidents, org: OrgDirectory, person: Person, incident_id: str
) -> Incident:
    incident = await store.get(incident_id)
    if incident is None or not in_scope(org, person, incident.village):
        raise NotFound("incident not found")
    return incident


class IncidentQueries:
    def __init__(self, *, store: Incidents, org: OrgDirectory) -> None:
        self.store = store
        self.org = org

    async def get_incident(self, *, person: Person, incident_id: str) -> dict[str, Any]:
        incident = await load_in_scope(
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
