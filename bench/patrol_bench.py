"""Benchmark of the patrol ingest path (`make bench-patrol`): accepted points per second through
`POST /v1/patrols/{id}/points` (batches of 1000, 4 concurrent clients) beside the ceiling measured
in the same run — aiokafka alone producing the same serialised events (acks=all, idempotent,
linger 5 ms, 1 MiB batches: the service's producer settings; 4 sends in flight like the 4
clients). Prints figures; never asserts timing.

Shapes (each one a separate service start on a fresh topic prefix and database; all on this
machine, with Kafka, FerretDB and the load generator):
- `split` (default, the deployed shape, deploy/k8s): one process serving the API with
  HULIN_PATROL_CONSUMERS=false (`hulin-patrol`) and one worker process with HULIN_PATROL_API=false
  running the points consumer (`hulin-patrol-worker`), both started by the bench.
- `single`: one process doing both (HTTP and the points consumer on one event loop), as the
  default settings run it (tests, a one-process installation).
- `ingest-only` (`--ingest-only`): the API process alone, nothing stores the points.
The default run measures `split` then `single`; the ceiling is measured once, after them, and
each shape's ratio is against it.

The load generator shares the machine with the service, so it is kept cheap: every request body
(distinct seqs, so nothing is a duplicate) is built before the timed loop — as the ceiling uses
prebuilt bytes — and sent by a minimal HTTP/1.1 keep-alive client on asyncio streams
(bench.common.RawHttp, one connection per client; status, headers and the JSON answer are read
and checked). If the service outruns the prebuilt bodies, the rest are built inside the loop and
counted in `bodies_built_in_loop`.

Run: `make bench-patrol` (or `.venv/bin/python bench/patrol_bench.py --seconds 20`).
Needs Kafka and FerretDB up (`scripts/infra.sh up`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import RawHttp  # noqa: E402
from services.patrol.settings import PatrolSettings  # noqa: E402
from shared.auth import issue_token  # noqa: E402

RANGERS = ["rg-500114001001-1", "rg-500114002001-1", "rg-500114003001-1", "rg-500114001002-1"]
BATCH = 1000
# Bodies prebuilt per client and second of the run (100 ≈ 400,000 points/s for 4 clients).
PREBUILT_PER_S = 100


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def batch_body(patrol_start: datetime, seq0: int) -> bytes:
    t0 = patrol_start.timestamp()
    pts = []
    for i in range(BATCH):
        k = seq0 + i
        pts.append(
            {
                "seq": k,
                "t": datetime.fromtimestamp(t0 + 1 + k * 0.05, UTC),  # orjson: RFC 3339
                "lat": 29.41 + (k % 5000) * 0.000005,
                "lon": 108.648 + (k % 3000) * 0.000005,
                "accuracy_m": 5.0,
            }
        )
    return orjson.dumps({"points": pts})


async def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient() as c:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError("service exited during start-up")
            try:
                if (await c.get(f"{url}/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.3)
    raise TimeoutError("service not ready")


async def run_clients(url: str, settings: PatrolSettings, seconds: float) -> dict[str, Any]:
    # Fixes are 0.05 s apart, so 100 h leave 7.2 M seqs per patrol before a fix would lie in the
    # future (a 422): 7,200 batches per client, far above what 20 s can send.
    start = (datetime.now(UTC) - timedelta(hours=100)).replace(microsecond=0)
    accepted = 0
    requests = 0
    errors = 0
    error_statuses: dict[str, int] = {}
    latencies: list[float] = []
    patrols: list[tuple[str, str]] = []
    limits = httpx.Limits(max_connections=4, max_keepalive_connections=4)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        for ranger in RANGERS:
            pid = str(uuid.uuid4())
            auth = f"Bearer {issue_token(ranger, settings)}"
            r = await client.post(
                "/v1/patrols",
                json={"id": pid, "started_at": start.isoformat()},
                headers={"Authorization": auth},
            )
            r.raise_for_status()
            patrols.append((pid, auth))
        # Warm-up: one batch each (connections, JIT-free but caches and topic metadata).
        bodies = {pid: batch_body(start, 0) for pid, _ in patrols}
        for pid, auth in patrols:
            await client.post(
                f"/v1/patrols/{pid}/points",
                content=bodies[pid],
                headers={"Authorization": auth, "Content-Type": "application/json"},
            )

        # Every body of the run, built before the clock starts (distinct seqs per patrol).
        per_client = int(seconds * PREBUILT_PER_S) + 1
        prebuilt = [batch_body(start, BATCH * (1 + i)) for i in range(per_client)]
        built_in_loop = 0
        host, port = url.removeprefix("http://").split(":")
        stop_at = time.perf_counter() + seconds

        async def one(pid: str, auth: str) -> None:
            nonlocal accepted, requests, errors, built_in_loop
            conn = RawHttp(host, int(port))
            path = f"/v1/patrols/{pid}/points"
            i = 0
            try:
                while time.perf_counter() < stop_at:
                    if i < len(prebuilt):
                        body = prebuilt[i]
                    else:
                        body = batch_body(start, BATCH * (1 + i))
                        built_in_loop += 1
                    i += 1
                    t = time.perf_counter()
                    status, answer = await conn.post(path, body, auth)
                    latencies.append(time.perf_counter() - t)
                    requests += 1
                    if status == 202:
                        accepted += answer["accepted"]
                    else:
                        errors += 1
                        error_statuses[str(status)] = error_statuses.get(str(status), 0) + 1
            finally:
                await conn.close()

        t0 = time.perf_counter()
        await asyncio.gather(*(one(pid, auth) for pid, auth in patrols))
        elapsed = time.perf_counter() - t0
        prebuilt.clear()
        # How much of it the consumer had stored a few seconds later.
        await asyncio.sleep(5)
        stored = 0
        for pid, auth in patrols:
            r = await client.get(f"/v1/patrols/{pid}", headers={"Authorization": auth})
            stored += r.json()["points"]
    latencies.sort()
    return {
        "accepted_points": accepted,
        "requests": requests,
        "errors": errors,
        "error_statuses": error_statuses,
        "elapsed_s": elapsed,
        "points_per_s": accepted / elapsed,
        "p50_ms": 1000 * latencies[len(latencies) // 2] if latencies else None,
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)] if latencies else None,
        "stored_points_5s_after": stored - len(patrols) * BATCH,
        "bodies_prebuilt": per_client,
        "bodies_built_in_loop": built_in_loop,
    }


def sample_event(settings: PatrolSettings) -> bytes:
    """A patrol.points_received event of 1000 points, serialised as the service does."""
    body = orjson.loads(batch_body(datetime.now(UTC) - timedelta(hours=1), 0))
    now = datetime.now(UTC)
    pts = [{**p, "t": datetime.fromisoformat(p["t"])} for p in body["points"]]  # as parsed
    return orjson.dumps(
        {
            "id": str(uuid.uuid4()),
            "type": "patrol.points_received",
            "version": 1,
            "occurred_at": now,
            "producer": "patrol",
            "key": RANGERS[0],
            "correlation_id": uuid.uuid4().hex,
            "data": {
                "patrol_id": str(uuid.uuid4()),
                "ranger_id": RANGERS[0],
                "village": "500114001001",
                "received_at": now,
                "coord_system": "wgs84",
                "points": pts,
            },
        }
    )


async def ceiling(settings: PatrolSettings, seconds: float) -> dict[str, Any]:
    topic = f"{settings.topic_prefix}bench.ceiling"
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 12, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=1024 * 1024,
        max_request_size=8 * 1024 * 1024,
    )
    await producer.start()
    value = sample_event(settings)
    sent = 0
    try:
        for ranger in RANGERS:  # warm-up: metadata, connections
            await producer.send_and_wait(topic, value, key=ranger.encode())
        stop_at = time.perf_counter() + seconds

        async def one(key: bytes) -> None:
            nonlocal sent
            while time.perf_counter() < stop_at:
                await producer.send_and_wait(topic, value, key=key)
                sent += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(one(r.encode()) for r in RANGERS))
        elapsed = time.perf_counter() - t0
    finally:
        await producer.stop()
    return {
        "events": sent,
        "event_bytes": len(value),
        "elapsed_s": elapsed,
        "points_per_s": sent * BATCH / elapsed,
    }


SHAPES = {
    "split": "API process (HULIN_PATROL_CONSUMERS=false) + worker process (HULIN_PATROL_API=false)",
    "single": "one process: API and points consumer on one event loop",
    "ingest-only": "API process alone (HULIN_PATROL_CONSUMERS=false), nothing stores",
}


def start_process(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "services.patrol"]
    if os.environ.get("BENCH_PATROL_SERVICE_SCRIPT"):  # e.g. a profiling wrapper
        cmd = [sys.executable, os.environ["BENCH_PATROL_SERVICE_SCRIPT"]]
    return subprocess.Popen(cmd, cwd=ROOT, env={**env, "HULIN_PORT": str(port)})


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


async def measure_shape(shape: str, seconds: float) -> dict[str, Any]:
    """Start the shape's processes on a fresh prefix and database, load them, stop them."""
    name = f"bench{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "HULIN_TOPIC_PREFIX": f"{name}.",
        "HULIN_MONGO_DB": f"hulin_{name}",
        "HULIN_LOG_LEVEL": "WARNING",
    }
    settings = PatrolSettings(topic_prefix=f"{name}.", mongo_db=f"hulin_{name}")
    api_env = {**env, "HULIN_PATROL_CONSUMERS": "false" if shape != "single" else "true"}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    procs = []
    try:
        if shape == "split":
            worker_port = free_port()
            procs.append(start_process({**env, "HULIN_PATROL_API": "false"}, worker_port))
            await wait_ready(f"http://127.0.0.1:{worker_port}", procs[-1])
        procs.append(start_process(api_env, port))
        await wait_ready(url, procs[-1])
        result = await run_clients(url, settings, seconds)
    finally:
        for proc in procs:
            stop_process(proc)
    from pymongo import AsyncMongoClient

    from shared.db import drop_databases

    mc: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongo_uri)
    await drop_databases(mc, settings.mongo_db)
    await mc.close()
    return {"shape": shape, "processes": SHAPES[shape], **result}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--shapes",
        default="split,single",
        help=f"comma-separated, measured in this order: {', '.join(SHAPES)}",
    )
    parser.add_argument("--ingest-only", action="store_true", help="same as --shapes ingest-only")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "patrol.json"))
    args = parser.parse_args()
    shapes = ["ingest-only"] if args.ingest_only else args.shapes.split(",")
    unknown = set(shapes) - set(SHAPES)
    if unknown:
        parser.error(f"unknown shapes: {', '.join(sorted(unknown))}")

    measured = {shape: await measure_shape(shape, args.seconds) for shape in shapes}
    name = f"bench{uuid.uuid4().hex[:8]}"
    kafka = await ceiling(PatrolSettings(topic_prefix=f"{name}."), args.seconds)
    for m in measured.values():
        m["ratio"] = m["points_per_s"] / kafka["points_per_s"]

    first = measured[shapes[0]]
    result = {
        "at": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "seconds": args.seconds,
        "clients": len(RANGERS),
        "batch": BATCH,
        # The first shape measured (the deployed one, `split`, by default) is the headline.
        "shape": first["shape"],
        "service": first,
        "shapes": measured,
        "ceiling_aiokafka": kafka,
        "ratio": first["ratio"],
        "targets": {"points_per_s": 25000, "ratio": 0.5},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")  # noqa: ASYNC240
    print()
    print(f"ceiling: aiokafka alone, same events, points/s: {kafka['points_per_s']:,.0f}")
    print(f"event size bytes: {kafka['event_bytes']:,}")
    for m in measured.values():
        print()
        print(f"shape {m['shape']}: {m['processes']}")
        print("| measure | value |")
        print("|---|---|")
        print(
            f"| accepted points/s via HTTP (4 clients × 1000-pt batches) | "
            f"{m['points_per_s']:,.0f} |"
        )
        print(f"| ratio to the ceiling | {m['ratio']:.0%} |")
        print(f"| requests / errors | {m['requests']} / {m['errors']} {m['error_statuses']} |")
        print(f"| latency p50 / p99 ms | {m['p50_ms']:.1f} / {m['p99_ms']:.1f} |")
        print(
            f"| stored 5 s after the run | {m['stored_points_5s_after']:,} "
            f"of {m['accepted_points']:,} |"
        )
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    asyncio.run(main())
