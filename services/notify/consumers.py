"""Which topic and event type go to which handler in the notify service. Never decides anything:
routing only."""

from __future__ import annotations

from aiokafka import ConsumerRecord, TopicPartition
from pydantic import ValidationError

from services.notify.handlers import NotifyHandlers
from shared.events import Event, UnknownEventType
from shared.kafka import ConsumerRunner
from shared.runtime import Runtime
from shared.topics import INCIDENTS, PATROL

EVENT_TYPES = (
    "incident.opened",
    "incident.updated",
    "incident.escalated",
    "incident.acknowledged",
    "incident.status_changed",
    "patrol.overdue",
)


class MixedBatchConsumer(ConsumerRunner):
    """A consumer runner that hands a run of consecutive events to one batch handler even when
    their types differ, as long as every type in the run is routed to that same handler.

    The notify store (FerretDB's SQLite backend) runs one write at a time and pays per round trip;
    an incident's events (opened, updated, escalated, acknowledged) interleave on a partition, so
    grouping by type alone made batches of one or two. Same contract otherwise: records in order,
    a failed group is retried one by one, a poison message is dead-lettered.
    """

    async def _process_partition(
        self, tp: TopicPartition, records: list[ConsumerRecord[bytes, bytes]]
    ) -> tuple[TopicPartition, int | None]:
        last: int | None = None
        i = 0
        solo_until = 0  # after a failed group, its records are handled one by one
        while i < len(records):
            record = records[i]
            try:
                event = self.parse(record.value or b"")
            except UnknownEventType:
                self._count(record.topic, "unknown", "ignored")
                last, i = record.offset, i + 1
                continue
            except (ValidationError, ValueError) as exc:
                done = await self._deadletter(record, f"unparseable message: {exc}", attempts=1)
                if not done:
                    return tp, last
                last, i = record.offset, i + 1
                continue
            batch_handler = self.batch_handlers.get(event.type)
            if batch_handler is not None and i >= solo_until:
                group: list[tuple[ConsumerRecord[bytes, bytes], Event]] = [(record, event)]
                j = i + 1
                while j < len(records):
                    try:
                        nxt = self.parse(records[j].value or b"")
                    except Exception:
                        break
                    if self.batch_handlers.get(nxt.type) is not batch_handler:
                        break
                    group.append((records[j], nxt))
                    j += 1
                ok = await self._handle_group(batch_handler, group)
                if ok is None:
                    return tp, last
                if ok:
                    last, i = group[-1][0].offset, j
                    continue
                solo_until = j  # a poison inside the group: isolate it one by one
            outcome = await self._handle_one(record, event)
            if outcome is None:
                return tp, last  # stopping during a transient fault: redelivered later
            last, i = record.offset, i + 1
        return tp, last


def build_consumers(runtime: Runtime, handlers: NotifyHandlers) -> list[ConsumerRunner]:
    return [
        MixedBatchConsumer(
            runtime.settings,
            name="alerts",
            topics=[INCIDENTS, PATROL],
            handlers={},
            batch_handlers=dict.fromkeys(EVENT_TYPES, handlers.on_events),
            publisher=runtime.publisher,
        )
    ]
