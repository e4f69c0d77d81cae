"""Lifecycle: an incident is born from a report, then reported → acknowledged → responding →
resolved → closed, or false_alarm; who may do what. Pure: the caller checked scope (404 outside
it); this module checks roles (403) and legal moves (409).

Role rules (each also needs the incident inside the person's unit subtree):
- ack: the chain at or above the level the incident has reached — village chain (村级林长,
  监管员, 指导员) = 0, township chief = 1 (township police = 1 on 四乱 incidents),
  district chief = 2, command center and HQ = 3. Rangers and the public never acknowledge.
- responding, resolved, reopen (resolved → responding): any chain member (rank ≥ 0).
- false_alarm (final): the chain at or above the level reached, as for ack, with a note saying
  what was found.
- closed: township chief or above (township_chief, district_chief, command_center, hq); a pest
  incident closes only once its closed loop is finished (negative test or last step).
- A neighbour unit's chain (the incident lies within the boundary distance of its unit; the
  caller decides who that is) may acknowledge that it knows — the same chain roles, at any
  level — once per person; this is not the owner's ack: status and deadlines stay. It may not
  act: transitions and pest steps are the owning chain's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.incidents.domain.escalation import deadline_after, level_name
from services.incidents.domain.grading import area_band, fire_facts, required_level, severity_of
from services.incidents.domain.incident import (
    STATUSES,
    Incident,
    NeighbourAck,
    Notice,
    Outcome,
    ReportFacts,
    Status,
    TimelineEntry,
    add_timeline,
)
from services.incidents.domain.placement import Placement
from shared.errors import Forbidden, IllegalTransition, InvalidInput
from shared.policy import Policy

# The rank of each role in the chain (see the module docstring); absent roles are not in it.
CHAIN_RANK: dict[str, int] = {
    "village_chief": 0,  # 村级林长
    "supervisor": 0,  # 监管员
    "instructor": 0,  # 指导员
    "township_chief": 1,  # 乡镇林长
    "police": 1,  # 警长 (林长+警长), 四乱 only
    "district_chief": 2,  # 区级林长
    "command_center": 3,  # 指挥中心
    "hq": 3,  # 森防指
}
CLOSERS: frozenset[str] = frozenset({"township_chief", "district_chief", "command_center", "hq"})

# Legal moves of `transition` (ack is its own command: reported → acknowledged).
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.REPORTED: frozenset({Status.ACKNOWLEDGED, Status.FALSE_ALARM}),
    Status.ACKNOWLEDGED: frozenset(
        {Status.RESPONDING, Status.RESOLVED, Status.FALSE_ALARM, Status.CLOSED}
    ),
    Status.RESPONDING: frozenset({Status.RESOLVED, Status.FALSE_ALARM, Status.CLOSED}),
    Status.RESOLVED: frozenset({Status.CLOSED, Status.RESPONDING}),
    Status.CLOSED: frozenset(),
    Status.FALSE_ALARM: frozenset(),
}


@dataclass(frozen=True)
class Actor:
    id: str
    role: str


class NotAllowed(Forbidden):
    """The person's role may not do this to this incident."""


class NeighbourMayNotAct(NotAllowed):
    """A neighbour chain reads and acknowledges a shared boundary incident; it does not act on
    it (the owning chain does)."""

    def __init__(self, action: str) -> None:
        super().__init__(
            f"this incident is shared with your unit as a neighbour's: a neighbour's chain may "
            f"read and acknowledge it, not act on it ({action} is for the owning chain)",
            field="role",
        )


def rank_of(actor: Actor, incident: Incident) -> int | None:
    rank = CHAIN_RANK.get(actor.role)
    if actor.role == "police" and not incident.police:
        return None
    return rank


