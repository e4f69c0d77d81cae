"""The webhook dispatcher's due queue, in memory (pure: no I/O, times passed in): a heap of (due
time, delivery id), the deliveries lately finished, the last unfinished delivery per order key
(the next one's predecessor), and deliveries waiting for a predecessor this process holds. Its
size follows the unfinished deliveries, never the history."""

from __future__ import annotations

import heapq
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from services.notify.domain.deliveries import Delivery


@dataclass
class Pending:
    """A delivery not known to be delivered or dead, as this process holds it."""

    delivery: Delivery
    due_at: datetime
    tries: int | None  # tries known so far; None: not read yet (found by the sweep)
    body: str | None = None  # None: read when sent

    @property
    def id(self) -> str:
        return self.delivery.id

    @property
    def order_key(self) -> str:
        return self.delivery.order_key

    @property
    def prev(self) -> str | None:
        return self.delivery.prev

    @classmethod
    def of(cls, delivery: Delivery, *, tries: int | None, due_at: datetime) -> Pending:
        return cls(delivery=delivery, due_at=due_at, tries=tries, body=delivery.body)


class DeliveryQueue:
    def __init__(self, *, remember_done: int) -> None:
        self._heap: list[tuple[datetime, str]] = []
        self.pending: dict[str, Pending] = {}
        self._done: OrderedDict[str, None] = OrderedDict()
        self._remember_done = remember_done
        self._last: dict[str, tuple[int, str]] = {}  # order key → (alert seq, delivery id)
        self._waiting: dict[str, list[str]] = {}  # predecessor id → ids waiting for it

    def predecessor(self, order_key: str) -> str | None:
        last = self._last.get(order_key)
        return last[1] if last is not None else None

    def note(self, order_key: str, seq: int, delivery_id: str) -> None:
        last = self._last.get(order_key)
        if last is None or last[0] <= seq:
            self._last[order_key] = (seq, delivery_id)

    def is_done(self, delivery_id: str) -> bool:
        """Finished lately, as far as this process knows (a miss proves nothing)."""
        return delivery_id in self._done

    def mark_done(self, delivery_id: str) -> None:
        self._done[delivery_id] = None
        while len(self._done) > self._remember_done:
            self._done.popitem(last=False)

    def add(self, item: Pending) -> None:
        if item.id in self._done or item.id in self.pending:
            return
        self.pending[item.id] = item
        heapq.heappush(self._heap, (item.due_at, item.id))

    def later(self, item: Pending, at: datetime) -> None:
        item.due_at = at
        if item.id in self.pending:
            heapq.heappush(self._heap, (at, item.id))

    def due(self, now: datetime, limit: int) -> list[Pending]:
        out: list[Pending] = []
        while self._heap and self._heap[0][0] <= now and len(out) < limit:
            at, did = heapq.heappop(self._heap)
            item = self.pending.get(did)
            if item is not None and item.due_at == at:  # else a stale entry
                out.append(item)
        return out

    def wait_for(self, item: Pending, prev: str) -> None:
        """`item` goes out when `prev` (held by this process) is finished."""
        self._waiting.setdefault(prev, []).append(item.id)

    def finish(self, delivery_id: str, now: datetime) -> None:
        item = self.pending.pop(delivery_id, None)
        self.mark_done(delivery_id)
        if item is not None and self.predecessor(item.order_key) == delivery_id:
            del self._last[item.order_key]
        for waiting in self._waiting.pop(delivery_id, []):
            queued = self.pending.get(waiting)
            if queued is not None:
                self.later(queued, now)
