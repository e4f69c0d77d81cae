"""bench.common.closed_loop counts every unit its concurrent clients deliver (pure asyncio, no I/O:
the fake sends only yield to the loop)."""

from __future__ import annotations

import asyncio

from bench.common import closed_loop


async def test_closed_loop_counts_every_unit_of_concurrent_clients() -> None:
    calls: dict[int, int] = {}
    delivered = 0

    async def send(c: int, i: int) -> int:
        nonlocal delivered
        await asyncio.sleep(0)  # the other clients run here, as they do during a real request
        calls[c] = calls.get(c, 0) + 1
        units = 1 + i % 3  # not always 1: the loop must add what send returns
        delivered += units  # no await between the read and the write: this count is exact
        return units

    units, elapsed = await closed_loop(20, 0.05, send)

    assert sorted(calls) == list(range(20))  # every client ran, several times each
    assert min(calls.values()) > 1
    assert units == delivered
    assert elapsed >= 0.05


async def test_closed_loop_passes_each_client_its_own_index_and_counter() -> None:
    seen: dict[int, list[int]] = {}

    async def send(c: int, i: int) -> int:
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        seen.setdefault(c, []).append(i)
        return 1

    units, _ = await closed_loop(5, 0.02, send)

    assert units == sum(len(v) for v in seen.values())
    for indexes in seen.values():
        assert indexes == list(range(len(indexes)))


async def test_closed_loop_with_no_time_sends_nothing() -> None:
    async def send(c: int, i: int) -> int:
        raise AssertionError("not called")

    assert (await closed_loop(3, 0.0, send))[0] == 0
