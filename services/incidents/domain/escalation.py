"""Escalation: acknowledgement deadlines per level and type (policy), fire bans halving them,
climbing one level when a deadline passes unacknowledged, re-escalation on facts (area bands,
casualties) and on flame not out after N hours. Pure: `now` is passed in, nothing is stored here.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from services.incidents.domain.grading import area_band, fire_facts, required_level
from services.incidents.domain.incident import (
    Incident,
    Notice,
    Outcome,
    Status,
    TimelineEntry,
    add_timeline,
)
from shared.policy import Policy

LEVEL_NAMES: tuple[str, ...] = ("village chain", "township", "district", "HQ")


def level_name(level: int) -> str:
    return LEVEL_NAMES[level] if 0 <= level < len(LEVEL_NAMES) else f"level {level}"


def fire_ban_active(policy: Policy, incident: Incident, at: datetime) -> bool:
    """True when an active 禁火令/封山令 covers the incident's point or one of its units."""
    codes = (incident.village, incident.township, incident.district)
    return any(
        ban.covers(lat=incident.lat, lon=incident.lon, unit_codes=codes)
        for ban in policy.active_fire_bans(at)
    )


def deadline_after(
    policy: Policy, incident: Incident, level: int, start: datetime
) -> datetime | None:
    """When an incident that reached `level` at `start` climbs if nobody acknowledges it."""
    seconds = policy.deadline_s(
        incident.type, level, fire_ban_active=fire_ban_active(policy, incident, start)
    )
    return None if seconds is None else start + timedelta(seconds=seconds)


def flame_checks_pending(policy: Policy, incident: Incident) -> list[float]:
    """Hours of the "flame not out after h" checks still to fire for this incident."""
    if incident.family != "fire" or not incident.is_open:
        return []
    if incident.details.get("flame_out") is True:
        return []
    return [
        h
        for h in policy.escalation.reescalation.flame_not_out_h
        if h not in incident.flame_checks_done
    ]


def pest_deadlines_pending(policy: Policy, incident: Incident) -> list[tuple[datetime, str, str]]:
    """(due, step, reason) of the pine-wilt loop's step deadlines still running: the check within
    24 h of the report, disposal within 48 h of confirmation (policy). Acknowledging the incident
    does not stop them; doing the step does, and each fires once."""
    loop = policy.pest_loop
    if incident.family != "pest" or not incident.is_open or incident.pest_outcome is not None:
        return []
    done = {record.name: record.at for record in incident.pest_steps}
    missed = incident.pest_deadlines_missed
    out: list[tuple[datetime, str, str]] = []
    if loop.check_step not in done and loop.check_step not in missed:
        out.append(
            (
                incident.opened_at + timedelta(seconds=loop.check_within_s),
                loop.check_step,
                f"pest step {loop.check_step} not done within "
                f"{loop.check_within_s / 3600:g} h of the report",
            )
        )
    confirmed = done.get(loop.confirm_step)
    if confirmed is not None and loop.dispose_step not in done and loop.dispose_step not in missed:
        out.append(
            (
                confirmed + timedelta(seconds=loop.dispose_within_s),
                loop.dispose_step,
                f"pest step {loop.dispose_step} not done within "
                f"{loop.dispose_within_s / 3600:g} h of {loop.confirm_step}",
            )
        )
    return sorted(out)


def next_timer_at(policy: Policy, incident: Incident) -> datetime | None:
    """The earliest moment the escalation engine must look at this incident again."""
    times: list[datetime] = []
    if incident.status == Status.REPORTED and incident.next_escalation_at is not None:
        times.append(incident.next_escalation_at)
    pending = flame_checks_pending(policy, incident)
    if pending:
        times.append(incident.opened_at + timedelta(hours=min(pending)))
    times += [due for due, _, _ in pest_deadlines_pending(policy, incident)]
    return min(times) if times else None


def raise_to(
    policy: Policy,
    incident: Incident,
    level: int,
    *,
    now: datetime,
    reason: str,
    actor: str | None = None,
    report_id: str | None = None,
) -> Outcome:
    """Climb straight to `level` (a severity rule): one hop event from the current level."""
    level = min(level, policy.escalation.max_level)
    if level <= incident.escalation_level:
        return Outcome(incident)
    from_level = incident.escalation_level
    police = incident.police or (
        incident.family == "sisluan" and level >= policy.escalation.start.sisluan.police_at_level
    )
    raised = incident.model_copy(
        update={
            "escalation_level": level,
            "level_reached_at": now,
            "police": police,
            "updated_at": now,
        }
    )
    reported = raised.status == Status.REPORTED
    next_at = deadline_after(policy, raised, level, now) if reported else None
    note = f"level {from_level} → {level} ({level_name(level)}): {reason}"
    raised = raised.model_copy(
        update={
            "next_escalation_at": next_at,
            "timeline": add_timeline(
                raised, TimelineEntry(at=now, event="escalated", actor=actor, note=note)
            ),
        }
    )
    notice = Notice(
        kind="escalated",
        at=now,
        reason=reason,
        actor=actor,
        report_id=report_id,
        from_level=from_level,
        to_level=level,
    )
    return Outcome(raised, (notice,))


