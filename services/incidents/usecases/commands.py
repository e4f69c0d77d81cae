"""What people do to an incident: acknowledge it, move it along its lifecycle, record a step of
the pest closed loop. Each is allowed by the domain's rules only; nothing here decides one. A
neighbour chain that was sent a boundary incident reaches it too: its ack is the domain's
neighbour acknowledgement, and any other command is refused (403)."""

from __future__ import annotations

from typing import Any

from services.incidents.domain import lifecycle, pest_loop
from services.incidents.domain.incident import Incident, Status
from services.incidents.store import Incidents
from services.incidents.usecases.changes import ChangeWriter
from services.incidents.usecases.queries import Reach, load_reached
from shared.clock import Clock
from shared.org import OrgDirectory, Person
from shared.policy import Policy

PEST_STEP = "pest_step:"  # a transition `to` naming a pest loop step


class IncidentCommands:
    def __init__(
        self,
        *,
        store: Incidents,
        writer: ChangeWriter,
        org: OrgDirectory,
        policy: Policy,
        clock: Clock,
    ) -> None:
        self.store = store
        self.writer = writer
        self.org = org
        self.policy = policy
        self.clock = clock

    async def _reach(self, person: Person, incident_id: str) -> tuple[lifecycle.Actor, Reach]:
        _, reach = await load_reached(
            store=self.store, org=self.org, person=person, incident_id=incident_id
        )
        return lifecycle.Actor(person.id, person.role.value), reach

    async def _owner(self, person: Person, incident_id: str, action: str) -> lifecycle.Actor:
        """The actor, when the incident is in their own scope; a neighbour may not act."""
        actor, reach = await self._reach(person, incident_id)
        if reach is Reach.NEIGHBOUR:
            raise lifecycle.NeighbourMayNotAct(action)
        return actor

    async def acknowledge(self, *, person: Person, incident_id: str, note: str | None) -> Incident:
        actor, reach = await self._reach(person, incident_id)
        if reach is Reach.NEIGHBOUR:
            outcome = await self.writer.mutate(
                incident_id,
                lambda inc: lifecycle.acknowledge_as_neighbour(
                    inc, actor=actor, unit=person.unit, now=self.clock.now(), note=note
                ),
            )
            return outcome.incident
        outcome = await self.writer.mutate(
            incident_id,
            lambda inc: lifecycle.acknowledge(inc, actor=actor, now=self.clock.now(), note=note),
        )
        return outcome.incident

    async def transition(
        self,
        *,
        person: Person,
        incident_id: str,
        to: str,
        note: str | None,
        evidence: dict[str, Any] | None,
    ) -> Incident:
        if to.startswith(PEST_STEP):
            ev = dict(evidence or {})
            result = ev.pop("result", None)
            return await self.pest_step(
                person=person,
                incident_id=incident_id,
                step=to.removeprefix(PEST_STEP),
                evidence=ev,
                result=result,
                note=note,
            )
        if to == Status.ACKNOWLEDGED:  # the lifecycle's own alias of `ack`
            return await self.acknowledge(person=person, incident_id=incident_id, note=note)
        actor = await self._owner(person, incident_id, f"moving it to {to!r}")
        outcome = await self.writer.mutate(
            incident_id,
            lambda inc: lifecycle.transition(
                inc,
                to=to,
                actor=actor,
                now=self.clock.now(),
                policy=self.policy,
                note=note,
                evidence=evidence,
            ),
        )
        return outcome.incident

    async def pest_step(
        self,
        *,
        person: Person,
        incident_id: str,
        step: str,
        evidence: dict[str, Any],
        result: str | None,
        note: str | None,
    ) -> Incident:
        actor = await self._owner(person, incident_id, f"the pest step {step!r}")
        outcome = await self.writer.mutate(
            incident_id,
            lambda inc: pest_loop.record_step(
                inc,
                step=step,
                evidence=evidence,
                actor=actor,
                now=self.clock.now(),
                policy=self.policy,
                result=result,
                note=note,
            ),
        )
        return outcome.incident
