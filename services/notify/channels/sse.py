"""The live-stream channel: stored alerts fanned out to the SSE clients of this process.

Several notify replicas may run, so the stream is fed from the stored alerts: each process with
clients connected tails the district's sequence (`AlertHub.poll`, asking for the next numbers
one by one, which the store answers by key), and
the local consumer also offers its own alerts at once for low latency; the hub drops duplicates
by sequence. Every client has a bounded queue: a slow or dead client is dropped (it reconnects
with Last-Event-ID and catches up from the store) and never slows the others or the consumer.
Nothing here blocks on a client.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from prometheus_client import Counter, Gauge

from services.notify.domain.alerts import Alert
from services.notify.store import AlertSequence

log = logging.getLogger(__name__)

stream_clients = Gauge("hulin_stream_clients", "SSE clients connected to this process")
stream_dropped_total = Counter(
    "hulin_stream_clients_dropped_total", "SSE clients dropped because their queue was full"
)
stream_alerts_total = Counter("hulin_stream_alerts_total", "Alerts fanned out to SSE clients")
stream_tail_reads_total = Counter(
    "hulin_stream_tail_reads_total", "Stored alerts read by exact id by the stream's tail"
)


@dataclass(eq=False)
class Subscriber:
    unit: str
    queue: asyncio.Queue[Alert]
    person_id: str = ""
    dropped: asyncio.Event = field(default_factory=asyncio.Event)


class AlertHub:
    """In-process fan-out of stored alerts to SSE subscribers, scoped by unit."""

    def __init__(
        self,
        alerts: AlertSequence,
        district: str,
        *,
        queue_size: int,
        gap_wait_s: float,
        poll_limit: int,
        seen_max: int,
        quiet_look_every: int,
    ) -> None:
        self.alerts = alerts
        self.district = district
        self.queue_size = queue_size
        self.gap_wait_s = gap_wait_s
        self.poll_limit = poll_limit
        self.seen_max = seen_max
        self.quiet_look_every = quiet_look_every
        self.subscribers: set[Subscriber] = set()
        self.cursor: int | None = None
        self._seen: OrderedDict[int, None] = OrderedDict()
        self._gaps: dict[int, float] = {}
        self._quiet_polls = 0  # tail calls since one last found an alert stored elsewhere

    # ---- clients ------------------------------------------------------------------------------
    def streams_of(self, person_id: str) -> int:
        """The streams this person holds open on this process."""
        return sum(1 for sub in self.subscribers if sub.person_id == person_id)

    async def subscribe(self, unit: str, person_id: str = "") -> Subscriber:
        """A new client. The first after a time without clients sets the tail's cursor to the
        highest stored number before the client reads its catch-up (Last-Event-ID) from the
        store: what is stored after that reaches it through the tail, with no gap between."""
        if self.cursor is None:
            cursor = await self.alerts.highest(self.district)
            if self.cursor is None:
                self.cursor = cursor
                self._gaps.clear()
        sub = Subscriber(unit, asyncio.Queue(maxsize=self.queue_size), person_id)
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
    def offer(self, alert: Alert) -> bool:
        """Fan one stored alert out (once per sequence); never waits on a client."""
        seq = alert.seq
        if alert.district != self.district or seq in self._seen:
            return False
        self._seen[seq] = None
        if len(self._seen) > self.seen_max:
            self._seen.popitem(last=False)
        if self.cursor is not None and seq == self.cursor + 1:
            self.cursor = seq  # stored by this process: the tail need not read it back
        scope = alert.scope_units
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

        Numbers are taken in order (each only once its predecessor exists), so the tail reads
        `cursor + 1`, `cursor + 2`, ... by exact id until one is missing. A number missing while a
        later one exists (an insert lost or still in flight) is skipped after `gap_wait_s`.

        With no client connected to this process there is no tail: each look is a store read
        per alert another replica stored, for nobody. The cursor is dropped, and the next first
        client sets it again (`subscribe`)."""
        if not self.subscribers:
            self.cursor = None
            self._gaps.clear()
            self._quiet_polls = 0
            return 0
        if self.cursor is None:
            self.cursor = await self.alerts.highest(self.district)
            return 0
        # Nothing new from other replicas lately: look every `quiet_look_every` calls only. Each
        # look is a read by key the store queues with the event path's writes; a foreign alert
        # found brings the tail back to every call.
        if self._quiet_polls % self.quiet_look_every:
            self._quiet_polls += 1
            return 0
        count = 0
        for _ in range(self.poll_limit):
            self._skip_seen()
            nxt = self.cursor + 1
            stream_tail_reads_total.inc()
            doc = await self.alerts.at(self.district, nxt)
            # the consumer may have offered (and moved the cursor past) alerts while we read:
            # the cursor never goes back, or the tail reads again what was already fanned out
            if doc is None:
                if nxt in self._seen:  # offered locally, not visible yet to this read
                    self.cursor = max(self.cursor, nxt)
                    continue
                break
            self._gaps.clear()
            self.cursor = max(self.cursor, nxt)
            count += self.offer(doc)
        else:
            self._quiet_polls = 0
            return count
        await self._check_gap()
        self._quiet_polls = 0 if count or self._gaps else self._quiet_polls + 1
        return count

    def _skip_seen(self) -> None:
        """Moves the cursor over the numbers this process offered already (stored before they
        were offered): the tail reads only what other replicas stored."""
        assert self.cursor is not None
        while self.cursor + 1 in self._seen:
            self.cursor += 1

    async def _check_gap(self) -> None:
        assert self.cursor is not None
        stream_tail_reads_total.inc()
        later = await self.alerts.at(self.district, self.cursor + 2)
        now = time.monotonic()
        if later is None:
            self._gaps.clear()
            return
        since = self._gaps.setdefault(self.cursor + 1, now)
        if now - since >= self.gap_wait_s:
            log.warning("alert number missing; skipped", extra={"seq": self.cursor + 1})
            self._gaps.clear()
            self.cursor += 1