def on_timer(policy: Policy, incident: Incident, *, now: datetime) -> Outcome:
    """What the escalation engine does when it looks at an incident at `now` (one hop at most;
    it is called again right away while more is due, so a long outage climbs hop by hop)."""
    # 1. An acknowledgement deadline passed: climb one level, timestamped at the deadline.
    due = incident.next_escalation_at
    if incident.status == Status.REPORTED and due is not None and due <= now:
        top = policy.escalation.max_level
        if incident.escalation_level >= top:
            return Outcome(incident.model_copy(update={"next_escalation_at": None}))
        from_level = incident.escalation_level
        to_level = from_level + 1
        waited = (due - incident.level_reached_at).total_seconds()
        reason = (
            f"not acknowledged within {waited:g} s at level {from_level} ({level_name(from_level)})"
        )
        police = incident.police or (
            incident.family == "sisluan"
            and to_level >= policy.escalation.start.sisluan.police_at_level
        )
        climbed = incident.model_copy(
            update={
                "escalation_level": to_level,
                "level_reached_at": due,
                "police": police,
                "updated_at": now,
            }
        )
        next_at = deadline_after(policy, climbed, to_level, due)
        note = f"level {from_level} → {to_level} ({level_name(to_level)}): {reason}"
        note += f"; due {due.isoformat()}"
        climbed = climbed.model_copy(
            update={
                "next_escalation_at": next_at,
                "timeline": add_timeline(
                    climbed, TimelineEntry(at=now, event="escalated", actor=None, note=note)
                ),
            }
        )
        notice = Notice(
            kind="escalated", at=now, reason=reason, from_level=from_level, to_level=to_level
        )
        return Outcome(climbed, (notice,))
    # 2. Open flame not out after h hours (森林防火条例 art. 32; Jiangxi 12 h): to the top.
    for hours in sorted(flame_checks_pending(policy, incident)):
        if incident.opened_at + timedelta(hours=hours) > now:
            break
        done = incident.model_copy(
            update={"flame_checks_done": (*incident.flame_checks_done, hours), "updated_at": now}
        )
        reason = f"flame not out after {hours:g} h"
        target = policy.escalation.start.fire.serious_level
        outcome = raise_to(policy, done, target, now=now, reason=reason)
        if outcome.changed:
            return outcome
        entry = TimelineEntry(at=now, event="reescalated", note=reason)
        done = done.model_copy(update={"timeline": add_timeline(done, entry)})
        return Outcome(done, (Notice(kind="updated", at=now, reason=f"flame_not_out:{hours:g}h"),))
    # 3. A pest step deadline passed (the check, the disposal): one level up, once per deadline.
    for due, step, reason in pest_deadlines_pending(policy, incident):
        if due > now:
            break
        missed = incident.model_copy(
            update={
                "pest_deadlines_missed": (*incident.pest_deadlines_missed, step),
                "updated_at": now,
            }
        )
        outcome = raise_to(policy, missed, missed.escalation_level + 1, now=now, reason=reason)
        if outcome.changed:
            return outcome
        entry = TimelineEntry(at=now, event="deadline_missed", note=reason)  # already at the top
        missed = missed.model_copy(update={"timeline": add_timeline(missed, entry)})
        return Outcome(missed, (Notice(kind="updated", at=now, reason=f"pest_deadline:{step}"),))
    return Outcome(incident)


def reassess(
    policy: Policy,
    before: Incident,
    after: Incident,
    *,
    now: datetime,
    actor: str | None,
    report_id: str | None,
) -> Outcome:
    """After new facts (a merged report): climb if the start rules now demand a higher level, and
    re-alert when the burned area crosses a band (policy: 1/20/100/1000 ha)."""
    demand = required_level(
        type_=after.type,
        family=after.family,
        details=after.details,
        near_district_boundary=after.near_district_boundary,
        pixels=after.pixels,
        policy=policy,
    )
    notices: list[Notice] = []
    incident = after
    bands = policy.escalation.reescalation.area_bands_ha
    band = area_band(fire_facts(after.details).area_ha, bands) if after.family == "fire" else 0.0
    crossed = band > before.area_band_ha
    if crossed:
        incident = incident.model_copy(update={"area_band_ha": band})
    if demand.level > incident.escalation_level:
        reason = "; ".join(demand.reasons) or "severity rules"
        outcome = raise_to(
            policy, incident, demand.level, now=now, reason=reason, actor=actor, report_id=report_id
        )
        return outcome
    if crossed:
        note = f"burned area crossed {band:g} ha"
        incident = incident.model_copy(
            update={
                "timeline": add_timeline(
                    incident, TimelineEntry(at=now, event="reescalated", actor=actor, note=note)
                )
            }
        )
        notices.append(
            Notice(
                kind="updated",
                at=now,
                reason=f"area_band_crossed:{band:g}ha",
                actor=actor,
                report_id=report_id,
            )
        )
    return Outcome(incident, tuple(notices))
