"""The webhook channel for HQ (森防指): one signed JSON POST per try, `X-Hulin-Signature` an
HMAC-SHA256 over the exact body, and `X-Hulin-Signature-256` one over `X-Hulin-Timestamp` + "." +
body (docs/webhooks.md). What is sent when, and what a try's answer means, is the
dispatch use case's (usecases/webhook_dispatch.py); this never stores anything and never logs the
secret. Every connection goes to an address checked against the allowed destinations at the
moment of connecting (the name is resolved here, so a changed DNS answer cannot reach inside)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpcore
import httpx

from services.notify.domain import webhooks
from services.notify.usecases.webhook_dispatch import Sent

USER_AGENT = "hulin-notify/1"
ERROR_TEXT_MAX = 500
RESPONSE_MAX = 4096  # bytes of a receiver's answer read at most
REFUSED = "destination not allowed"  # says nothing of whether the target answers

Resolver = Callable[[str, int], Awaitable[list[str]]]


class Refused(Exception):
    """The destination is not public and not allowed."""


async def resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves the host itself, refuses unless every address is allowed, and connects to the
    address it checked; TLS still verifies and names (SNI) the original host."""

    def __init__(self, allow: webhooks.Destinations, resolver: Resolver) -> None:
        self.allow = allow
        self.resolver = resolver
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        literal = webhooks.literal_address(host)
        if literal is not None:
            addresses = [literal]
        elif self.allow.allows_name(host):
            return await self.inner.connect_tcp(host, port, timeout, local_address, socket_options)
        elif not webhooks.name_allowed(host, self.allow):
            raise Refused(host)
        else:
            resolved = await self.resolver(host, port)
            found = [webhooks.literal_address(a.split("%")[0]) for a in resolved]
            addresses = [a for a in found if a is not None]
        allowed = all(webhooks.address_allowed(a, self.allow) for a in addresses)
        if not addresses or not allowed:
            raise Refused(host)
        return await self.inner.connect_tcp(
            str(addresses[0]), port, timeout, local_address, socket_options
        )

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class HttpSender:
    """Posts deliveries with one pooled client (redirects not followed)."""

    def __init__(
        self,
        *,
        timeout_s: float,
        allow: webhooks.Destinations | None = None,
        resolver: Resolver = resolve,
    ) -> None:
        self.timeout_s = timeout_s
        self.allow = allow or webhooks.Destinations()
        self.resolver = resolver
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            transport = httpx.AsyncHTTPTransport(trust_env=False)
            # httpx takes no network backend; its pool is rebuilt with the guarded one
            transport._pool = httpcore.AsyncConnectionPool(
                ssl_context=httpx.create_ssl_context(),
                max_connections=100,
                max_keepalive_connections=20,
                keepalive_expiry=5.0,
                network_backend=GuardedBackend(self.allow, self.resolver),
            )
            self._client = httpx.AsyncClient(
                timeout=self.timeout_s,
                follow_redirects=False,
                trust_env=False,  # no proxy from the environment: it would connect unchecked
                headers={"User-Agent": USER_AGENT},
                transport=transport,
            )
        return self._client

    async def send(
        self,
        *,
        url: str,
        secret: str,
        body: bytes,
        delivery_id: str,
        event_type: str,
        attempt: int,
    ) -> Sent:
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "X-Hulin-Signature": webhooks.sign(secret, body),
            "X-Hulin-Timestamp": str(timestamp),
            "X-Hulin-Signature-256": webhooks.sign_timestamped(secret, timestamp, body),
            "X-Hulin-Delivery": delivery_id,
            "X-Hulin-Event": event_type,
            "X-Hulin-Attempt": str(attempt),
        }
        t0 = time.perf_counter()
        try:
            # One bound for the whole try (connect, send, answer, body): the client's timeout
            # is per phase, and a receiver trickling its answer would hold the try for ever.
            async with asyncio.timeout(self.timeout_s):
                async with self._http().stream("POST", url, content=body, headers=headers) as resp:
                    await _read_at_most(resp, RESPONSE_MAX)
        except TimeoutError:
            error = f"no answer within {self.timeout_s:g} s"
            return Sent(ok=False, status_code=None, error=error, duration_ms=_ms_since(t0))
        except Refused:
            return Sent(
                ok=False, status_code=None, error=REFUSED, duration_ms=_ms_since(t0), permanent=True
            )
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:ERROR_TEXT_MAX]
            return Sent(ok=False, status_code=None, error=error, duration_ms=_ms_since(t0))
        ok = 200 <= resp.status_code < 300
        return Sent(
            ok=ok,
            status_code=resp.status_code,
            error=None if ok else f"HTTP {resp.status_code}",
            duration_ms=_ms_since(t0),
        )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


async def _read_at_most(resp: httpx.Response, limit: int) -> int:
    """Read (and drop) at most `limit` bytes of the answer: only its status counts."""
    seen = 0
    async for chunk in resp.aiter_raw():
        seen += len(chunk)
        if seen >= limit:
            break
    return seen


def _ms_since(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 1)
