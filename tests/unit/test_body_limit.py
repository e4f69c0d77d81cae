"""Request bodies are capped before anything reads them: authentication, JSON parsing, the route.
Issue 16, finding 3: an unauthenticated multi-GB body used to be read and parsed in full."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from shared.auth import CurrentPerson
from shared.http import install_common
from shared.org import load_org
from shared.settings import Settings


class Thing(BaseModel):
    text: str


def app_with(limit: int, per_path: dict[str, int] | None = None) -> FastAPI:
    app = FastAPI()
    app.state.settings = Settings(max_body_bytes=limit)
    app.state.org = load_org(None)
    app.state.body_limits = per_path or {}
    install_common(app, "test")

    @app.post("/v1/things")
    async def post_thing(thing: Thing, person: CurrentPerson) -> dict[str, str]:
        return {"text": thing.text}

    @app.post("/v1/bulk")
    async def post_bulk(thing: Thing) -> dict[str, int]:
        return {"length": len(thing.text)}

    return app


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


def body_of(size: int) -> bytes:
    return b'{"text": "' + b"x" * (size - 12) + b'"}'


async def test_a_declared_body_over_the_limit_is_refused_413_before_authentication() -> None:
    async with client(app_with(1000)) as http:
        answer = await http.post("/v1/things", content=body_of(5000))
    assert answer.status_code == 413
    assert answer.json()["errors"] == [{"field": "body", "reason": "at most 1000 bytes"}]
    assert answer.json()["code"] == "too_large"


async def test_a_streamed_body_is_cut_off_at_the_limit_without_reading_the_rest() -> None:
    pulled = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal pulled
        yield b'{"text": "'
        for _ in range(10_000):  # 10 MB if read to the end
            pulled += 1
            yield b"x" * 1000
        yield b'"}'

    async with client(app_with(4000)) as http:
        answer = await http.post("/v1/things", content=chunks())
    assert answer.status_code == 413
    assert pulled < 10


async def test_a_body_within_the_limit_reaches_authentication_as_before() -> None:
    async with client(app_with(1000)) as http:
        answer = await http.post("/v1/things", content=body_of(500))
    assert answer.status_code == 401


@pytest.mark.parametrize(("size", "status"), [(2999, 200), (3001, 413)])
async def test_a_path_the_factory_allows_more_takes_up_to_its_own_limit(
    size: int, status: int
) -> None:
    async with client(app_with(1000, {"/v1/bulk": 3000})) as http:
        answer = await http.post(
            "/v1/bulk", content=body_of(size), headers={"content-type": "application/json"}
        )
    assert answer.status_code == status


async def test_reads_are_not_capped() -> None:
    async with client(app_with(10)) as http:
        assert (await http.get("/healthz")).status_code == 200
