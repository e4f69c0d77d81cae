"""One correlation id follows a request end to end — HTTP header → event envelope and Kafka
header → the consumer's context and its JSON log lines — and /metrics counts what happened."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI

from shared.events import PatrolStarted, PatrolStartedData
from shared.http import install_common
from shared.kafka import ConsumerRunner, Publisher, ensure_topics
from shared.logging import JsonFormatter, correlation_id
from shared.settings import Settings
from shared.topics import PATROL
from tests.support.kafka import wait_until
from tests.support.server import serve


async def test_correlation_id_travels_http_to_kafka_to_consumer_logs(
    settings_for: Callable[..., Settings],
) -> None:
    settings = settings_for(Settings, service="ctest")
    await ensure_topics(settings)
    publisher = Publisher(settings)
    await publisher.start()
    seen: list[str | None] = []
    records: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(JsonFormatter("ctest").format(record))

    log = logging.getLogger("ctest.consumer")
    log.addHandler(Capture())
    log.setLevel(logging.INFO)

    async def on_started(event: PatrolStarted) -> None:
        seen.append(correlation_id.get())
        log.info("handled", extra={"patrol_id": event.data.patrol_id})

    app = FastAPI()
    install_common(app, "ctest")
    app.state.readiness.update(kafka=publisher.ping)

    @app.post("/start")
    async def start() -> dict[str, str]:
        data = PatrolStartedData(patrol_id="p-c", ranger_id="rg-1", village="500114001001",
                                 started_at=datetime(2026, 3, 1, tzinfo=UTC))
        await publisher.publish(PatrolStarted.new(data, key="rg-1", producer="ctest"))
        return {"ok": "yes"}

    runner = ConsumerRunner(settings, name="corr", topics=[PATROL],
                            handlers={"patrol.started": on_started}, publisher=publisher)
    await runner.start()
    try:
        async with serve(app) as srv, httpx.AsyncClient(base_url=srv.url) as http:
            r = await http.post("/start", headers={"X-Correlation-ID": "corr-123"})
            assert r.status_code == 200 and r.headers["x-correlation-id"] == "corr-123"
            await wait_until(lambda: seen, timeout_s=30)
            metrics = (await http.get("/metrics")).text
            assert (await http.get("/readyz")).json()["checks"] == {"kafka": True}
    finally:
        await runner.stop()
        await publisher.stop()

    assert seen == ["corr-123"]
    line = json.loads(records[-1])
    assert line["correlation_id"] == "corr-123" and line["patrol_id"] == "p-c"

    raw = AIOKafkaConsumer(settings.topic(PATROL), bootstrap_servers=settings.kafka_bootstrap,
                           auto_offset_reset="earliest", enable_auto_commit=False)
    await raw.start()
    try:
        batch = await asyncio.wait_for(raw.getmany(timeout_ms=5000), 10)
        record = next(r for rs in batch.values() for r in rs)
    finally:
        await raw.stop()
    headers = dict(record.headers)
    assert headers["correlation_id"] == b"corr-123"
    assert json.loads(record.value)["correlation_id"] == "corr-123"

    topic = settings.topic(PATROL)
    labels = 'method="POST",route="/start",service="ctest",status="200"'
    http_line = f"hulin_http_requests_total{{{labels}}}"
    assert http_line in metrics
    published = f'service="ctest",topic="{topic}",type="patrol.started"'
    assert f"hulin_events_published_total{{{published}}}" in metrics
    assert "hulin_consumer_lag_messages{" in metrics
    assert 'hulin_handler_seconds_count{event="patrol.started",service="ctest"}' in metrics
