"""Horizontal scale on one machine: 1 vs 2 replicas of the patrol service's points consumer group.

For each replica count, with its own topics and database:
  1. R replicas start (same group, different ports) and settle in the group; a patrol is created
     for each demo ranger through the first one's HTTP API;
  2. `hulin.patrol.points` gets a backlog of N `patrol.points_received` batches at once (keyed by
     ranger, so they spread over the 12 partitions) — what the points endpoint would publish;
  3. the replicas drain it; the group's committed offsets are polled until all is committed.
It reports points/s (first commit → last commit), what each replica handled (its
`hulin_events_consumed_total`), batches handled more than once (handled − N; only a rebalance's
redelivery can cause it, and handlers are idempotent), and whether every patrol's stored point count
is exactly what was sent (nothing lost, nothing counted twice).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from bench.common import ServiceProc, System, delete_topics, headline, write_section
from shared.auth import issue_token
from shared.events import PatrolPointsReceived, PointsReceivedData, TrackPoint
from shared.org import load_org
from shared.settings import Settings
from sim.world import rangers_of, walk


async def committed_total(bootstrap: str, group: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
        return sum(max(0, m.offset) for m in offsets.values())
    except Exception:
        return 0
    finally:
        await admin.close()


def handled_from_metrics(text: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith("hulin_events_consumed_total{") and 'outcome="handled"' in line \
                and "patrol.points_received" in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


async def one_run(
    replicas: int, batches: int, per_batch: int, seed: int, log_dir: Path, settle_s: float = 8.0
) -> dict[str, Any]:
    settings = Settings()
    org = load_org(settings.org_file)
    rangers = rangers_of(org)
    system = System(names=["patrol"])
    # R replicas first, all joined to the group before the backlog arrives (no rebalance inside
    # the measured window); patrols are created through the first one's HTTP API.
    procs = [ServiceProc("patrol", system.env(), log_path=log_dir / f"patrol-{replicas}-{i}.log")
             for i in range(replicas)]
    for p in procs:
        p.start()
    for p in procs:
        await p.wait_ready()
    patrols: dict[str, tuple[str, str]] = {}  # patrol id -> (ranger, village)
    started = datetime.now(UTC) - timedelta(hours=6)
    async with httpx.AsyncClient(timeout=30) as client:
        for r in rangers:
            pid = str(uuid.uuid4())
            token = issue_token(r.id, settings)
            resp = await client.post(f"{procs[0].url}/v1/patrols", json={
                "id": pid, "started_at": started.isoformat()},
                headers={"Authorization": f"Bearer {token}"})
            assert resp.status_code == 201, resp.text
            patrols[pid] = (r.id, r.unit)
    await asyncio.sleep(settle_s)  # let the group settle (every replica holds partitions)

    # the backlog: N batches, round-robin over the patrols, consecutive seqs per patrol
    rng = random.Random(seed)
    next_seq = dict.fromkeys(patrols, 0)
    ids = list(patrols)
    expected: dict[str, int] = dict.fromkeys(patrols, 0)
    tracks = {pid: walk(org.unit(v), rng, start_s=0, duration_s=per_batch * 15 * 4)
              for pid, (_, v) in patrols.items()}
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                                enable_idempotence=True, linger_ms=5)
    await producer.start()
    topic = f"{system.prefix}hulin.patrol.points"
    try:
        futures = []
        for i in range(batches):
            pid = ids[i % len(ids)]
            ranger, village = patrols[pid]
            pts = []
            for _ in range(per_batch):
                seq = next_seq[pid]
                next_seq[pid] += 1
                s = tracks[pid][seq % len(tracks[pid])]
                pts.append(TrackPoint(seq=seq, t=started + timedelta(seconds=15 * seq),
                                      lat=s.lat, lon=s.lon, accuracy_m=s.accuracy_m))
            expected[pid] += per_batch
            event = PatrolPointsReceived.new(
                PointsReceivedData(patrol_id=pid, ranger_id=ranger, village=village,
                                   received_at=datetime.now(UTC), points=tuple(pts)),
                key=ranger, producer="replicas-bench")
            futures.append(await producer.send(topic, value=event.to_json(),
                                               key=ranger.encode()))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()

    # drain with R replicas
    group = f"{system.prefix}hulin.patrol.points"
    base_commits = 0
    t_start = time.monotonic()
    first = last = None
    total = 0
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        total = await committed_total(settings.kafka_bootstrap, group) - base_commits
        now = time.monotonic()
        if total > 0 and first is None:
            first = now
        if total >= batches:
            last = now
            break
        await asyncio.sleep(0.2)
    per_replica: list[float] = []
    stored_ok = True
    async with httpx.AsyncClient(timeout=30) as client:
        for p in procs:
            try:
                m = await client.get(f"{p.url}/metrics")
                per_replica.append(handled_from_metrics(m.text))
            except httpx.HTTPError:
                per_replica.append(float("nan"))
        token = issue_token("dc-500114", settings)
        mismatched = 0
        for pid, n in expected.items():
            r = await client.get(f"{procs[0].url}/v1/patrols/{pid}",
                                 headers={"Authorization": f"Bearer {token}"})
            if r.status_code != 200 or r.json().get("points") != n:
                mismatched += 1
        stored_ok = mismatched == 0
    for p in procs:
        p.stop()
    await system.drop_database()
    await delete_topics(settings.kafka_bootstrap, system.prefix)
    window = (last - first) if (first is not None and last is not None) else None
    points = batches * per_batch
    return {
        "replicas": replicas,
        "batches": batches,
        "points": points,
        "drained": total >= batches,
        "seconds_first_to_last_commit": round(window, 2) if window else None,
        "seconds_from_start": round(last - t_start, 2) if last else None,
        "points_per_s": round(points / window) if window else None,
        "handled_per_replica": per_replica,
        "handled_more_than_once": int(sum(per_replica) - batches) if per_replica else None,
        "patrols_with_wrong_point_count": mismatched,
        "stored_exactly": stored_ok,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    rows = []
    for replicas in args.replicas:
        print(f"[replicas] {replicas} replica(s): {args.batches} batches × {args.per_batch} "
              f"points", flush=True)
        row = await one_run(replicas, args.batches, args.per_batch, args.seed,
                            Path(args.log_dir))
        print(f"[replicas] {row}", flush=True)
        rows.append(row)
    base = rows[0].get("points_per_s") or 0
    for row in rows:
        row["speedup_vs_first"] = round(row["points_per_s"] / base, 2) if base and \
            row.get("points_per_s") else None
    out = {
        "command": "python -m bench.replicas_bench " + " ".join(args.argv),
        "consumer": "patrol points consumer group (hulin.patrol.points, 12 partitions)",
        "runs": rows,
        "headline": [
            headline(f"points/s stored with {r['replicas']} consumer replica(s)",
                     r["points_per_s"], unit="points/s") for r in rows
        ] + [
            headline(f"batches handled twice with {r['replicas']} replica(s)",
                     r["handled_more_than_once"], unit="batches") for r in rows
        ],
    }
    write_section("replicas", out)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--replicas", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2])
    p.add_argument("--batches", type=int, default=1200)
    p.add_argument("--per-batch", type=int, default=100)
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--log-dir", default="/tmp/hulin-replicas-bench")
    args = p.parse_args(argv)
    args.argv = argv if argv is not None else sys.argv[1:]
    out = asyncio.run(run(args))
    ok = all(r["stored_exactly"] and r["drained"] for r in out["runs"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
