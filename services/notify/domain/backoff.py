"""When a failed webhook delivery is tried again: exponential backoff with jitter, for at least the
configured retry period, then dead.

Pure: the clock's `now` and the random draw are passed in, so tests need no sleeping.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class RetrySchedule:
    """base·factor^(n-1) seconds after the n-th failed try, capped at `max_s`, each delay shrunk by
    up to `jitter` (0..1) of itself so receivers coming back are not hit by every sender at once.
    Tries go on until `retry_for_s` after the delivery was created (≥ 1 h in production)."""

    base_s: float
    factor: float
    max_s: float
    retry_for_s: float
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if self.base_s <= 0 or self.factor < 1 or self.max_s < self.base_s:
            raise ValueError("retry schedule needs base_s > 0, factor ≥ 1 and max_s ≥ base_s")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")
        if self.retry_for_s < 0:
            raise ValueError("retry_for_s must be ≥ 0")


def delay_after(failures: int, schedule: RetrySchedule, draw: float) -> float:
    """Seconds to wait after the `failures`-th failed try; `draw` is uniform in [0, 1)."""
    if failures < 1:
        raise ValueError("delay_after counts failed tries from 1")
    exponent = min(failures - 1, 64)  # no overflow for a delivery that failed for days
    raw = min(schedule.max_s, schedule.base_s * schedule.factor**exponent)
    return raw * (1.0 - schedule.jitter * draw)


def next_try_at(
    *,
    created_at: datetime,
    failures: int,
    now: datetime,
    schedule: RetrySchedule,
    draw: float,
) -> datetime | None:
    """When to try again after `failures` failed tries, or None: give up (dead-letter). The last
    try is allowed to fall after the retry period ends, so the period is a lower bound."""
    if now - created_at >= timedelta(seconds=schedule.retry_for_s):
        return None
    return now + timedelta(seconds=delay_after(failures, schedule, draw))
