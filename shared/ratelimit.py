"""Per-person request budgets: a token bucket per (action, person), refilled by the clock. In
one process: each replica keeps its own, so a district's limit is per replica (they are few).
Never blocks: it answers how long to wait, and the route turns that into a 429."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from shared.clock import Clock


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """`take(key, per_minute)` spends one request of `key`'s budget of `per_minute` (a burst of
    up to `per_minute` after a quiet minute); None when allowed, else the seconds to wait."""

    def __init__(self, clock: Clock, *, max_keys: int = 100_000) -> None:
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def peek(self, key: str, per_minute: int) -> float | None:
        """What `take` would answer now, spending nothing: an early gate refuses with it and
        lets the one `take` of the request count it."""
        bucket = self._buckets.get(key)
        if bucket is None:
            return None
        rate = per_minute / 60.0
        now = self.clock.now().timestamp()
        tokens = min(float(per_minute), bucket.tokens + (now - bucket.at) * rate)
        return None if tokens >= 1.0 else (1.0 - tokens) / rate

    def take(self, key: str, per_minute: int) -> float | None:
        now = self.clock.now().timestamp()
        rate = per_minute / 60.0
        bucket = self._buckets.pop(key, None) or _Bucket(float(per_minute), now)
        bucket.tokens = min(float(per_minute), bucket.tokens + (now - bucket.at) * rate)
        bucket.at = now
        self._buckets[key] = bucket  # most recently used last
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)  # a forgotten key starts with a full budget
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return (1.0 - bucket.tokens) / rate
