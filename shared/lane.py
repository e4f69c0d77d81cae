"""A lane: concurrent callers' batches merged into one flush at a time (plumbing, no I/O of its
own). Consumers use it to turn the partitions of one fetch, handled at the same time, into a few
bulk writes instead of a few per partition."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class Lane(Generic[T]):
    """Runs one batch at a time; the batches handed in while one runs go together as the next.

    The store (FerretDB's SQLite backend) runs one write at a time and pays per round trip: six
    partitions writing at once queue behind each other, one merged batch does not. A merged batch
    that fails is retried caller by caller, so an error stays with the events that caused it.
    `flush` must be idempotent (a retried caller's items may have been half written)."""

    def __init__(self, flush: Callable[[list[T]], Awaitable[None]]) -> None:
        self._flush = flush
        self._waiting: list[tuple[list[T], asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None

    async def run(self, items: Sequence[T]) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((list(items), done))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name="lane")
        await done

    async def _drain(self) -> None:
        taken: list[tuple[list[T], asyncio.Future[None]]] = []
        try:
            while self._waiting:
                taken, self._waiting = self._waiting, []
                try:
                    await self._flush([i for items, _ in taken for i in items])
                except Exception as exc:
                    if len(taken) == 1:
                        _settle(taken[0][1], exc)
                    else:
                        for items, done in taken:
                            try:
                                await self._flush(items)
                            except Exception as one:
                                _settle(done, one)
                            else:
                                _settle(done, None)
                else:
                    for _, done in taken:
                        _settle(done, None)
                taken = []
        finally:  # cancelled (shutdown): nobody is left waiting forever
            for _, done in [*taken, *self._waiting]:
                if not done.done():
                    done.cancel()
            self._waiting = []


def _settle(done: asyncio.Future[None], error: Exception | None) -> None:
    if done.done():  # the caller was cancelled
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
