"""The simulator's HTTP side: what a ranger's phone, a chief's app and HQ send to Hulin, with the
retries a real offline-first app makes (an unanswered call is sent again with the same ids).

Speaks only the public HTTP contract (DESIGN.md); never imports a service, never reads a database.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from shared.auth import issue_token
from shared.settings import Settings

log = logging.getLogger("sim")

RETRY_STATUSES = {408, 425, 429, 500, 502, 503, 504}


@dataclass
class Endpoints:
    patrol: str = "http://127.0.0.1:8001"
    incidents: str = "http://127.0.0.1:8002"
    notify: str = "http://127.0.0.1:8003"


@dataclass
class Outcome:
    status: int  # 0: gave up without an answer
    body: Any = None
    attempts: int = 1


@dataclass
class Api:
    """An httpx client with a token per person and patient retries."""

    endpoints: Endpoints
    settings: Settings = field(default_factory=Settings)
    max_in_flight: int = 48
    give_up_s: float = 180.0
    calls: Counter[str] = field(default_factory=Counter)
    _tokens: dict[str, str] = field(default_factory=dict)
    _client: httpx.AsyncClient | None = None
    _sem: asyncio.Semaphore | None = None

    async def __aenter__(self) -> Api:
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(15.0, connect=5.0),
            limits=httpx.Limits(max_connections=self.max_in_flight * 2,
                                max_keepalive_connections=self.max_in_flight),
        )
        self._sem = asyncio.Semaphore(self.max_in_flight)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.aclose()

    def headers(self, person_id: str) -> dict[str, str]:
        token = self._tokens.get(person_id)
        if token is None:
            token = issue_token(person_id, self.settings, ttl_s=7 * 24 * 3600)
            self._tokens[person_id] = token
        return {"Authorization": f"Bearer {token}"}

    async def call(
        self,
        method: str,
        url: str,
        person_id: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        content_type: str | None = None,
        params: dict[str, Any] | None = None,
        retry: bool = True,
        give_up_s: float | None = None,
    ) -> Outcome:
        """One call, retried on no answer / 5xx / 429 until `give_up_s` (the app's outbox)."""
        assert self._client is not None and self._sem is not None
        headers = self.headers(person_id)
        if content_type:
            headers["Content-Type"] = content_type
        deadline = time.monotonic() + (give_up_s if give_up_s is not None else self.give_up_s)
        attempts = 0
        delay = 0.2
        while True:
            attempts += 1
            status, body = 0, None
            try:
                async with self._sem:
                    r = await self._client.request(
                        method, url, json=json, content=content, params=params, headers=headers
                    )
                status = r.status_code
                try:
                    body = r.json()
                except ValueError:
                    body = r.text
            except httpx.HTTPError as exc:
                body = repr(exc)
            key = f"{method} {status}"
            self.calls[key] += 1
            if status and status not in RETRY_STATUSES:
                return Outcome(status, body, attempts)
            if not retry or time.monotonic() > deadline:
                return Outcome(status, body, attempts)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