def open_incident(
    report: ReportFacts,
    *,
    incident_id: str,
    placement: Placement,
    policy: Policy,
    now: datetime,
    nearest_ranger_id: str | None = None,
) -> Outcome:
    """A new incident from its first report: graded, at its start level, timers set."""
    family = policy.family_of(report.type)
    demand = required_level(
        type_=report.type,
        family=family,
        details=report.details,
        near_district_boundary=placement.near_district_boundary,
        pixels=report.pixels,
        policy=policy,
    )
    verified = report.verifies
    bands = policy.escalation.reescalation.area_bands_ha
    incident = Incident(
        id=incident_id,
        type=report.type,
        family=family,
        severity=severity_of(family, report.details),
        verified=verified,
        village=placement.village,
        township=placement.township,
        district=placement.district,
        lat=report.lat,
        lon=report.lon,
        report_ids=(report.id,),
        escalation_level=demand.level,
        level_reached_at=now,
        opened_at=now,
        observed_at=report.observed_at,
        last_observed_at=report.observed_at,
        updated_at=now,
        neighbour_units=placement.neighbour_units,
        near_district_boundary=placement.near_district_boundary,
        police=demand.police,
        nearest_ranger_id=None if verified else nearest_ranger_id,
        reporter_id=report.reporter_id,
        reporter_role=report.reporter_role,
        source=report.source,
        pixels=report.pixels,
        details=dict(report.details),
        area_band_ha=(
            area_band(fire_facts(report.details).area_ha, bands) if family == "fire" else 0.0
        ),
    )
    incident = incident.model_copy(
        update={"next_escalation_at": deadline_after(policy, incident, demand.level, now)}
    )
    who = report.reporter_id or report.source
    note = f"{report.type} reported by {who} ({report.reporter_role}); level {demand.level}"
    note += f" ({level_name(demand.level)})"
    if demand.reasons:
        note += ": " + "; ".join(demand.reasons)
    entries = [TimelineEntry(at=now, event="reported", actor=report.reporter_id, note=note)]
    if not verified:
        ask = "unverified: village chain asked to verify"
        if incident.nearest_ranger_id:
            ask += f"; nearest ranger on patrol {incident.nearest_ranger_id}"
        entries.append(TimelineEntry(at=now, event="verification_requested", note=ask))
    incident = incident.model_copy(update={"timeline": tuple(entries)})
    if family == "pest":
        from services.incidents.domain.pest_loop import record_from_report

        incident = record_from_report(incident, report, policy=policy, now=now)
    reason = "; ".join(demand.reasons) or "new report"
    opened = Notice(
        kind="opened", at=now, reason=reason, actor=report.reporter_id, report_id=report.id
    )
    return Outcome(incident, (opened,))


def acknowledge(
    incident: Incident, *, actor: Actor, now: datetime, note: str | None = None
) -> Outcome:
    """确认收到: stops the climb. Allowed to the chain at or above the level reached."""
    rank = rank_of(actor, incident)
    if rank is None:
        raise NotAllowed(
            f"{actor.role} is not in the chain that acknowledges incidents", field="role"
        )
    if rank < incident.escalation_level:
        raise NotAllowed(
            f"the incident has reached level {incident.escalation_level} "
            f"({level_name(incident.escalation_level)}); "
            f"{actor.role} acknowledges up to level {rank}",
            field="role",
        )
    if incident.status != Status.REPORTED:
        raise IllegalTransition(
            f"incident is {incident.status}; only a reported incident can be acknowledged",
            field="status",
        )
    entry = TimelineEntry(at=now, event="acknowledged", actor=actor.id, note=note or "")
    acked = incident.model_copy(
        update={
            "status": Status.ACKNOWLEDGED,
            "acknowledged_at": now,
            "acknowledged_by": actor.id,
            "next_escalation_at": None,
            "updated_at": now,
            "timeline": add_timeline(incident, entry),
        }
    )
    return Outcome(acked, (Notice(kind="acknowledged", at=now, actor=actor.id, note=note),))


