"""Early refusals (issue 16): a gate answers 429 before routing and before any body byte is
read, in the shape of the route's own 429; verified tokens are cached but revocation holds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from shared.auth import VerifiedTokens, issue_token
from shared.edge import Gate
from shared.errors import RateLimited, Unauthorized
from shared.http import install_common
from shared.org import Person, load_org
from shared.settings import Settings

HQ = "hq-500114"


def refuse_everyone(state: Any, person: Person) -> RateLimited | None:
    return RateLimited(f"no more for {person.id}", retry_after_s=7.2, field="id")


def app_with(gates: dict[tuple[str, str], Gate]) -> FastAPI:
    app = FastAPI()
    app.state.settings = Settings()
    app.state.org = load_org(None)
    app.state.edge_gates = gates
    install_common(app, "test")

    @app.post("/v1/things")
    async def post_thing(request: Request) -> dict[str, str]:
        await request.body()
        raise RateLimited(f"no more for {HQ}", retry_after_s=7.2, field="id")

    @app.get("/v1/stream")
    async def stream() -> dict[str, str]:
        return {"ok": "yes"}

    return app


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(HQ, Settings())}"}


async def test_a_gated_request_is_refused_429_before_a_byte_of_its_body_is_read() -> None:
    pulled = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal pulled
        for _ in range(100):
            pulled += 1
            yield b"x" * 100

    gated = app_with({("POST", "/v1/things"): Gate(refuse_everyone)})
    async with client(gated) as http:
        answer = await http.post("/v1/things", content=body(), headers=auth())
    async with client(app_with({})) as http:
        by_route = await http.post("/v1/things", content=b"{}", headers=auth())
    assert answer.status_code == 429
    assert pulled == 0
    assert answer.headers["retry-after"] == "8"
    assert answer.json() == by_route.json()
    assert answer.headers["retry-after"] == by_route.headers["retry-after"]


async def test_without_a_valid_token_the_gate_lets_the_route_answer() -> None:
    app = app_with({("GET", "/v1/stream"): Gate(refuse_everyone)})
    async with client(app) as http:
        assert (await http.get("/v1/stream")).status_code == 200
        bad = {"Authorization": "Bearer nonsense"}
        assert (await http.get("/v1/stream", headers=bad)).status_code == 200


async def test_a_gate_may_take_the_token_from_the_query_for_a_stream() -> None:
    token = issue_token(HQ, Settings())
    plain = app_with({("GET", "/v1/stream"): Gate(refuse_everyone)})
    streams = app_with({("GET", "/v1/stream"): Gate(refuse_everyone, query_token=True)})
    async with client(plain) as http:
        assert (await http.get(f"/v1/stream?access_token={token}")).status_code == 200
    async with client(streams) as http:
        assert (await http.get(f"/v1/stream?access_token={token}")).status_code == 429


def test_a_cached_token_revoked_afterwards_is_refused(tmp_path: Path) -> None:
    revoked = tmp_path / "revoked"
    settings = Settings(jwt_revoked_file=revoked)
    tokens = VerifiedTokens(settings)
    token = issue_token(HQ, settings)
    claims = tokens.claims(token)
    assert tokens.claims(token) is claims  # the second is a lookup
    revoked.write_text(f"{claims['jti']}\n")
    with pytest.raises(Unauthorized, match="revoked"):
        tokens.claims(token)


def test_the_cache_of_verified_tokens_is_bounded() -> None:
    settings = Settings()
    tokens = VerifiedTokens(settings, max_size=3)
    for _ in range(10):
        tokens.claims(issue_token(HQ, settings))
    assert len(tokens._claims) == 3


def test_an_invalid_token_is_never_cached() -> None:
    tokens = VerifiedTokens(Settings())
    for _ in range(2):
        with pytest.raises(Unauthorized):
            tokens.claims("nonsense")
    assert len(tokens._claims) == 0
