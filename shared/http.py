"""What every Hulin HTTP app has: health, readiness, metrics, correlation ids, request metrics and
one error mapping (typed errors and validation failures become a 4xx naming the field and why).

It never holds a route of a particular service.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka.errors import KafkaError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pymongo.errors import ConnectionFailure as PyMongoConnectionFailure
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import metrics
from shared.errors import HulinError, RateLimited
from shared.logging import correlation_id
from shared.settings import Settings

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[bool]]

# A request body larger than this is refused unread unless the app allows more for its path.
DEFAULT_MAX_BODY_BYTES: int = Settings.model_fields["max_body_bytes"].default


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """`("body", "points", 3, "lat")` → `points[3].lat`; query/header names keep their place."""
    parts = list(loc)
    if parts and parts[0] == "body":
        parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "body"


def error_body(message: str, errors: list[dict[str, str]]) -> dict[str, Any]:
    return {"detail": message, "errors": errors}


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for err in exc.errors():
        reason = str(err.get("msg", "invalid"))
        if reason.startswith("Value error, "):
            reason = reason[len("Value error, ") :]
        errors.append({"field": field_path(err.get("loc", ())), "reason": reason})
    summary = "; ".join(f"{e['field']}: {e['reason']}" for e in errors[:5])
    return JSONResponse(status_code=422, content=error_body(summary or "invalid request", errors))


async def _hulin_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HulinError)
    return hulin_error_response(exc)


def hulin_error_response(exc: HulinError) -> JSONResponse:
    """A typed error's answer, whoever raises it (a route, or a gate before routing)."""
    errors = [{"field": exc.field, "reason": exc.message}] if exc.field else []
    if exc.errors:
        errors = list(exc.errors)
    body = error_body(exc.message, errors)
    body["code"] = exc.code
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    if isinstance(exc, RateLimited):
        headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))}
    return JSONResponse(status_code=exc.status, content=body, headers=headers)


class RequestContextMiddleware:
    """Pure ASGI (streams stay streams): correlation id in and out, request metrics."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cid = None
        for name, value in scope.get("headers", []):
            if name == b"x-correlation-id":
                cid = value.decode("latin-1")[:64]
                break
        cid = cid or uuid.uuid4().hex
        token = correlation_id.set(cid)
        status = 500
        start = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-correlation-id", cid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "GET")
            metrics.http_requests_total.labels(self.service, method, path, str(status)).inc()
            metrics.http_request_seconds.labels(self.service, method, path).observe(
                time.perf_counter() - start
            )
            correlation_id.reset(token)


class _TooLarge(Exception):
    """Raised into the app when the body it is reading passes the limit."""


class BodyLimitMiddleware:
    """Caps request bodies before anything parses them, authentication included: a declared
    `Content-Length` over the limit is answered 413 unread; a streamed body is counted as it
    arrives and cut off at the limit. The limit is the app's `max_body_bytes` setting, or the
    one the factory set for a path in `app.state.body_limits` (e.g. a bulk upload)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    @staticmethod
    def limit_for(scope: Scope) -> int:
        state = getattr(scope.get("app"), "state", None)
        per_path: dict[str, int] = getattr(state, "body_limits", None) or {}
        path = scope.get("path", "")
        if path in per_path:
            return per_path[path]
        settings = getattr(state, "settings", None)
        return int(getattr(settings, "max_body_bytes", DEFAULT_MAX_BODY_BYTES))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > limit:
                    await _too_large(send, limit)
                    return
        seen = 0
        cut = False
        started = False

        async def counted() -> Message:
            nonlocal seen, cut
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    cut = True
                    raise _TooLarge
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if cut:
                return  # the app's answer to a body cut short is replaced by the 413
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except _TooLarge:
            pass
        if cut and not started:
            await _too_large(send, limit)


