"""The one retry loop: call until it works, waiting longer each time, while the fault is one
that passes (the broker starting, the store busy). Never retries a fault the caller did not name."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """Waits of `first_s`, then `factor` times more each time, never above `max_s`."""

    first_s: float
    max_s: float
    factor: float = 2.0

    def delays(self) -> Iterator[float]:
        delay = self.first_s
        while True:
            yield delay
            delay = min(delay * self.factor, self.max_s)


def any_fault(exc: BaseException) -> bool:
    """Every exception counts as passing: for connecting to a server that may still be starting."""
    return isinstance(exc, Exception)


async def retry(
    call: Callable[[], Awaitable[T]],
    *,
    backoff: Backoff,
    when: Callable[[BaseException], bool] = any_fault,
    attempts: int | None = None,
    within_s: float | None = None,
    on_retry: Callable[[BaseException], None] | None = None,
    give_up: Callable[[], bool] | None = None,
) -> T:
    """Await `call()`; on a fault `when` accepts, wait the next backoff delay and call again.

    Gives up (re-raising the last fault) after `attempts` calls, once `within_s` seconds have
    passed, or when `give_up()` says so (a consumer stopping); with neither bound it goes on
    until the fault passes."""
    deadline = None if within_s is None else time.monotonic() + within_s
    delays = backoff.delays()
    made = 0
    while True:
        made += 1
        try:
            return await call()
        except Exception as exc:
            if not when(exc):
                raise
            if attempts is not None and made >= attempts:
                raise
            if deadline is not None and time.monotonic() > deadline:
                raise
            if give_up is not None and give_up():
                raise
            if on_retry is not None:
                on_retry(exc)
            await asyncio.sleep(next(delays))
