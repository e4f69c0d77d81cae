"""App factory of the patrol service: wires real adapters; the lifespan starts and stops consumers
and timers. Refuses to start on a broken org or policy file, with the loader's message."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import ORJSONResponse

from services.patrol import routes
from services.patrol.consumers import build_consumers
from services.patrol.repository import INDEXES, MongoPatrolStore
from services.patrol.settings import PatrolSettings
from services.patrol.usecases import PatrolUseCases
from shared.clock import Clock, SystemClock
from shared.http import install_common
from shared.logging import configure_logging
from shared.org import load_org
from shared.policy import load_policy
from shared.runtime import Periodic, Runtime


def create_app(settings: PatrolSettings | None = None, *, clock: Clock | None = None) -> FastAPI:
    settings = settings or PatrolSettings()
    configure_logging(settings.service, settings.log_level)
    org = load_org(settings.org_file)
    policy = load_policy(settings.policy_file)
    clock = clock or SystemClock()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime(settings, org=org, policy=policy)
        app.state.runtime = runtime
        app.state.readiness.update(kafka=runtime.kafka_ready, database=runtime.database_ready)
        usecases = PatrolUseCases.wire(
            store=MongoPatrolStore(runtime.db),
            publisher=runtime.publisher,
            clock=clock,
            org=org,
            policy=policy,
            settings=settings,
        )
        app.state.patrol = usecases
        consumers = build_consumers(runtime, usecases.storing) if settings.patrol_consumers else []
        scan = usecases.overdue.scan_overdue
        periodics = (
            [Periodic("patrol-overdue", settings.patrol_overdue_scan_s, scan)]
            if settings.patrol_consumers
            else []
        )
        await runtime.start(indexes=INDEXES, consumers=consumers, periodics=periodics)
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title="Hulin patrol — rangers' tracks and patrol compliance",
        version="1",
        lifespan=lifespan,
        default_response_class=ORJSONResponse,
    )
    app.state.settings = settings
    app.state.org = org
    app.state.policy = policy
    install_common(app, settings.service)
    if settings.patrol_api:
        app.include_router(routes.router)
    return app
