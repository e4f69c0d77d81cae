"""The webhook channel for HQ (森防指): one signed JSON POST per try, `X-Hulin-Signature` an
HMAC-SHA256 over the exact body, and `X-Hulin-Signature-256` one over `X-Hulin-Timestamp` + "." +
body (docs/webhooks.md). What is sent when, and what a try's answer means, is the
dispatch use case's (usecases/webhook_dispatch.py); this never stores anything and never logs the
secret."""

from __future__ import annotations

import time

import httpx

from services.notify.domain import webhooks
from services.notify.usecases.webhook_dispatch import Sent

USER_AGENT = "hulin-notify/1"
ERROR_TEXT_MAX = 500


class HttpSender:
    """Posts deliveries with one pooled client (redirects not followed)."""

    def __init__(self, *, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.timeout_s, follow_redirects=False, headers={"User-Agent": USER_AGENT}
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
            resp = await self._http().post(url, content=body, headers=headers)
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


def _ms_since(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 1)
