"""The live-stream channel: stored alerts fanned out to the SSE clients of this process.

Several notify replicas may run, so the stream is fed from the stored alerts: each process tails the
alerts collection by sequence (`AlertHub.poll`), and the local consumer also offers its own alerts
at once for low latency; the hub drops duplicates by sequence. Every client has a bounded queue: a
slow or dead client is dropped (it reconnects with Last-Event-ID and catches up from the store) and
never slows the others or the consumer. Nothing here blocks on a client.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter, Gauge

from services.notify.channels.base import Dispatch
from services.notify.repository import NotifyRepository

log = logging.getLogger(__name__)

stream_clients = Gauge("hulin_stream_clients", "SSE clients connected to this process")
stream_dropped_total = Counter(
    "hulin_stream_clients_dropped_total", "SSE clients dropped because their queue was full"
)
stream_alerts_total = Counter("hulin_stream_alerts_total", "Alerts fanned out to SSE clients")

SEEN_MAX = 50_000  # sequences remembered to drop duplicates between push and tail
GAPS_MAX = 1_000


@dataclass(eq=False)
class Subscriber:
    unit: str
    queue: asyncio.Queue[Mapping[str, Any]]
    dropped: asyncio.Event = field(default_factory=asyncio.Event)


class AlertHub:
    """In-process fan-out of stored alerts to SSE subscribers, scoped by unit."""

    def __init__(
        self,
        repo: NotifyRepository,
        district: str,
        *,
        queue_size: int,
        gap_wait_s: float,
        poll_limit: int = 1000,
    ) -> None:
        self.repo = repo
        self.district = district
        self.queue_size = queue_size
        self.gap_wait_s = gap_wait_s
        self.poll_limit = poll_limit
        self.subscribers: set[Subscriber] = set()
        self.cursor: int | None = None
        self._seen: OrderedDict[int, None] = OrderedDict()
        self._gaps: dict[int, float] = {}

    # ---- clients ------------------------------------------------------------------------------
    def subscribe(self, unit: str) -> Subscriber:
        sub = Subscriber(unit, asyncio.Queue(maxsize=self.queue_size))
        self.subscribers.add(sub)
        stream_clients.set(len(self.subscribers))
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)
        stream_clients.set(len(self.subscribers))

    def close_all(self) -> None:
        """Ends every stream (shutdown): clients reconnect to another replica."""
        for sub in list(self.subscribers):
            sub.dropped.set()
        self.subscribers.clear()
        stream_clients.set(0)

    # ---- alerts in ----------------------------------------------------------------------------
    def offer(self, alert: Mapping[str, Any]) -> bool:
        """Fan one stored alert out (once per sequence); never waits on a client."""
        seq = int(alert["seq"])
        if alert.get("district", self.district) != self.district or seq in self._seen:
            return False
        self._seen[seq] = None
        if len(self._seen) > SEEN_MAX:
            self._seen.popitem(last=False)
        self._gaps.pop(seq, None)
        scope = alert.get("scope_units") or ()
        for sub in list(self.subscribers):
            if sub.unit not in scope:
                continue
            try:
                sub.queue.put_nowait(alert)
                stream_alerts_total.inc()
            except asyncio.QueueFull:
                log.warning("stream client too slow; dropped", extra={"unit": sub.unit})
                stream_dropped_total.inc()
                sub.dropped.set()
                self.unsubscribe(sub)
        return True

    async def poll(self) -> int:
        """Tail the stored alerts: what other replicas stored reaches this process's clients.
        A sequence skipped (an insert still in flight elsewhere) is looked for again for a while."""
        if self.cursor is None:
            self.cursor = await self.repo.max_seq(self.district)
            return 0
        docs = await self.repo.alerts_after(self.district, self.cursor, limit=self.poll_limit)
        now = time.monotonic()
        if self._gaps:
            late = await self.repo.alerts_by_seq(self.district, self._gaps)
            for doc in sorted(late, key=lambda d: int(d["seq"])):
                self.offer(doc)
            for seq, since in list(self._gaps.items()):
                if now - since > self.gap_wait_s:
                    del self._gaps[seq]
        fetched = {int(d["seq"]) for d in docs}
        if fetched:
            top = max(fetched)
            for seq in range(self.cursor + 1, top):
                if seq not in fetched and seq not in self._seen and len(self._gaps) < GAPS_MAX:
                    self._gaps.setdefault(seq, now)
            self.cursor = top
        count = 0
        for doc in docs:
            count += self.offer(doc)
        return count


class SseChannel:
    """Offers a freshly stored alert to this process's stream clients at once."""

    name = "sse"

    def __init__(self, hub: AlertHub) -> None:
        self.hub = hub

    async def send(self, dispatch: Dispatch) -> None:
        if dispatch.alert is not None:
            self.hub.offer(dispatch.alert)
