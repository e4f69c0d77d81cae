"""The patrol lifecycle (巡护): who may start one, when a batch of fixes is acceptable, finishing.

Pure: no I/O, no await; `now` is passed in. Raises shared.errors types naming the field.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from shared.errors import Conflict, InvalidInput

ACTIVE = "active"
FINISHED = "finished"


@dataclass(frozen=True)
class Patrol:
    """A patrol as the ranger's app declared it (start, finish), and which of its lifecycle
    events were published already (so a retried request publishes what is still missing)."""

    id: str
    ranger_id: str
    village: str
    scope_units: tuple[str, ...]  # the village and every unit above it
    started_at: datetime
    created_at: datetime
    ended_at: datetime | None = None
    finished_at: datetime | None = None  # when the server heard of the finish
    status: str = ACTIVE
    started_published: bool = False
    finished_published: bool = False

    @property
    def finished(self) -> bool:
        return self.ended_at is not None

    def finish(self, ended_at: datetime, now: datetime) -> Patrol:
        return replace(self, ended_at=ended_at, finished_at=now, status=FINISHED)

    def in_unit(self, unit: str) -> bool:
        return unit in self.scope_units


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


# RFC 3339 date-time with a zone (the route checks the shape; `fix_times` the calendar).
RFC3339 = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"


def epoch_of(text: str) -> float:
    """An RFC 3339 time with a zone as UTC epoch seconds (ValueError if it is no real instant
    or has no zone). fromisoformat is C; it only lacks RFC 3339's lowercase `t` and `z`."""
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        t = datetime.fromisoformat(text.upper())
    if t.tzinfo is None:
        raise ValueError("Input should have timezone info")
    return t.timestamp()


def fix_times(texts: Sequence[str]) -> list[float]:
    """The fixes' times (RFC3339-shaped texts) as UTC epoch seconds; InvalidInput names the first
    that is no real instant (e.g. 2026-02-30). A batch of 1000 is two passes in C."""
    try:
        stamps = list(map(datetime.timestamp, map(datetime.fromisoformat, texts)))
    except ValueError:
        stamps = []
        for i, text in enumerate(texts):
            try:
                stamps.append(epoch_of(text))
            except ValueError as exc:
                raise InvalidInput(f"not a valid time: {exc}", field=f"points[{i}].t") from None
    return stamps


def check_times(
    times: Sequence[float], *, started_at: datetime, now: datetime, rules: IngestRules
) -> None:
    """Every fix time (epoch seconds) between the start and now + tolerance; names the first bad
    index. (min/max first: a good batch of 1000 costs two passes in C, not a Python loop.)"""
    if not times:
        return
    limit = (now + timedelta(seconds=rules.future_tolerance_s)).timestamp()
    start = started_at.timestamp()
    if max(times) <= limit and min(times) >= start:
        return
    for i, t in enumerate(times):
        if t > limit:
            raise InvalidInput(
                f"more than {rules.future_tolerance_s:.0f} s in the future",
                field=f"points[{i}].t",
            )
        if t < start:
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