def acknowledge_as_neighbour(
    incident: Incident, *, actor: Actor, unit: str, now: datetime, note: str | None = None
) -> Outcome:
    """A neighbour chain acknowledges that it knows of the shared incident: recorded once per
    person (a retry changes nothing), on the timeline and in `neighbour_acks`, announced as an
    update. Status, acknowledgement and escalation deadline stay the owner's."""
    if rank_of(actor, incident) is None:
        raise NotAllowed(
            f"{actor.role} is not in the chain that acknowledges incidents", field="role"
        )
    if any(ack.person == actor.id for ack in incident.neighbour_acks):
        return Outcome(incident)
    ack = NeighbourAck(unit=unit, person=actor.id, at=now, note=note or "")
    text = f"{unit}: {note}" if note else unit
    entry = TimelineEntry(at=now, event="neighbour_acknowledged", actor=actor.id, note=text)
    shared = incident.model_copy(
        update={
            "neighbour_acks": (*incident.neighbour_acks, ack),
            "updated_at": now,
            "timeline": add_timeline(incident, entry),
        }
    )
    notice = Notice(
        kind="updated", at=now, reason=f"neighbour_acknowledged:{unit}", actor=actor.id, note=note
    )
    return Outcome(shared, (notice,))


def transition(
    incident: Incident,
    *,
    to: str,
    actor: Actor,
    now: datetime,
    policy: Policy,
    note: str | None = None,
    evidence: dict[str, Any] | None = None,
) -> Outcome:
    """Move the incident to `to` if the lifecycle and the actor's role allow it."""
    if to == Status.ACKNOWLEDGED:
        return acknowledge(incident, actor=actor, now=now, note=note)
    if to not in STATUSES:
        raise InvalidInput(f"unknown status {to!r}", field="to")
    target = Status(to)
    if target not in TRANSITIONS[incident.status]:
        allowed = ", ".join(sorted(TRANSITIONS[incident.status])) or "nothing (final)"
        raise IllegalTransition(
            f"cannot go from {incident.status} to {to}; allowed: {allowed}", field="to"
        )
    if to == Status.CLOSED and incident.family != "pest" and incident.status != Status.RESOLVED:
        raise IllegalTransition("only a resolved incident can be closed", field="to")
    rank = rank_of(actor, incident)
    if rank is None:
        raise NotAllowed(f"{actor.role} may not change an incident's status", field="role")
    if to == Status.CLOSED:
        if actor.role not in CLOSERS:
            raise NotAllowed("closing is for the township chief or above", field="role")
        if incident.family == "pest":
            if incident.pest_outcome is None:
                from services.incidents.domain.pest_loop import expected_step

                raise IllegalTransition(
                    "a pest incident closes only through its closed loop; next step: "
                    f"{expected_step(incident, policy)}",
                    field="to",
                )
    if to == Status.FALSE_ALARM and rank < incident.escalation_level:
        # final, and it silences every level above: only who may acknowledge at the level the
        # incident has reached may end it so (a village chief cannot silence an HQ-level fire)
        raise NotAllowed(
            f"marking a level-{incident.escalation_level} incident a false alarm is for rank "
            f"{incident.escalation_level} or above; {actor.role} is {rank}",
            field="role",
        )
    if to == Status.FALSE_ALARM and not (note and note.strip()):
        raise InvalidInput("a false alarm needs a note saying what was found", field="note")
    text = note or ""
    if evidence:
        text += (" " if text else "") + "evidence: " + ", ".join(sorted(evidence))
    entry = TimelineEntry(at=now, event=f"status:{to}", actor=actor.id, note=text)
    update: dict[str, Any] = {
        "status": target,
        "updated_at": now,
        "timeline": add_timeline(incident, entry),
        "next_escalation_at": None,  # only a reported incident climbs
    }
    if evidence:
        kept = dict(incident.details.get("evidence", {}))
        kept[to] = evidence
        update["details"] = {**incident.details, "evidence": kept}
    moved = incident.model_copy(update=update)
    return Outcome(
        moved,
        (
            Notice(
                kind="status_changed",
                at=now,
                actor=actor.id,
                from_status=incident.status,
                to_status=target,
                note=note,
                reason=f"{incident.status} → {to}",
            ),
        ),
    )
