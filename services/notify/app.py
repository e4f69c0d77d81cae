"""App factory of the notify service: wires real adapters; the lifespan starts and stops consumers
and timers. Refuses to start on a broken org, policy or template file, with the loader's message."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.notify import routes
from services.notify.catalog import load_catalog
from services.notify.channels.inbox import InboxChannel
from services.notify.channels.sse import AlertHub, SseChannel
from services.notify.channels.webhook import DeliveryQueue, WebhookChannel, WebhookDispatcher
from services.notify.consumers import build_consumers
from services.notify.handlers import NotifyHandlers
from services.notify.repository import INDEXES, NotifyRepository
from services.notify.settings import NotifySettings
from shared.clock import Clock, SystemClock
from shared.http import install_common
from shared.logging import configure_logging
from shared.org import load_org
from shared.policy import load_policy
from shared.runtime import Periodic, Runtime


def create_app(settings: NotifySettings | None = None, *, clock: Clock | None = None) -> FastAPI:
    settings = settings or NotifySettings()
    configure_logging(settings.service, settings.log_level)
    org = load_org(settings.org_file)
    policy = load_policy(settings.policy_file)
    catalog = load_catalog()
    clock = clock or SystemClock()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime(settings, org=org, policy=policy)
        app.state.runtime = runtime
        app.state.readiness.update(kafka=runtime.kafka_ready, database=runtime.database_ready)
        repo = NotifyRepository(runtime.db)
        hub = AlertHub(
            repo,
            org.district.code,
            queue_size=settings.stream_queue_size,
            gap_wait_s=settings.stream_gap_wait_s,
        )
        queue = DeliveryQueue()  # the channel queues what it stores; the dispatcher sends it
        channels = [
            InboxChannel(repo, clock),
            WebhookChannel(
                repo, catalog, clock, utc_offset_h=settings.display_utc_offset_h, queue=queue
            ),
            SseChannel(hub),  # last: in-memory only, after everything is stored
        ]
        handlers = NotifyHandlers(
            repo=repo,
            org=org,
            policy=policy,
            publisher=runtime.publisher,
            channels=channels,
            clock=clock,
            producer=settings.service,
        )
        dispatcher = WebhookDispatcher(
            repo,
            runtime.publisher,
            clock,
            schedule=settings.retry_schedule(),
            timeout_s=settings.webhook_timeout_s,
            lease_s=settings.webhook_lease_s,
            batch=settings.webhook_batch,
            producer=settings.service,
            queue=queue,
            sweep_s=settings.webhook_sweep_interval_s,
            recheck_s=settings.webhook_wait_recheck_s,
        )
        app.state.repo = repo
        app.state.hub = hub
        app.state.handlers = handlers
        app.state.dispatcher = dispatcher
        await runtime.start(
            indexes=INDEXES,
            consumers=build_consumers(runtime, handlers),
            periodics=[
                Periodic("alert-tail", settings.stream_poll_interval_s, hub.poll),
                Periodic(
                    "webhook-dispatch", settings.webhook_dispatch_interval_s, dispatcher.run_once
                ),
            ],
        )
        try:
            yield
        finally:
            hub.close_all()
            await runtime.stop()
            await dispatcher.close()

    app = FastAPI(
        title="Hulin notify — the chain, the command center and HQ",
        version="1",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.org = org
    app.state.policy = policy
    app.state.catalog = catalog
    app.state.clock = clock
    install_common(app, settings.service)
    app.include_router(routes.router)
    app.include_router(routes.console_router)
    return app
