"""Merging: a report joins an open incident of the same family within the policy's distance and
time window instead of opening a new one — the chain hears about it once, not as a new alarm.
Pure: candidates are given, nothing is looked up here."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from services.incidents.domain.escalation import reassess
from services.incidents.domain.grading import merge_details, severity_of
from services.incidents.domain.incident import (
    Incident,
    Notice,
    Outcome,
    ReportFacts,
    TimelineEntry,
    add_timeline,
)
from shared.geo import haversine_m
from shared.policy import Policy

CELL_DEG = 0.02  # merge-cell size (about 2 km): open incidents are filed by the cell they are in


def within_window(
    incident: Incident, report: ReportFacts, *, distance_m: float, window_s: float
) -> bool:
    """Same place and time: within `distance_m` of the incident's point and within `window_s` of
    its observations (before its first or after its latest)."""
    if haversine_m(incident.lat, incident.lon, report.lat, report.lon) > distance_m:
        return False
    window = timedelta(seconds=window_s)
    return incident.observed_at - window <= report.observed_at <= incident.last_observed_at + window


def find_merge_target(
    candidates: Iterable[Incident], report: ReportFacts, policy: Policy
) -> Incident | None:
    """The nearest open incident of the report's family within its window, if any."""
    family = policy.family_of(report.type)
    distance_m, window_s = policy.window_for(report.type)
    best: tuple[float, Incident] | None = None
    for incident in candidates:
        if not incident.is_open or incident.family != family:
            continue
        if not within_window(incident, report, distance_m=distance_m, window_s=window_s):
            continue
        d = haversine_m(incident.lat, incident.lon, report.lat, report.lon)
        if best is None or d < best[0]:
            best = (d, incident)
    return None if best is None else best[1]


def merge_into(
    incident: Incident, report: ReportFacts, *, policy: Policy, now: datetime
) -> Outcome:
    """Add the report to the incident: its id, its facts, verification by field staff; regrade and
    re-escalate if the facts now demand it. A report already merged changes nothing."""
    if report.id in incident.report_ids:
        return Outcome(incident)
    details = merge_details(incident.details, report.details)
    verify = not incident.verified and report.verifies
    merged = incident.model_copy(
        update={
            "report_ids": (*incident.report_ids, report.id),
            "last_observed_at": max(incident.last_observed_at, report.observed_at),
            "observed_at": min(incident.observed_at, report.observed_at),
            "details": details,
            "severity": severity_of(incident.family, details),
            "verified": incident.verified or report.verifies,
            "pixels": max(incident.pixels or 0, report.pixels or 0) or None,
            "updated_at": now,
        }
    )
    who = report.reporter_id or report.source
    entries = [
        TimelineEntry(
            at=now,
            event="report_merged",
            actor=report.reporter_id,
            note=f"{report.type} report {report.id} from {who} joined",
        )
    ]
    if verify:
        entries.append(
            TimelineEntry(
                at=now, event="verified", actor=report.reporter_id, note="seen on the ground"
            )
        )
    merged = merged.model_copy(update={"timeline": add_timeline(merged, *entries)})
    notice = Notice(
        kind="updated",
        at=now,
        reason="verified" if verify else "report_merged",
        actor=report.reporter_id,
        report_id=report.id,
    )
    after = reassess(
        policy, incident, merged, now=now, actor=report.reporter_id, report_id=report.id
    )
    return Outcome(after.incident, (notice, *after.notices))


def cell_of(family: str, lat: float, lon: float) -> str:
    """The merge cell an incident of this family at this point is filed under."""
    return f"{family}:{math.floor(lon / CELL_DEG)}:{math.floor(lat / CELL_DEG)}"


def cells_within(family: str, lat: float, lon: float, metres: float) -> list[str]:
    """Keys of the cells that hold any point within `metres` of (lat, lon), its own cell first:
    only cells whose rectangle comes that close, so a report near a cell's middle reads one or
    two cells, not the whole 3×3 block around it."""
    cx, cy = math.floor(lon / CELL_DEG), math.floor(lat / CELL_DEG)
    keys = [f"{family}:{cx}:{cy}"]
    if metres <= 0:
        return keys
    # Reach in cells, generous towards the poles (a degree of longitude shrinks with latitude).
    lon_m = 111_320.0 * CELL_DEG * max(0.05, math.cos(math.radians(min(abs(lat) + 1, 89))))
    reach_x = math.ceil(metres / lon_m)
    reach_y = math.ceil(metres / (110_574.0 * CELL_DEG))
    for dx in range(-reach_x, reach_x + 1):
        for dy in range(-reach_y, reach_y + 1):
            if not (dx or dy):
                continue
            west, south = (cx + dx) * CELL_DEG, (cy + dy) * CELL_DEG
            nearest_lon = min(max(lon, west), west + CELL_DEG)
            nearest_lat = min(max(lat, south), south + CELL_DEG)
            # 1 % slack: the nearest corner of a lat/lon rectangle on a sphere is not exactly
            # the clamped point; a cell read for nothing costs little, a missed one a duplicate.
            if haversine_m(lat, lon, nearest_lat, nearest_lon) <= metres * 1.01:
                keys.append(f"{family}:{cx + dx}:{cy + dy}")
    return keys


def independent_groups(cell_sets: Sequence[Iterable[str]]) -> list[list[int]]:
    """Split a batch of reports, given the merge cells each one reads, into groups that cannot
    affect each other: two reports whose cells overlap (directly or through a chain of others)
    share a group and keep their order in it; different groups may be handled at once.
    Returns the reports' indices, each group in order, groups by their first report."""
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    firsts: list[str] = []
    for cells in cell_sets:
        keys = list(cells)
        first = root(keys[0])
        for key in keys[1:]:
            other = root(key)
            if other != first:
                parent[other] = first
        firsts.append(keys[0])
    groups: dict[str, list[int]] = {}
    for i, key in enumerate(firsts):
        groups.setdefault(root(key), []).append(i)
    return sorted(groups.values(), key=lambda g: g[0])
