"""The patrol lifecycle (巡护): who may start one, when a batch of fixes is acceptable, finishing.

Pure: no I/O, no await; `now` is passed in. Raises shared.errors types naming the field.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.errors import Conflict, InvalidInput

ACTIVE = "active"
FINISHED = "finished"


@dataclass(frozen=True)
class IngestRules:
    future_tolerance_s: float  # a fix may be this far ahead of the server clock (5 min)
    late_points_accept_s: float  # fixes still accepted this long after finishing (24 h)
    max_points_per_batch: int  # 1000


def check_start(started_at: datetime, now: datetime, future_tolerance_s: float) -> None:
    if started_at > now + timedelta(seconds=future_tolerance_s):
        raise InvalidInput(
            f"started_at is more than {future_tolerance_s:.0f} s in the future", field="started_at"
        )


def same_start(
    stored_ranger: str, stored_started_at: datetime, ranger_id: str, started_at: datetime
) -> None:
    """A resend must repeat the first body; anything else is a conflict on the id."""
    if stored_ranger != ranger_id:
        raise Conflict("a patrol with this id already exists", field="id")
    if abs((stored_started_at - started_at).total_seconds()) >= 0.001:  # BSON keeps ms
        raise Conflict(
            f"patrol already started at {stored_started_at.isoformat()}", field="started_at"
        )


def check_batch_open(
    *, ended_at: datetime | None, finished_at: datetime | None, now: datetime, rules: IngestRules
) -> None:
    """Fixes are accepted while active and for late_points_accept_s after the finish."""
    if ended_at is None:
        return
    closed_from = max(x for x in (ended_at, finished_at) if x is not None)
    if now > closed_from + timedelta(seconds=rules.late_points_accept_s):
        raise Conflict(
            f"patrol finished more than {rules.late_points_accept_s:.0f} s ago; "
            "no more points are accepted",
            field="id",
        )


def check_times(
    times: Sequence[datetime], *, started_at: datetime, now: datetime, rules: IngestRules
) -> None:
    """Every fix time between the start and now + tolerance; names the first bad index.
    (min/max first: a good batch of 1000 costs two passes in C, not a Python loop.)"""
    if not times:
        return
    limit = now + timedelta(seconds=rules.future_tolerance_s)
    if max(times) <= limit and min(times) >= started_at:
        return
    for i, t in enumerate(times):
        if t > limit:
            raise InvalidInput(
                f"more than {rules.future_tolerance_s:.0f} s in the future",
                field=f"points[{i}].t",
            )
        if t < started_at:
            raise InvalidInput("before the patrol started", field=f"points[{i}].t")


def check_finish(started_at: datetime, ended_at: datetime, now: datetime, tol_s: float) -> None:
    if ended_at < started_at:
        raise InvalidInput("ended_at is before started_at", field="ended_at")
    if ended_at > now + timedelta(seconds=tol_s):
        raise InvalidInput(f"ended_at is more than {tol_s:.0f} s in the future", field="ended_at")


def same_finish(stored_ended_at: datetime, ended_at: datetime) -> None:
    if abs((stored_ended_at - ended_at).total_seconds()) >= 0.001:  # BSON keeps ms
        raise Conflict(
            f"patrol already finished at {stored_ended_at.isoformat()}", field="ended_at"
        )
