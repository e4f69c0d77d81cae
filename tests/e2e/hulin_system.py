"""The three services in the test's own event loop (real uvicorn, real Kafka and FerretDB), sharing
one topic prefix and database, for the cross-service tests (authorization matrix, schemathesis,
poison messages). Also the org facts those tests pick their villages and people from."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from shared.auth import issue_token
from shared.db import drop_databases
from shared.kafka.admin import delete_topics_with_prefix
from shared.org import Level, OrgDirectory, Role, load_org
from shared.settings import Settings
from tests.support.infra import ensure_infra, unique_name
from tests.support.server import RunningServer, serve

SERVICES = ("patrol", "incidents", "notify")
SETTINGS_CLASS = {
    "patrol": ("services.patrol.settings", "PatrolSettings"),
    "incidents": ("services.incidents.settings", "IncidentsSettings"),
    "notify": ("services.notify.settings", "NotifySettings"),
}


def settings_class(name: str) -> type[Settings]:
    module, cls = SETTINGS_CLASS[name]
    return getattr(importlib.import_module(module), cls)  # type: ignore[no-any-return]


def create_app(name: str, settings: Settings) -> Any:
    return importlib.import_module(f"services.{name}.app").create_app(settings)


@dataclass
class HulinSystem:
    prefix: str
    db: str
    servers: dict[str, RunningServer] = field(default_factory=dict)
    settings: dict[str, Settings] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return self.servers[name].url

    def runtime(self, name: str) -> Any:
        return self.servers[name].app.state.runtime

    async def consumers_assigned(self, timeout_s: float = 60.0) -> None:
        for server in self.servers.values():
            for consumer in server.app.state.runtime.consumers:
                await asyncio.wait_for(consumer.assigned.wait(), timeout_s)


@asynccontextmanager
async def running_system(
    names: Sequence[str] = SERVICES, overrides: dict[str, dict[str, Any]] | None = None
) -> AsyncIterator[HulinSystem]:
    await asyncio.to_thread(ensure_infra)
    name = unique_name("x")
    system = HulinSystem(prefix=f"{name}.", db=f"hulin_{name}")
    try:
        async with AsyncExitStack() as stack:
            for svc in names:
                settings = settings_class(svc)(
                    topic_prefix=system.prefix, mongo_db=system.db, env="test",
                    **(overrides or {}).get(svc, {}),
                )
                system.settings[svc] = settings
                system.servers[svc] = await stack.enter_async_context(
                    serve(create_app(svc, settings))
                )
            yield system
    finally:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient("mongodb://127.0.0.1:27017")
        try:
            await drop_databases(client, system.db)
        finally:
            await client.close()
        await delete_topics_with_prefix("127.0.0.1:9092", system.prefix)


def bearer(person_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(person_id, Settings())}"}


async def wait_for(fn: Any, timeout_s: float = 30.0, interval_s: float = 0.2) -> Any:
    """Await `fn()` until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        value = await fn()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval_s)


async def incident_of(client: httpx.AsyncClient, url: str, report_id: str, person: str,
                      timeout_s: float = 30.0) -> str:
    async def get() -> str | None:
        r = await client.get(f"{url}/v1/reports/{report_id}", headers=bearer(person))
        if r.status_code == 200 and r.json().get("incident_id"):
            return str(r.json()["incident_id"])
        return None

    return str(await wait_for(get, timeout_s))


# --- org facts ---------------------------------------------------------------------------------


def interior_villages(org: OrgDirectory) -> tuple[str, str]:
    """Two villages in different townships whose inner points lie > 1.5 km from any boundary, so
    an incident there is shared with no neighbour (scope tests must not see boundary sharing)."""
    best: dict[str, tuple[float, str]] = {}
    for unit in org.units.values():
        if unit.level is not Level.VILLAGE:
            continue
        lat, lon = unit.point
        d = org.distance_to_boundary_m(unit.code, lat, lon)
        township = org.township_of(unit.code).code
        if d > best.get(township, (0.0, ""))[0]:
            best[township] = (d, unit.code)
    ranked = sorted(best.values(), reverse=True)
    return ranked[0][1], ranked[1][1]


def person_of(org: OrgDirectory, unit: str, role: Role) -> str:
    people = org.people_in(unit, role)
    assert people, (unit, role)
    return people[0].id


def the_org() -> OrgDirectory:
    return load_org(Settings().org_file)
