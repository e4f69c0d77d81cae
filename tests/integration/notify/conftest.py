"""Helpers for notify's integration tests: a running notify app on the real broker and store,
incident snapshots to publish, an SSE reader and a webhook receiver (a real HTTP server)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI, Request, Response

from services.notify.app import create_app
from services.notify.settings import NotifySettings
from shared.events import (
    IncidentChangeData,
    IncidentEscalated,
    IncidentEscalatedData,
    IncidentOpened,
    IncidentSnapshot,
)
from shared.kafka import Publisher
from tests.support.server import RunningServer, serve

VILLAGE = "500114001001"  # 枫香村, 石溪镇
TOWNSHIP = "500114001"
DISTRICT = "500114"
CHAIN = {f"vc-{VILLAGE}", f"sv-{VILLAGE}", f"in-{VILLAGE}"}

FAST = {
    "stream_poll_interval_s": 0.1,
    "stream_keepalive_s": 1.0,
    "webhook_dispatch_interval_s": 0.1,
    "webhook_backoff_base_s": 0.2,
    "webhook_backoff_factor": 1.5,
    "webhook_backoff_max_s": 0.5,
    "webhook_retry_for_s": 60.0,
    "webhook_jitter": 0.0,
    "webhook_timeout_s": 2.0,
}


def snapshot(
    *,
    incident_id: str | None = None,
    type_: str = "fire",
    village: str = VILLAGE,
    level: int = 0,
    reporter_id: str | None = f"rg-{VILLAGE}-1",
    verified: bool = True,
    police: bool = False,
    neighbour_units: tuple[str, ...] = (),
    report_ids: tuple[str, ...] | None = None,
    status: str = "reported",
    severity: str = "general",
) -> IncidentSnapshot:
    now = datetime.now(UTC)
    return IncidentSnapshot(
        id=incident_id or str(uuid.uuid4()),
        type=type_,
        family="fire" if type_ in ("fire", "smoke", "hotspot") else "other",
        status=status,
        severity=severity,
        verified=verified,
        village=village,
        township=village[:9],
        district=village[:6],
        lat=29.43,
        lon=108.65,
        report_ids=report_ids or (str(uuid.uuid4()),),
        escalation_level=level,
        opened_at=now,
        observed_at=now,
        neighbour_units=neighbour_units,
        police=police,
        reporter_id=reporter_id,
    )


def opened(snap: Any) -> IncidentOpened:
    return IncidentOpened.new(
        IncidentChangeData(incident=snap, reason="report", report_id=snap.report_ids[0]),
        key=snap.id,
        producer="test",
    )


def escalated(snap: Any, a: int, b: int) -> IncidentEscalated:
    snap = snap.model_copy(update={"escalation_level": b})
    return IncidentEscalated.new(
        IncidentEscalatedData(
            incident=snap, reason="deadline", from_level=a, to_level=b, at=datetime.now(UTC)
        ),
        key=snap.id,
        producer="test",
    )


async def for_incident(n: Notify, person: str, incident_id: str) -> list[dict[str, Any]]:
    return [x for x in await n.inbox(person) if x["incident_id"] == incident_id]


@dataclass
class Notify:
    server: RunningServer
    settings: NotifySettings
    app: FastAPI
    publisher: Publisher
    token: Callable[[str], str]

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, person_id: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": self.token(person_id)} if person_id else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=10)

    async def inbox(self, person_id: str, **params: Any) -> list[dict[str, Any]]:
        async with self.client(person_id) as c:
            r = await c.get("/v1/inbox", params=params)
            r.raise_for_status()
            return list(r.json()["notifications"])


async def start_notify(
    settings: NotifySettings, token: Callable[[str], str]
) -> AsyncIterator[Notify]:
    app = create_app(settings)
    async with serve(app) as server:
        for consumer in app.state.runtime.consumers:
            await asyncio.wait_for(consumer.assigned.wait(), 30)
        publisher = Publisher(settings)
        await publisher.start()
        try:
            yield Notify(server, settings, app, publisher, token)
        finally:
            await publisher.stop()


@pytest.fixture
async def notify(settings_for: Any, token: Callable[[str], str]) -> AsyncIterator[Notify]:
    settings = settings_for(NotifySettings, **FAST)
    async for n in start_notify(settings, token):
        yield n


@dataclass
class SseReader:
    """Reads an SSE stream in the background; `events` are the parsed data objects."""

    events: list[dict[str, Any]] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    status: int | None = None
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    async def close(self) -> None:
        """Hang up (a server stopping waits for open streams to end)."""
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    async def wait_for(self, pred: Callable[[dict[str, Any]], bool], timeout_s: float = 10) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while loop.time() < deadline:
            for e in self.events:
                if pred(e):
                    return e
            await asyncio.sleep(0.02)
        raise AssertionError(f"no matching event in {self.events}")


async def _read_sse(url: str, headers: dict[str, str], reader: SseReader) -> None:
    async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=60)) as c:
        async with c.stream("GET", url, headers=headers) as r:
            reader.status = r.status_code
            reader.connected.set()
            if r.status_code != 200:
                return
            data: list[str] = []
            last_id = None
            async for line in r.aiter_lines():
                if line == "":
                    if data:
                        reader.events.append(orjson.loads("\n".join(data)))
                        reader.ids.append(last_id or "")
                    data = []
                elif line.startswith(":"):
                    reader.comments.append(line[1:].strip())
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif line.startswith("id:"):
                    last_id = line[3:].strip()


@pytest.fixture
async def sse() -> AsyncIterator[Callable[..., Any]]:
    """`reader = await sse(url, headers)` opens a stream read in the background."""
    tasks: list[asyncio.Task[None]] = []

    async def open_stream(url: str, headers: dict[str, str] | None = None) -> SseReader:
        reader = SseReader()
        reader.task = asyncio.create_task(_read_sse(url, headers or {}, reader))
        tasks.append(reader.task)
        await asyncio.wait_for(reader.connected.wait(), 10)
        await asyncio.sleep(0.05)
        return reader

    yield open_stream
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@dataclass
class Receiver:
    """A webhook receiver: answers `fail_first` requests with 500, then 200; records everything."""

    fail_first: int = 0
    always_fail: bool = False
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/hook")
        async def hook(request: Request) -> Response:
            body = await request.body()
            self.requests.append({"headers": dict(request.headers), "body": body})
            if self.always_fail or len(self.requests) <= self.fail_first:
                return Response(status_code=500)
            return Response(status_code=204)

        return app


@pytest.fixture
async def receiver() -> AsyncIterator[Callable[..., Any]]:
    servers: list[Any] = []

    async def make(**kw: Any) -> Receiver:
        rec = Receiver(**kw)
        cm = serve(rec.app())
        srv = await cm.__aenter__()
        servers.append(cm)
        rec.url = f"{srv.url}/hook"
        return rec

    yield make
    for cm in servers:
        await cm.__aexit__(None, None, None)
