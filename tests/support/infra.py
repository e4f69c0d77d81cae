"""Test access to the real infrastructure: makes sure the local Kafka and FerretDB run (starting
them through scripts/infra.sh if not) and hands each test its own topic prefix and database."""

from __future__ import annotations

import os
import socket
import subprocess
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def ensure_infra() -> None:
    """Start the shared local Kafka and FerretDB if they are not listening yet."""
    if port_open(9092) and port_open(27017):
        return
    subprocess.run([str(ROOT / "scripts" / "infra.sh"), "up"], check=True)


def unique_name(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def infra_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env
