"""The pine-wilt (松材线虫病) closed loop of a pest incident: steps in the policy's order, each
needing its evidence before the next; a negative test at a step the policy names closes the
loop early; the last step completes it. Pure: each step is appended to the timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.incidents.domain.incident import (
    TERMINAL_STATUSES,
    Incident,
    Notice,
    Outcome,
    PestStepRecord,
    ReportFacts,
    TimelineEntry,
    add_timeline,
)
from services.incidents.domain.lifecycle import Actor, NotAllowed
from shared.errors import IllegalTransition, InvalidInput
from shared.policy import Policy

# Who does field and lab steps: rangers and every chain member in scope (not public, not police).
PEST_ROLES: frozenset[str] = frozenset(
    {
        "ranger",
        "village_chief",
        "supervisor",
        "instructor",
        "township_chief",
        "district_chief",
        "command_center",
        "hq",
    }
)
RESULTS = ("positive", "negative")


def expected_step(incident: Incident, policy: Policy) -> str | None:
    """The next step of the loop, or None when the loop is finished."""
    if incident.pest_outcome is not None:
        return None
    names = policy.pest_loop.step_names()
    done = len(incident.pest_steps)
    return names[done] if done < len(names) else None


def _missing(evidence: dict[str, Any], required: tuple[str, ...]) -> list[str]:
    return [key for key in required if evidence.get(key) in (None, "", [], {})]


def record_step(
    incident: Incident,
    *,
    step: str,
    evidence: dict[str, Any],
    actor: Actor,
    now: datetime,
    policy: Policy,
    result: str | None = None,
    note: str | None = None,
) -> Outcome:
    """Record `step` if it is the next one and its evidence is complete."""
    if incident.family != "pest":
        raise IllegalTransition("only pest incidents have a closed loop", field="step")
    if incident.status in TERMINAL_STATUSES:
        raise IllegalTransition(f"incident is {incident.status}", field="step")
    if actor.role not in PEST_ROLES:
        raise NotAllowed(f"{actor.role} does not record pest-loop steps", field="role")
    names = policy.pest_loop.step_names()
    if step not in names:
        raise InvalidInput(f"unknown step {step!r}; steps: {', '.join(names)}", field="step")
    expected = expected_step(incident, policy)
    if expected is None:
        raise IllegalTransition(
            f"the closed loop is already finished ({incident.pest_outcome})", field="step"
        )
    if step != expected:
        raise IllegalTransition(f"next step is {expected}, not {step}", field="step")
    missing = _missing(evidence, policy.pest_loop.evidence_for(step))
    if missing:
        raise InvalidInput(
            f"step {step} needs evidence: {', '.join(missing)}",
            field=f"evidence.{missing[0]}",
            errors=[{"field": f"evidence.{m}", "reason": "required for " + step} for m in missing],
        )
    can_close = step in policy.pest_loop.negative_closes_at
    if result is not None and result not in RESULTS:
        raise InvalidInput("result is positive or negative", field="result")
    if can_close and step != "checked" and result is None:
        raise InvalidInput(f"step {step} needs a result: positive or negative", field="result")
    outcome: str | None = None
    if can_close and result == "negative":
        outcome = "negative"
    elif policy.pest_loop.next_step(step) is None:
        outcome = "complete"
    return _append(incident, step, evidence, actor.id, now, result, note, outcome)


def _append(
    incident: Incident,
    step: str,
    evidence: dict[str, Any],
    actor_id: str | None,
    now: datetime,
    result: str | None,
    note: str | None,
    outcome: str | None,
) -> Outcome:
    record = PestStepRecord(
        name=step, at=now, actor=actor_id, evidence=evidence, result=result, note=note or ""
    )
    text = ", ".join(sorted(evidence)) or "no evidence required"
    if result:
        text = f"result {result}; {text}"
    if outcome:
        text += f"; closed loop finished ({outcome})"
    entry = TimelineEntry(at=now, event=f"pest_step:{step}", actor=actor_id, note=text)
    updated = incident.model_copy(
        update={
            "pest_steps": (*incident.pest_steps, record),
            "pest_outcome": outcome,
            "updated_at": now,
            "timeline": add_timeline(incident, entry),
        }
    )
    reason = f"pest_step:{step}" + (f":{outcome}" if outcome else "")
    return Outcome(updated, (Notice(kind="updated", at=now, reason=reason, actor=actor_id),))


def record_from_report(
    incident: Incident, report: ReportFacts, *, policy: Policy, now: datetime
) -> Incident:
    """The first step ("suspect reported") is done by the report itself when it carries the
    evidence (photo, GPS, 小班); otherwise it waits to be recorded like any other step."""
    names = policy.pest_loop.step_names()
    if not names:
        return incident
    first = names[0]
    evidence: dict[str, Any] = {"gps": f"{report.lat:.6f},{report.lon:.6f}"}
    if report.photos:
        evidence["photo"] = report.photos[0]
    for key, value in report.details.items():
        evidence.setdefault(key, value)
    if _missing(evidence, policy.pest_loop.evidence_for(first)):
        return incident
    wanted = {k: evidence[k] for k in policy.pest_loop.evidence_for(first)}
    outcome = "complete" if len(names) == 1 else None
    return _append(incident, first, wanted, report.reporter_id, now, None, None, outcome).incident
