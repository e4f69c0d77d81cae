"""Early refusals at the edge: a gate for a route answers 429 from the bearer token and a
per-person count before the request is routed or a byte of its body read, so a flood from one
person costs a dict lookup, not a parse. The route keeps its own check (defence in depth)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

from shared.auth import cached_person
from shared.errors import RateLimited
from shared.http import hulin_error_response
from shared.org import Person

# The app's state and the caller → the refusal to answer, or None to let the request through.
Check = Callable[[Any, Person], RateLimited | None]


@dataclass(frozen=True)
class Gate:
    check: Check
    query_token: bool = False  # an EventSource stream sends its token as `access_token`


def token_of(scope: Scope, *, query_token: bool) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            header: str = value.decode("latin-1")
            scheme, _, token = header.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    if query_token:
        query: bytes = scope.get("query_string", b"")
        found = parse_qs(query.decode("latin-1")).get("access_token")
        return found[0] if found else None
    return None


class EdgeGates:
    """Runs the gate of `app.state.edge_gates[(method, path)]`, if any. A request without a
    valid token, or before the app's use cases are up, goes on to the route, which answers as
    always (401, 503...)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            state = getattr(scope.get("app"), "state", None)
            gates: dict[tuple[str, str], Gate] = getattr(state, "edge_gates", None) or {}
            gate = gates.get((scope.get("method", ""), scope.get("path", "")))
            token = gate and token_of(scope, query_token=gate.query_token)
            person = cached_person(state, token) if gate and token else None
            refusal = gate.check(state, person) if gate and person else None
            if refusal is not None:
                await hulin_error_response(refusal)(scope, receive, send)
                return
        await self.app(scope, receive, send)
