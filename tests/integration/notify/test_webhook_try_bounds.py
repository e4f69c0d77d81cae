"""One webhook try is bounded in total time and in the bytes read of the answer, against real
receivers on loopback: one that answers its headers and then trickles its body for ever, one
that answers a huge body at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from services.notify.channels.webhook import HttpSender
from services.notify.domain.webhooks import Destinations

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _drain_request(reader: asyncio.StreamReader) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    sizes = [int(h.split(b":")[1]) for h in lines if h.lower().startswith(b"content-length")]
    length = sizes[0] if sizes else 0
    await reader.readexactly(length)


async def trickling(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _drain_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n")
    try:
        while True:  # a byte every 50 ms: each read is well inside any per-phase timeout
            writer.write(b".")
            await writer.drain()
            await asyncio.sleep(0.05)
    except (ConnectionError, asyncio.CancelledError):
        pass


async def flooding(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _drain_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n")
    sent = 0
    try:
        while sent < 1 << 30:
            writer.write(b"x" * 65536)
            await writer.drain()
            sent += 65536
    except (ConnectionError, asyncio.CancelledError):
        pass


@pytest.fixture
async def receiver(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    handler: Handler = request.param
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        server.close()


async def _send(url: str, timeout_s: float) -> tuple[float, object]:
    sender = HttpSender(timeout_s=timeout_s, allow=Destinations.parse(["127.0.0.1"]))
    t0 = time.perf_counter()
    try:
        sent = await sender.send(
            url=url, secret="s", body=b"{}", delivery_id="d", event_type="e", attempt=1
        )
    finally:
        await sender.close()
    return time.perf_counter() - t0, sent


@pytest.mark.parametrize("receiver", [trickling], indirect=True)
async def test_a_receiver_trickling_its_answer_ends_the_try_at_the_total_bound(
    receiver: str,
) -> None:
    took, sent = await _send(receiver, timeout_s=1.0)
    assert took < 2.5
    assert not sent.ok and "no answer within 1 s" in (sent.error or "")  # type: ignore[attr-defined]


@pytest.mark.parametrize("receiver", [flooding], indirect=True)
async def test_a_huge_answer_is_not_read_past_a_few_kilobytes(receiver: str) -> None:
    took, sent = await _send(receiver, timeout_s=5.0)
    assert sent.ok and sent.status_code == 200  # type: ignore[attr-defined]
    assert took < 2.5  # reading the whole GiB on loopback takes seconds
