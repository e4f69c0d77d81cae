"""The one retry loop: which faults it retries, when it gives up, and the waits between tries."""

from __future__ import annotations

import pytest

from shared.retry import Backoff, retry


class Busy(Exception):
    pass


def flaky(failures: int, exc: type[Exception] = Busy):
    calls = {"n": 0}

    async def call() -> str:
        calls["n"] += 1
        if calls["n"] <= failures:
            raise exc("not yet")
        return "done"

    return call, calls


NO_WAIT = Backoff(first_s=0.0, max_s=0.0)


def test_backoff_doubles_up_to_its_ceiling() -> None:
    delays = Backoff(first_s=0.01, max_s=0.05).delays()
    assert [round(next(delays), 3) for _ in range(5)] == [0.01, 0.02, 0.04, 0.05, 0.05]


async def test_a_passing_fault_is_retried_until_the_call_works() -> None:
    call, calls = flaky(3)
    assert await retry(call, backoff=NO_WAIT, when=lambda e: isinstance(e, Busy)) == "done"
    assert calls["n"] == 4


async def test_a_fault_the_caller_did_not_name_is_raised_at_once() -> None:
    call, calls = flaky(3, ValueError)
    with pytest.raises(ValueError):
        await retry(call, backoff=NO_WAIT, when=lambda e: isinstance(e, Busy))
    assert calls["n"] == 1


async def test_gives_up_after_the_attempts_with_the_last_fault() -> None:
    call, calls = flaky(10)
    with pytest.raises(Busy):
        await retry(call, backoff=NO_WAIT, attempts=3)
    assert calls["n"] == 3


async def test_gives_up_past_its_time_bound() -> None:
    call, calls = flaky(1000)
    with pytest.raises(Busy):
        await retry(call, backoff=Backoff(first_s=0.01, max_s=0.01), within_s=0.05)
    assert 2 <= calls["n"] < 1000


async def test_stops_when_the_caller_says_so_and_reports_each_retry() -> None:
    call, calls = flaky(1000)
    seen: list[str] = []
    with pytest.raises(Busy):
        await retry(
            call,
            backoff=NO_WAIT,
            give_up=lambda: calls["n"] >= 4,
            on_retry=lambda exc: seen.append(str(exc)),
        )
    assert calls["n"] == 4
    assert seen == ["not yet"] * 3
