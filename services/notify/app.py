"""App factory of the notify service: wires the real adapters (the MongoDB store, Kafka, HTTP
webhooks) into the use cases; the lifespan starts and stops consumers and timers. Refuses to start
on a broken org, policy or template file, with the loader's message."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any

from fastapi import FastAPI

from services.notify import routes
from services.notify.catalog import load_catalog
from services.notify.channels.sse import AlertHub
from services.notify.channels.webhook import HttpSender
from services.notify.consumers import build_consumers
from services.notify.domain.alerts import Alert
from services.notify.domain.delivery_queue import DeliveryQueue
from services.notify.domain.messages import Catalog
from services.notify.repository import COLLECTIONS, mongo_store, seal_stored_secrets
from services.notify.settings import NotifySettings
from services.notify.store import NotifyStore
from services.notify.usecases.chain import ChainNotifications, rules_from
from services.notify.usecases.webhook_dispatch import DispatchRules, WebhookDispatcher
from services.notify.usecases.webhook_outbox import WebhookOutbox
from shared.clock import Clock, SystemClock
from shared.edge import Gate
from shared.errors import RateLimited
from shared.http import install_common
from shared.kafka import Publisher
from shared.logging import configure_logging
from shared.org import OrgDirectory, Person, load_org
from shared.policy import Policy, load_policy
from shared.runtime import Periodic, Runtime

log = logging.getLogger(__name__)


def chain_notifications(
    *,
    store: NotifyStore,
    org: OrgDirectory,
    policy: Policy,
    catalog: Catalog,
    publisher: Publisher,
    clock: Clock,
    settings: NotifySettings,
    queue: DeliveryQueue,
    live: Callable[[Alert], object] | None = None,
) -> ChainNotifications:
    """The event path: alerts, inboxes and the webhook outbox (new deliveries into `queue`)."""
    outbox = WebhookOutbox(
        subscriptions=store.subscriptions,
        deliveries=store.deliveries,
        catalog=catalog,
        clock=clock,
        utc_offset_h=settings.display_utc_offset_h,
        queue=queue,
    )
    return ChainNotifications(
        store=store,
        org=org,
        rules=rules_from(policy),
        publisher=publisher,
        clock=clock,
        producer=settings.service,
        outbox=outbox,
        live=live,
    )


def _streams_at_cap(state: Any, person: Person) -> RateLimited | None:
    """The stream cap, looked at before routing; `alerts.watch` still checks it."""
    hub: AlertHub | None = getattr(state, "hub", None)
    cap = state.policy.limits.streams_per_person
    if hub is None or hub.streams_of(person.id) < cap:
        return None
    return RateLimited(
        f"at most {cap} live streams at once; close one first",
        retry_after_s=30.0,
        field="Authorization",
    )


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
        store = mongo_store(runtime.db, secret_box=settings.webhook_secret_box())
        hub = AlertHub(
            store.alerts,
            org.district.code,
            queue_size=settings.stream_queue_size,
            gap_wait_s=settings.stream_gap_wait_s,
            poll_limit=settings.stream_tail_batch,
            seen_max=settings.stream_seen_max,
            quiet_look_every=settings.stream_quiet_look_every,
        )
        # the outbox queues what it stores; the dispatcher sends it
        queue = DeliveryQueue(remember_done=settings.webhook_done_remembered)
        chain = chain_notifications(
            store=store,
            org=org,
            policy=policy,
            catalog=catalog,
            publisher=runtime.publisher,
            clock=clock,
            settings=settings,
            queue=queue,
            live=hub.offer,  # in memory only, after the alerts are stored
        )
        dispatcher = WebhookDispatcher(
            deliveries=store.deliveries,
            subscriptions=store.subscriptions,
            publisher=runtime.publisher,
            clock=clock,
            sender=HttpSender(
                timeout_s=settings.webhook_timeout_s, allow=settings.webhook_destinations()
            ),
            rules=DispatchRules.of(settings),
            producer=settings.service,
            queue=queue,
        )
        app.state.store = store
        app.state.hub = hub
        app.state.chain = chain
        app.state.dispatcher = dispatcher
        await runtime.start(
            indexes=COLLECTIONS,
            consumers=build_consumers(runtime, chain),
            periodics=[
                Periodic("alert-tail", settings.stream_poll_interval_s, hub.poll),
                Periodic(
                    "webhook-dispatch", settings.webhook_dispatch_interval_s, dispatcher.run_once
                ),
            ],
        )
        # plaintext left by an older release, or sealed under a key since rotated out
        resealed = await seal_stored_secrets(runtime.db, settings.webhook_secret_box())
        log.info("webhook secrets sealed at rest", extra=asdict(resealed))
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
    app.state.edge_gates = {
        ("GET", "/v1/alerts/stream"): Gate(_streams_at_cap, query_token=True)
    }
    install_common(app, settings.service)
    app.include_router(routes.router)
    app.include_router(routes.console_router)
    return app
