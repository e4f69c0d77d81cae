"""App factory of the incidents service: wires real adapters; the lifespan starts and stops the
consumers, the escalation engine and the outbox relay. Refuses to start on a broken org or policy
file, with the loader's message."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import ORJSONResponse

from services.incidents import routes
from services.incidents.consumers import build_consumers
from services.incidents.repository import IncidentsRepository, indexes_for
from services.incidents.repository.store import MongoIncidentStore
from services.incidents.settings import IncidentsSettings
from services.incidents.usecases import build_usecases
from shared.clock import Clock, SystemClock
from shared.edge import Gate
from shared.errors import RateLimited
from shared.http import install_common
from shared.logging import configure_logging
from shared.org import Person, load_org
from shared.policy import load_policy
from shared.runtime import Periodic, Runtime


def _reports_over_budget(state: Any, person: Person) -> RateLimited | None:
    """The intake's own budget, looked at before the body is read; its `admit` still spends."""
    usecases = getattr(state, "usecases", None)
    if usecases is None:
        return None
    per_minute = state.policy.limits.reports_for(person.role.value)
    wait = usecases.intake.limiter.peek(f"report|{person.id}", per_minute)
    if wait is None:
        return None
    return RateLimited(
        f"at most {per_minute} reports a minute for a {person.role.value}; retry in {wait:.0f} s",
        retry_after_s=wait,
        field="id",
    )


def create_app(settings: IncidentsSettings | None = None, *, clock: Clock | None = None) -> FastAPI:
    settings = settings or IncidentsSettings()
    configure_logging(settings.service, settings.log_level)
    org = load_org(settings.org_file)
    policy = load_policy(settings.policy_file)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime(settings, org=org, policy=policy)
        uc = build_usecases(
            store=MongoIncidentStore(
                IncidentsRepository(runtime.db, shards=settings.incident_shards)
            ),
            publisher=runtime.publisher,
            org=org,
            policy=policy,
            settings=settings,
            clock=clock or SystemClock(),
        )
        app.state.runtime = runtime
        app.state.usecases = uc
        app.state.readiness.update(kafka=runtime.kafka_ready, database=runtime.database_ready)
        periodics = [
            # The rescan runs first (at start-up: every timer, so timers stored before a restart
            # fire), then one shard per call: each timer is re-read every `timer_rescan_s`.
            Periodic(
                "timer-rescan",
                settings.timer_rescan_s / settings.incident_shards,
                uc.rescan.rescan,
            ),
            Periodic("escalation", settings.escalation_poll_s, uc.engine.run_due),
            Periodic("outbox-relay", settings.relay_interval_s, uc.relay.relay),
            Periodic("outbox-sweep", max(10.0, settings.change_retention_s / 4), uc.relay.sweep),
        ]
        await runtime.start(
            indexes=indexes_for(settings.incident_shards),
            consumers=build_consumers(runtime, uc, settings),
            periodics=periodics,
        )
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title="Hulin incidents — reports in, incidents out",
        version="1",
        lifespan=lifespan,
        default_response_class=ORJSONResponse,
    )
    app.state.settings = settings
    app.state.org = org
    app.state.policy = policy
    # a FIRMS file may be larger than any other body (413 past it, before it is read)
    app.state.body_limits = {"/v1/hotspots": settings.max_hotspot_bytes}
    app.state.edge_gates = {("POST", "/v1/reports"): Gate(_reports_over_budget)}
    install_common(app, settings.service)
    app.include_router(routes.router)
    return app
