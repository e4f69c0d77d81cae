"""The patrol use cases, one concern a module: flows (start, finish), intake (a batch of fixes to
Kafka), storing (batches from Kafka to the store), reads (a patrol, its track), listing (lists,
positions), compliance, overdue. Each loads through the store port, applies the domain, stores,
then publishes; none parses HTTP or Kafka messages or names a collection."""

from __future__ import annotations

from dataclasses import dataclass

from services.patrol.settings import PatrolSettings
from services.patrol.store import PatrolStore
from services.patrol.usecases.compliance import ComplianceQuery
from services.patrol.usecases.flows import PatrolFlows
from services.patrol.usecases.intake import FixIntake, IngestCache
from services.patrol.usecases.listing import Listings
from services.patrol.usecases.overdue import OverdueScan
from services.patrol.usecases.reads import PatrolReads
from services.patrol.usecases.storing import FixStorage
from shared.clock import Clock
from shared.kafka import Publisher
from shared.org import OrgDirectory
from shared.policy import Policy


@dataclass(frozen=True)
class PatrolUseCases:
    """Every patrol use case, wired to the same store, publisher and clock."""

    flows: PatrolFlows
    intake: FixIntake
    storing: FixStorage
    reads: PatrolReads
    listings: Listings
    compliance: ComplianceQuery
    overdue: OverdueScan

    @classmethod
    def wire(
        cls,
        *,
        store: PatrolStore,
        publisher: Publisher,
        clock: Clock,
        org: OrgDirectory,
        policy: Policy,
        settings: PatrolSettings,
    ) -> PatrolUseCases:
        cache = IngestCache(settings.patrol_ingest_cache_s)
        return cls(
            flows=PatrolFlows(
                store=store,
                publisher=publisher,
                clock=clock,
                org=org,
                policy=policy,
                settings=settings,
                on_finished=cache.forget,
            ),
            intake=FixIntake(
                store=store,
                publisher=publisher,
                clock=clock,
                org=org,
                policy=policy,
                settings=settings,
                cache=cache,
            ),
            storing=FixStorage(
                store=store, publisher=publisher, org=org, policy=policy, settings=settings
            ),
            reads=PatrolReads(store=store, org=org),
            listings=Listings(store=store, org=org),
            compliance=ComplianceQuery(
                store=store, clock=clock, org=org, policy=policy, settings=settings
            ),
            overdue=OverdueScan(
                store=store, publisher=publisher, clock=clock, policy=policy, settings=settings
            ),
        )
