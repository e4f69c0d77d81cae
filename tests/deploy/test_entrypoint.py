"""The container entrypoint starts the right service and hands SIGTERM to uvicorn, which stops
accepting, finishes the request in flight and only then runs the app's lifespan shutdown (where
the services stop their consumers, commit offsets and close Kafka and MongoDB).

No Docker here: the script runs as the image would run it, against a stand-in `uvicorn` for the
argument checks and the real uvicorn serving a stand-in app for the shutdown order.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ENTRYPOINT = REPO / "deploy" / "docker" / "entrypoint.sh"
HEALTHCHECK = REPO / "deploy" / "docker" / "healthcheck.py"
VENV_BIN = Path(sys.executable).parent

FAKE_UVICORN = """#!/bin/sh
echo "pid=$$"
for arg in "$@"; do echo "arg=$arg"; done
"""


@pytest.fixture
def fake_bin(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    uvicorn = bin_dir / "uvicorn"
    uvicorn.write_text(FAKE_UVICORN)
    uvicorn.chmod(0o755)
    return bin_dir


def _run(fake_bin: Path, *args: str, **env: str) -> tuple[int, int, list[str]]:
    proc = subprocess.Popen(
        ["sh", str(ENTRYPOINT), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={"PATH": f"{fake_bin}:/usr/bin:/bin", **env},
    )
    out, _ = proc.communicate(timeout=10)
    return proc.returncode, proc.pid, out.splitlines()


@pytest.mark.parametrize(
    ("service", "port"), [("patrol", 8001), ("incidents", 8002), ("notify", 8003)]
)
def test_entrypoint_runs_the_service_module_on_its_contract_port(
    fake_bin: Path, service: str, port: int
) -> None:
    code, _, lines = _run(fake_bin, service)
    assert code == 0
    args = [line.removeprefix("arg=") for line in lines if line.startswith("arg=")]
    assert args[0] == f"services.{service}.app:create_app"
    assert "--factory" in args
    assert args[args.index("--port") + 1] == str(port)
    assert args[args.index("--host") + 1] == "0.0.0.0"
    assert args[args.index("--timeout-graceful-shutdown") + 1] == "15"


def test_entrypoint_replaces_itself_with_uvicorn(fake_bin: Path) -> None:
    # Same pid as the process the container runtime started: SIGTERM goes straight to uvicorn.
    _, pid, lines = _run(fake_bin, "patrol")
    assert f"pid={pid}" in lines


def test_entrypoint_takes_port_and_extra_uvicorn_options(fake_bin: Path) -> None:
    _, _, lines = _run(fake_bin, "notify", "--workers", "1", HULIN_PORT="9003")
    args = [line.removeprefix("arg=") for line in lines if line.startswith("arg=")]
    assert args[args.index("--port") + 1] == "9003"
    assert args[-2:] == ["--workers", "1"]


@pytest.mark.parametrize("args", [(), ("billing",), ("--help",)])
def test_entrypoint_refuses_anything_but_the_three_services(
    fake_bin: Path, args: tuple[str, ...]
) -> None:
    code, _, lines = _run(fake_bin, *args)
    assert code == 64
    assert any("usage: entrypoint.sh patrol|incidents|notify" in line for line in lines)
    assert not any(line.startswith("arg=") for line in lines)


# A stand-in app at services.patrol.app (found first on PYTHONPATH): a plain ASGI app whose slow
# endpoint and lifespan shutdown write to a log, so the test can see the order of events.
STAND_IN_APP = """
import asyncio
import os


def _log(line):
    with open(os.environ["HULIN_TEST_LOG"], "a") as f:
        f.write(line + "\\n")


def create_app():
    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    _log("lifespan shutdown")
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        if scope["path"] == "/slow":
            _log("request started")
            await asyncio.sleep(1.5)
            _log("request finished")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return app
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_for(predicate: object, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except OSError:
        return 0


def test_sigterm_finishes_the_request_in_flight_then_runs_lifespan_shutdown(
    tmp_path: Path,
) -> None:
    app_dir = tmp_path / "app" / "services" / "patrol"
    app_dir.mkdir(parents=True)
    (app_dir.parent / "__init__.py").write_text("")
    (app_dir / "__init__.py").write_text("")
    (app_dir / "app.py").write_text(STAND_IN_APP)
    log = tmp_path / "events.log"
    log.write_text("")
    port = _free_port()
    proc = subprocess.Popen(
        ["sh", str(ENTRYPOINT), "patrol"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={
            **os.environ,
            "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
            "PYTHONPATH": str(tmp_path / "app"),
            "HULIN_PORT": str(port),
            "HULIN_HOST": "127.0.0.1",
            "HULIN_TEST_LOG": str(log),
        },
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for(lambda: _get(f"{base}/healthz") == 200, 20)
        # The image's HEALTHCHECK script agrees the service is alive.
        assert subprocess.run([sys.executable, str(HEALTHCHECK), str(port)]).returncode == 0

        result: dict[str, int] = {}
        slow = threading.Thread(target=lambda: result.update(status=_get(f"{base}/slow")))
        slow.start()
        _wait_for(lambda: "request started" in log.read_text(), 10)

        proc.send_signal(signal.SIGTERM)
        # Stops accepting at once, while the slow request is still being served.
        _wait_for(lambda: _get(f"{base}/healthz") == 0, 1.0)
        assert "request finished" not in log.read_text()

        slow.join(timeout=10)
        assert result.get("status") == 200  # the request in flight was finished, not cut
        # Recent uvicorn re-raises the signal once shut down, so the exit status says SIGTERM
        # (143 in Docker); older ones exit 0. Either is a clean stop; a kill would be SIGKILL.
        assert proc.wait(timeout=20) in (0, -signal.SIGTERM)
        assert log.read_text().splitlines() == [
            "request started",
            "request finished",
            "lifespan shutdown",  # consumers commit and clients close only after that
        ]
        assert subprocess.run([sys.executable, str(HEALTHCHECK), str(port)]).returncode == 1
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