async def _too_large(send: Send, limit: int) -> None:
    body = error_body(
        f"request body larger than {limit} bytes",
        [{"field": "body", "reason": f"at most {limit} bytes"}],
    )
    body["code"] = "too_large"
    # `close`: the server then drops the connection instead of reading the rest of the body
    answer = JSONResponse(status_code=413, content=body, headers={"Connection": "close"})
    await answer({"type": "http"}, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


class BrowserOriginsMiddleware:
    """CORS for browser pages of other Hulin origins (the console, served by notify, acknowledges
    through incidents). The allowed origins come from the app's settings (`cors_origin_regex`),
    read at the first request, so each service's factory keeps its shape; no credentials (cookies)
    are ever allowed: the APIs use bearer tokens the page sets itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._inner: ASGIApp | None = None

    def _build(self, scope: Scope) -> ASGIApp:
        settings = getattr(getattr(scope.get("app"), "state", None), "settings", None)
        regex = getattr(settings, "cors_origin_regex", "") or ""
        if not regex:
            return self.app
        return CORSMiddleware(
            self.app,
            allow_origin_regex=regex,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Correlation-Id", "Last-Event-ID"],
            expose_headers=["X-Correlation-Id"],
            allow_credentials=False,
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._inner is None:
            self._inner = self._build(scope)
        await self._inner(scope, receive, send)


# Faults of the infrastructure seen by a request: the caller should retry, not report a bug.
INFRASTRUCTURE_ERRORS: tuple[type[Exception], ...] = (PyMongoConnectionFailure, KafkaError)


async def _infrastructure_error(request: Request, exc: Exception) -> JSONResponse:
    log.warning("request failed on the infrastructure", extra={"error": repr(exc)})
    body = error_body("the database or the message broker is unavailable; retry shortly", [])
    body["code"] = "unavailable"
    return JSONResponse(status_code=503, content=body, headers={"Retry-After": "5"})


ERROR_SCHEMA: dict[str, Any] = {
    "title": "HulinError",
    "type": "object",
    "required": ["detail", "errors"],
    "properties": {
        "detail": {"type": "string", "description": "what is wrong, in one line"},
        "errors": {
            "type": "array",
            "description": "each faulty field and why",
            "items": {
                "type": "object",
                "required": ["field", "reason"],
                "properties": {"field": {"type": "string"}, "reason": {"type": "string"}},
            },
        },
        "code": {"type": "string", "description": "a stable machine-readable error code"},
    },
}
ERROR_RESPONSES = {
    "401": "missing, invalid or expired bearer token",
    "403": "your role may not do this",
    "404": "not found, or outside your scope",
    "409": "conflicts with the current state",
    "413": "the request body is larger than this path takes",
    "422": "a field is invalid: `errors` names each one and why",
    "429": "too many requests of this kind from you: retry after `Retry-After` seconds",
    "503": "the database or the broker is unavailable; retry",
}


def _document_errors(app: FastAPI) -> None:
    """The OpenAPI document describes the error answers the apps really give (not FastAPI's
    default validation shape), on every /v1 operation."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas["HTTPValidationError"] = ERROR_SCHEMA  # keeps FastAPI's own $refs valid
        schemas.pop("ValidationError", None)
        ref = {"$ref": "#/components/schemas/HTTPValidationError"}
        for path, operations in schema.get("paths", {}).items():
            if not path.startswith("/v1"):
                continue
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                for status, description in ERROR_RESPONSES.items():
                    responses[status] = {
                        "description": description,
                        "content": {"application/json": {"schema": ref}},
                    }
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def install_common(app: FastAPI, service: str) -> None:
    """Health, readiness, metrics, error mapping, CORS and the request middleware; the app's
    `state.edge_gates` (if any) refuse before routing (`shared.edge`)."""
    from shared.audit import AuditMiddleware  # audit names the caller as edge does
    from shared.edge import EdgeGates  # edge answers with this module's error shape

    app.state.readiness = {}
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(EdgeGates)
    app.add_middleware(BrowserOriginsMiddleware)
    app.add_middleware(AuditMiddleware, service=service)
    app.add_middleware(RequestContextMiddleware, service=service)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HulinError, _hulin_error)
    for error in INFRASTRUCTURE_ERRORS:
        app.add_exception_handler(error, _infrastructure_error)
    _document_errors(app)

    @app.get("/healthz", tags=["ops"], summary="Alive (the process answers)")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @app.get("/readyz", tags=["ops"], summary="Ready: Kafka and the database reachable now")
    async def readyz(request: Request) -> Response:
        checks: dict[str, ReadinessCheck] = request.app.state.readiness
        results = {name: await check() for name, check in checks.items()}
        ok = bool(results) and all(results.values())
        body = {"status": "ready" if ok else "not ready", "checks": results}
        return JSONResponse(status_code=200 if ok else 503, content=body)

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics")
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
