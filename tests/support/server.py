"""Runs an app under a real uvicorn server inside the test's event loop, on a free port, so tests
speak real HTTP (streams included) and can stop and restart a service mid-test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI


class RunningServer:
    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, access_log=False,
                           lifespan="on", timeout_graceful_shutdown=10)
        )
        self.task: asyncio.Task[None] | None = None
        self.url = ""

    async def start(self, timeout_s: float = 120.0) -> str:
        self.server.config.setup_event_loop = lambda: None  # type: ignore[method-assign]
        self.task = asyncio.create_task(self.server.serve())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not self.server.started:
            if self.task.done():
                self.task.result()  # raises the start-up error
                raise RuntimeError("server stopped during start-up")
            if loop.time() > deadline:
                raise TimeoutError("server did not start")
            await asyncio.sleep(0.05)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        self.server.should_exit = True
        if self.task is not None:
            await asyncio.wait_for(self.task, 60)


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[RunningServer]:
    running = RunningServer(app)
    await running.start()
    try:
        yield running
    finally:
        await running.stop()
