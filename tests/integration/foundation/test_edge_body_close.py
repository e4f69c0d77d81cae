"""A body over the limit ends at the limit on a real uvicorn server: the 413 says
`Connection: close` and the server drops the connection instead of reading the rest (issue 16:
it used to drain each refused GiB)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel

from shared.http import install_common
from shared.org import load_org
from shared.settings import Settings
from tests.support.infra import free_port

LIMIT = 1_048_576
GIB = 1 << 30
BLOCK = b"x" * 65536


class Thing(BaseModel):
    text: str


@pytest.fixture
def server() -> Iterator[int]:
    app = FastAPI()
    app.state.settings = Settings(max_body_bytes=LIMIT)
    app.state.org = load_org(None)
    install_common(app, "test")

    @app.post("/v1/things")
    async def post_thing(thing: Thing) -> dict[str, str]:
        return {"text": thing.text}

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield port
    srv.should_exit = True
    thread.join(10)


def push_a_gib(port: int, head: bytes, *, chunked: bool) -> tuple[int, bytes, bool]:
    """Writes up to 1 GiB after `head` until the server closes; the bytes sent, what it
    answered, and whether it closed the connection."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(head)
    sent, answer, closed = 0, b"", False
    frame = b"%x\r\n" % len(BLOCK) + BLOCK + b"\r\n" if chunked else BLOCK
    sock.setblocking(False)
    deadline = time.monotonic() + 30
    while sent < GIB and time.monotonic() < deadline:
        try:
            sent += sock.send(frame)
        except BlockingIOError:
            time.sleep(0.001)
        except OSError:
            closed = True
        try:
            got = sock.recv(65536)
            if not got:
                closed = True
            answer += got
        except BlockingIOError:
            pass
        except OSError:
            closed = True
        if closed:
            break
    sock.close()
    return sent, answer, closed


def test_a_declared_gib_is_answered_413_and_the_connection_closed_unread(server: int) -> None:
    head = (
        b"POST /v1/things HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % GIB
    )
    sent, answer, closed = push_a_gib(server, head, chunked=False)
    assert answer.startswith(b"HTTP/1.1 413")
    assert b"connection: close" in answer.lower()
    assert closed
    assert sent < 16 * LIMIT  # a few socket buffers, never the GiB


def test_a_chunked_gib_is_cut_at_the_limit_and_the_connection_closed(server: int) -> None:
    head = (
        b"POST /v1/things HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    sent, answer, closed = push_a_gib(server, head, chunked=True)
    assert answer.startswith(b"HTTP/1.1 413")
    assert closed
    assert sent < LIMIT + 16 * LIMIT
