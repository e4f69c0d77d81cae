"""The audit log (issue 16, finding 13): who read positions, tracks and reports, and who uploaded
hotspots. One JSON line per audited request on the `hulin.audit` logger, denied attempts
included; never the token, never the body."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.auth import cached_person
from shared.edge import token_of
from shared.logging import correlation_id
from shared.org import Person

audit_log = logging.getLogger("hulin.audit")

# (method, route template) audited per service: the reads of where people are and what was
# reported, and the hotspot uploads.
AUDITED: dict[str, tuple[tuple[str, str], ...]] = {
    "patrol": (
        ("GET", "/v1/positions"),
        ("GET", "/v1/patrols/{patrol_id}"),
        ("GET", "/v1/patrols/{patrol_id}/track"),
    ),
    "incidents": (
        ("GET", "/v1/reports/{report_id}"),
        ("POST", "/v1/hotspots"),
    ),
}


@dataclass(frozen=True)
class AuditedRoute:
    method: str
    template: str
    pattern: re.Pattern[str]


def compile_routes(routes: tuple[tuple[str, str], ...]) -> tuple[AuditedRoute, ...]:
    out = []
    for method, template in routes:
        parts = re.split(r"\{[^}/]+\}", template)
        regex = "[^/]+".join(re.escape(p) for p in parts)
        out.append(AuditedRoute(method, template, re.compile(f"^{regex}/?$")))
    return tuple(out)


def audited_route(routes: tuple[AuditedRoute, ...], method: str, path: str) -> str | None:
    """The template of the audited route `method path` falls under, or None."""
    for route in routes:
        if route.method == method and route.pattern.match(path):
            return route.template
    return None


def without_secrets(query: str) -> str:
    """The query as sent, a token in it (`access_token`) left out."""
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(k, v) for k, v in pairs if k != "access_token"])


class AuditMiddleware:
    """Writes the audit record of each audited request once it is answered. The caller is
    named from the bearer token (verified, cached); a request without a valid one is recorded
    with no person."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service
        self.routes = compile_routes(AUDITED.get(service, ()))

    def caller(self, state: Any, scope: Scope) -> Person | None:
        token = token_of(scope, query_token=False)
        if token is None or state is None:
            return None
        return cached_person(state, token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.routes:
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "")
        path = scope.get("path", "")
        template = audited_route(self.routes, method, path)
        if template is None:
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            person = self.caller(getattr(scope.get("app"), "state", None), scope)
            client = scope.get("client")
            query: bytes = scope.get("query_string", b"")
            record = {
                "time": datetime.now(UTC).isoformat(),
                "service": self.service,
                "person": person.id if person else None,
                "role": person.role.value if person else None,
                "unit": person.unit if person else None,
                "method": method,
                "route": template,
                "path": path,
                "query": without_secrets(query.decode("latin-1")),
                "status": status,
                "client": client[0] if client else None,
                "request_id": correlation_id.get(),
            }
            audit_log.info(json.dumps(record, ensure_ascii=False))
