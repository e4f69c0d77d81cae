"""/readyz really checks Kafka and the database: it fails while either is stopped and passes again
once it is back, without restarting the service. Uses a broker and FerretDB of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from services.patrol.app import create_app
from services.patrol.settings import PatrolSettings
from tests.support.dedicated import DedicatedInfra
from tests.support.kafka import wait_until
from tests.support.server import serve


@pytest.fixture
async def own_infra(tmp_path: Path) -> AsyncIterator[DedicatedInfra]:
    infra = DedicatedInfra.create(tmp_path / "state")
    infra.infra("up")
    try:
        yield infra
    finally:
        infra.infra("down")


async def test_readyz_follows_kafka_and_database_without_restart(
    own_infra: DedicatedInfra, settings_for: Callable[..., PatrolSettings]
) -> None:
    settings = settings_for(
        PatrolSettings, kafka_bootstrap=own_infra.kafka_bootstrap, mongo_uri=own_infra.mongo_uri
    )
    async with serve(create_app(settings)) as srv, httpx.AsyncClient(base_url=srv.url) as http:

        async def status() -> int:
            return (await http.get("/readyz", timeout=10)).status_code

        assert await status() == 200

        own_infra.infra("stop-kafka")
        await wait_until(lambda: _is(status, 503), timeout_s=30)
        body = (await http.get("/readyz", timeout=10)).json()
        assert body["checks"]["kafka"] is False and body["checks"]["database"] is True

        own_infra.infra("start-kafka")
        await wait_until(lambda: _is(status, 200), timeout_s=90)

        own_infra.infra("stop-ferretdb")
        await wait_until(lambda: _is(status, 503), timeout_s=30)
        body = (await http.get("/readyz", timeout=10)).json()
        assert body["checks"]["database"] is False

        own_infra.infra("start-ferretdb")
        await wait_until(lambda: _is(status, 200), timeout_s=60)
        assert (await http.get("/healthz")).status_code == 200


async def _is(status: Callable[[], object], expected: int) -> bool:
    return await status() == expected  # type: ignore[misc]
