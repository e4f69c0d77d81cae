"""The incidents use cases, one concern a module: intake, report batches, commands, queries, the
outbox relay, the escalation engine, timers and positions. Each takes the store port, the
publisher, the clock, org, policy and settings explicitly; none talks HTTP or Kafka wiring."""

from __future__ import annotations

from dataclasses import dataclass

from services.incidents.settings import IncidentsSettings
from services.incidents.store import IncidentStore
from services.incidents.usecases.changes import ChangeWriter
from services.incidents.usecases.commands import IncidentCommands
from services.incidents.usecases.escalation import EscalationEngine
from services.incidents.usecases.intake import Intake
from services.incidents.usecases.outbox import OutboxRelay
from services.incidents.usecases.positions import PositionsFeed
from services.incidents.usecases.queries import IncidentQueries
from services.incidents.usecases.report_batches import ReportBatches
from services.incidents.usecases.timers import TimerIndex, TimerRescan
from shared.clock import Clock
from shared.kafka import Publisher
from shared.org import OrgDirectory
from shared.policy import Policy


@dataclass(frozen=True)
class UseCases:
    """The service's use cases over one store and publisher, sharing one timer index."""

    intake: Intake
    batches: ReportBatches
    commands: IncidentCommands
    queries: IncidentQueries
    relay: OutboxRelay
    engine: EscalationEngine
    rescan: TimerRescan
    positions: PositionsFeed
    writer: ChangeWriter
    timers: TimerIndex


def build_usecases(
    *,
    store: IncidentStore,
    publisher: Publisher,
    org: OrgDirectory,
    policy: Policy,
    settings: IncidentsSettings,
    clock: Clock,
) -> UseCases:
    timers = TimerIndex()
    writer = ChangeWriter(
        store=store,
        publisher=publisher,
        policy=policy,
        settings=settings,
        clock=clock,
        timers=timers,
    )
    return UseCases(
        intake=Intake(
            store=store,
            publisher=publisher,
            org=org,
            policy=policy,
            settings=settings,
            clock=clock,
        ),
        batches=ReportBatches(
            store=store,
            writer=writer,
            timers=timers,
            org=org,
            policy=policy,
            settings=settings,
            clock=clock,
        ),
        commands=IncidentCommands(store=store, writer=writer, org=org, policy=policy, clock=clock),
        queries=IncidentQueries(store=store, org=org),
        relay=OutboxRelay(
            store=store, publisher=publisher, settings=settings, clock=clock, timers=timers
        ),
        engine=EscalationEngine(
            writer=writer, timers=timers, policy=policy, settings=settings, clock=clock
        ),
        rescan=TimerRescan(store=store, timers=timers),
        positions=PositionsFeed(store=store),
        writer=writer,
        timers=timers,
    )
