"""What the notify use-case tests share: the demo org and policy, the use cases wired on the fake
store, a recording publisher and a fake clock, and incident events to hand them. No Kafka, no
database, no sleeping."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from services.notify.catalog import load_catalog
from services.notify.domain.delivery_queue import DeliveryQueue
from services.notify.settings import NotifySettings
from services.notify.store import NotifyStore
from services.notify.usecases.chain import ChainNotifications, rules_from
from services.notify.usecases.webhook_dispatch import DispatchRules, Sent, WebhookDispatcher
from services.notify.usecases.webhook_outbox import WebhookOutbox
from shared.clock import FakeClock
from shared.events import (
    IncidentAcknowledged,
    IncidentAcknowledgedData,
    IncidentChangeData,
    IncidentEscalated,
    IncidentEscalatedData,
    IncidentOpened,
    IncidentSnapshot,
    IncidentUpdated,
)
from shared.org import load_org
from shared.policy import load_policy
from tests.fakes.notify_store import fake_store
from tests.fakes.publisher import RecordingPublisher

T0 = datetime(2026, 4, 1, 8, 0, tzinfo=UTC)
VILLAGE = "500114001001"  # 枫香村, 石溪镇
DISTRICT = "500114"
CHAIN = (f"vc-{VILLAGE}", f"sv-{VILLAGE}", f"in-{VILLAGE}")
HQ = "hq-500114"

ORG = load_org(None)
POLICY = load_policy(None)
CATALOG = load_catalog()


def snapshot(incident_id: str | None = None, *, reports: int = 1, **extra: Any) -> IncidentSnapshot:
    return IncidentSnapshot(
        id=incident_id or str(uuid.uuid4()),
        type="fire",
        family="fire",
        status="reported",
        severity="general",
        verified=True,
        village=VILLAGE,
        township=VILLAGE[:9],
        district=DISTRICT,
        lat=29.43,
        lon=108.65,
        report_ids=tuple(f"r{i}" for i in range(reports)),
        escalation_level=0,
        opened_at=T0,
        observed_at=T0,
        reporter_id=f"rg-{VILLAGE}-1",
        **extra,
    )


def opened(snap: IncidentSnapshot) -> IncidentOpened:
    data = IncidentChangeData(incident=snap, reason="report", report_id=snap.report_ids[0])
    return IncidentOpened.new(data, key=snap.id, producer="test")


def merged(snap: IncidentSnapshot) -> IncidentUpdated:
    data = IncidentChangeData(incident=snap, reason="report_merged", report_id=snap.report_ids[-1])
    return IncidentUpdated.new(data, key=snap.id, producer="test")


def escalated(snap: IncidentSnapshot, a: int, b: int) -> IncidentEscalated:
    data = IncidentEscalatedData(
        incident=snap, reason="deadline", from_level=a, to_level=b, at=snap.opened_at
    )
    return IncidentEscalated.new(data, key=snap.id, producer="test")


def acknowledged(snap: IncidentSnapshot, by: str, at: datetime) -> IncidentAcknowledged:
    data = IncidentAcknowledgedData(incident=snap, reason="ack", actor=by, at=at)
    return IncidentAcknowledged.new(data, key=snap.id, producer="test")


class ScriptedSender:
    """A webhook receiver in memory: answers each try with the next of `answers` (then 204)."""

    def __init__(self, *answers: int) -> None:
        self.answers = list(answers)
        self.sent: list[dict[str, Any]] = []

    async def send(self, **request: Any) -> Sent:
        self.sent.append(request)
        code = self.answers.pop(0) if self.answers else 204
        ok = 200 <= code < 300
        return Sent(ok=ok, status_code=code, error=None if ok else f"HTTP {code}", duration_ms=1.0)

    async def close(self) -> None:
        return None


FAST_RETRIES: dict[str, Any] = {
    "webhook_backoff_base_s": 10.0,
    "webhook_backoff_factor": 2.0,
    "webhook_backoff_max_s": 600.0,
    "webhook_retry_for_s": 25.0,
    "webhook_jitter": 0.0,
}


@dataclass
class Notify:
    """The use cases of one notify process on the fakes."""

    settings: NotifySettings = field(default_factory=lambda: NotifySettings(**FAST_RETRIES))
    store: NotifyStore = field(default_factory=fake_store)
    publisher: RecordingPublisher = field(default_factory=RecordingPublisher)
    clock: FakeClock = field(default_factory=lambda: FakeClock(T0))
    sender: ScriptedSender = field(default_factory=ScriptedSender)
    live: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.queue = DeliveryQueue(remember_done=self.settings.webhook_done_remembered)
        outbox = WebhookOutbox(
            subscriptions=self.store.subscriptions,
            deliveries=self.store.deliveries,
            catalog=CATALOG,
            clock=self.clock,
            utc_offset_h=self.settings.display_utc_offset_h,
            queue=self.queue,
        )
        self.chain = ChainNotifications(
            store=self.store,
            org=ORG,
            rules=rules_from(POLICY),
            publisher=self.publisher,  # type: ignore[arg-type]
            clock=self.clock,
            producer="notify",
            outbox=outbox,
            live=self.live.append,
        )
        self.dispatcher = WebhookDispatcher(
            deliveries=self.store.deliveries,
            subscriptions=self.store.subscriptions,
            publisher=self.publisher,  # type: ignore[arg-type]
            clock=self.clock,
            sender=self.sender,
            rules=DispatchRules.of(self.settings),
            producer="notify",
            queue=self.queue,
            draw=lambda: 0.0,
        )

    def advance(self, seconds: float) -> None:
        self.clock.set(self.clock.now() + timedelta(seconds=seconds))
