"""When a patrol is overdue (超时未归): started, not finished, and silent for too long — the ranger
may be hurt or out of coverage — and how the one `patrol.overdue` per patrol is claimed.

Pure: no I/O, no await; `now` is passed in. The repository applies the claim atomically.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

# Event ids of patrol.overdue are derived from the patrol id, so a re-publish after a crash
# between "published" and "marked" carries the same id and consumers drop the copy.
_OVERDUE_NS = uuid.UUID("6f7c2a52-0d5e-4b44-9a1c-5b0f6a1e0a11")


@dataclass(frozen=True)
class OverdueScan:
    """The query a scan runs: active patrols last seen before `silent_since`, not yet announced,
    and not claimed by a live lease."""

    silent_since: datetime
    now: datetime
    lease_until: datetime


def scan_for(now: datetime, overdue_after_s: float, lease_s: float) -> OverdueScan:
    return OverdueScan(
        silent_since=now - timedelta(seconds=overdue_after_s),
        now=now,
        lease_until=now + timedelta(seconds=lease_s),
    )


def last_seen(
    started_at: datetime, last_point_t: datetime | None, last_received_at: datetime | None
) -> datetime:
    """The latest sign of life: the start, the newest fix's time, or the newest upload (an offline
    phone syncing old fixes is itself alive now)."""
    return max(x for x in (started_at, last_point_t, last_received_at) if x is not None)


def overdue_since(
    *,
    finished: bool,
    started_at: datetime,
    last_seen_at: datetime,
    now: datetime,
    overdue_after_s: float,
) -> datetime | None:
    """When the patrol became overdue, or None if it is not (yet)."""
    if finished:
        return None
    due = max(started_at, last_seen_at) + timedelta(seconds=overdue_after_s)
    return due if now >= due else None


def overdue_event_id(patrol_id: str) -> uuid.UUID:
    """The one event id of a patrol's overdue announcement."""
    return uuid.uuid5(_OVERDUE_NS, f"{patrol_id}:overdue")
