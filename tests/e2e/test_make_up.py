"""The README's first command on this machine: `make up` starts Kafka (a Java `kafka.Kafka`),
FerretDB and the three services, all answering /readyz; a second `make up` while everything runs
changes nothing; `make down` then `make up` keeps the stored data. Runs on ports and a state
directory of its own, so it never touches a developer's running system."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import httpx
import pytest

from shared.auth import issue_token
from shared.settings import Settings
from tests.support.dedicated import DedicatedInfra
from tests.support.infra import ROOT, free_port


@pytest.fixture
def system(tmp_path: Path) -> Iterator[dict[str, str]]:
    infra = DedicatedInfra.create(tmp_path / "state")
    env = infra.env
    ports = {name: str(free_port()) for name in ("patrol", "incidents", "notify")}
    env.update(
        HULIN_PATROL_PORT=ports["patrol"],
        HULIN_INCIDENTS_PORT=ports["incidents"],
        HULIN_NOTIFY_PORT=ports["notify"],
        HULIN_INCIDENTS_BASE_URL=f"http://127.0.0.1:{ports['incidents']}",
        HULIN_MONGO_DB=f"hulin_makeup_{uuid4().hex[:8]}",
        HULIN_TOPIC_PREFIX=f"mu{uuid4().hex[:6]}.",
    )
    env.pop("MAKEFLAGS", None)
    try:
        yield {**env, **{f"port_{k}": v for k, v in ports.items()}}
    finally:
        subprocess.run(["make", "-s", "down"], cwd=ROOT, env=env, check=False)


def make(env: dict[str, str], target: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["make", "-s", target], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def pids(state: Path) -> dict[str, str]:
    return {p.stem: p.read_text().strip() for p in sorted((state / "run").glob("*.pid"))}


def test_make_up_twice_is_harmless_and_data_survives_down_and_up(system: dict[str, str]) -> None:
    state = Path(system["HULIN_STATE_DIR"])
    out = make(system, "up")
    assert f"http://127.0.0.1:{system['port_notify']}/console" in out.stdout
    for name in ("patrol", "incidents", "notify"):
        r = httpx.get(f"http://127.0.0.1:{system[f'port_{name}']}/readyz", timeout=10)
        assert r.status_code == 200, (name, r.text)

    kafka_pid = pids(state)["kafka"]
    cmdline = Path(f"/proc/{kafka_pid}/cmdline").read_bytes().split(b"\0")
    assert cmdline[0].endswith(b"java") and b"kafka.Kafka" in cmdline
    ferret_cmd = Path(f"/proc/{pids(state)['ferretdb']}/cmdline").read_bytes()
    assert b"ferretdb" in ferret_cmd and b"127.0.0.1:" in ferret_cmd

    # something stored through the public API, to find again after a restart
    settings = Settings(env="dev")
    headers = {"Authorization": f"Bearer {issue_token('rg-500114001001-1', settings)}"}
    patrol_id = str(uuid4())
    started = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    base = f"http://127.0.0.1:{system['port_patrol']}"
    r = httpx.post(f"{base}/v1/patrols", json={"id": patrol_id, "started_at": started},
                   headers=headers, timeout=10)
    assert r.status_code == 201, r.text

    before = pids(state)
    make(system, "up")
    assert pids(state) == before, "a second `make up` must not restart anything"

    make(system, "down")
    assert not list((state / "run").glob("*.pid"))
    make(system, "up")
    r = httpx.get(f"{base}/v1/patrols/{patrol_id}", headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == patrol_id
    assert os.path.isdir(state / "ferretdb")
