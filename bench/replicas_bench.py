"""Horizontal scale on one machine: 1 vs 2 replicas of a consumer group, draining a backlog.

Groups (`--groups`, default all three):
  patrol     the patrol workers' points group (`hulin.patrol.points`, 12 partitions, keyed by
             ranger): `patrol.points_received` batches of `--per-batch` fixes, round-robin over a
             patrol of each demo ranger;
  incidents  incidents' reports group (`hulin.reports`, 6 partitions, keyed by village):
             `report.submitted`, 30 % of them near an earlier report (merged, not opened);
  notify     notify's alerts group (`hulin.incidents` + `hulin.patrol`, 6 partitions each):
             incident opened/updated/escalated/acknowledged events (bench.notify_bench's mix) on
             `hulin.incidents`, keyed by incident.

For each group and replica count R, with its own topics and database:
  1. the topics are created and the whole backlog is produced (acked) while no replica runs;
     patrol's patrols are created first through an API-only patrol process
     (HULIN_PATROL_CONSUMERS=false: it never joins the group), stopped before the backlog;
  2. R replicas start together (patrol as deployed: workers with HULIN_PATROL_API=false);
  3. the group is polled (committed offsets, members and their partitions) every
     `--poll` seconds until its committed offsets reach the end of the backlog, or stay put for
     `--stall` seconds (reported as stalled_at: a replica stopped consuming; see its log).

Throughput is reported over two windows:
  steady      from the first commit seen after the group was Stable with all R replicas holding
              partitions, to the poll that saw the last offset committed; the messages committed
              in it over its length (so start-up and a first replica draining alone are out);
  from start  the whole backlog over replica spawn → all committed (process start-up and the
              join included).
Correctness: what each replica handled (its `hulin_events_consumed_total`, outcome handled),
messages handled more than once (Σ handled − backlog: only a rebalance's redelivery causes it, and
handlers are idempotent), dead letters, and a group-specific exact check — patrol: every patrol's
stored point count is what was sent; incidents: every report linked to an incident; notify: one
alert per event, numbered without gaps or repeats per district. `store_top` lists the replicas'
costliest database commands per message (hulin_store_command_seconds_total).

    flock /tmp/hulin-bench.lock .venv/bin/python -m bench.replicas_bench

Writes the "replicas" section of bench/results/latest.json (HULIN_BENCH_RESULTS elsewhere).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from pymongo import AsyncMongoClient

from bench.common import (
    ServiceProc,
    System,
    bench_producer,
    delete_topics,
    exit_on_sigterm,
    headline,
    report_backlog,
    write_section,
)
from shared.auth import issue_token
from shared.events import (
    PatrolPointsReceived,
    PointsReceivedData,
    TrackPoint,
)
from shared.kafka import ensure_topics
from shared.org import Level, load_org
from shared.settings import Settings
from shared.topics import INCIDENTS, PATROL_POINTS, REPORTS
from sim.world import random_point_in, rangers_of, walk

Check = Callable[[], Awaitable[dict[str, Any]]]


@dataclass
class Backlog:
    """What is put on the topic before any replica runs, and how to check the outcome."""

    messages: list[tuple[bytes, bytes]]  # (key, value)
    units: int  # points for patrol, else = messages
    check: Check  # after the drain, replicas stopped: the group's exact check


@dataclass
class GroupBench:
    name: str
    service: str
    consumer: str  # the ConsumerRunner's name: the group is <prefix>hulin.<service>.<consumer>
    topic: str  # the logical topic the backlog goes to
    message: str  # what one message is ("batches", "reports", "events")
    unit: str  # what throughput counts ("points", "reports", "events")
    replica_env: dict[str, str]
    prepare: Callable[[System, Settings, argparse.Namespace, Path], Awaitable[Backlog]]


# --- patrol: the points group ---------------------------------------------------------------------


async def prepare_patrol(
    system: System, settings: Settings, args: argparse.Namespace, log_dir: Path
) -> Backlog:
    org = load_org(settings.org_file)
    rangers = rangers_of(org)
    # a patrol per ranger, through an API-only process (no consumer: it never joins the group)
    api = ServiceProc(
        "patrol",
        {**system.env(), "HULIN_PATROL_CONSUMERS": "false"},
        log_path=log_dir / f"patrol-api-{system.prefix}log",
    )
    api.start()
    patrols: dict[str, tuple[str, str]] = {}  # patrol id -> (ranger, village)
    started = datetime.now(UTC) - timedelta(hours=6)
    try:
        await api.wait_ready()
        async with httpx.AsyncClient(timeout=30) as client:
            for r in rangers:
                pid = str(uuid.uuid4())
                resp = await client.post(
                    f"{api.url}/v1/patrols",
                    json={"id": pid, "started_at": started.isoformat()},
                    headers={"Authorization": f"Bearer {issue_token(r.id, settings)}"},
                )
                assert resp.status_code == 201, resp.text
                patrols[pid] = (r.id, r.unit)
    finally:
        api.stop()

    # N batches, round-robin over the patrols, consecutive seqs per patrol
    rng = random.Random(args.seed)
    per_batch = args.per_batch
    next_seq = dict.fromkeys(patrols, 0)
    expected = dict.fromkeys(patrols, 0)
    tracks = {
        pid: walk(org.unit(v), rng, start_s=0, duration_s=per_batch * 15 * 4)
        for pid, (_, v) in patrols.items()
    }
    ids = list(patrols)
    messages = []
    for i in range(args.batches):
        pid = ids[i % len(ids)]
        ranger, village = patrols[pid]
        pts = []
        for _ in range(per_batch):
            seq = next_seq[pid]
            next_seq[pid] += 1
            s = tracks[pid][seq % len(tracks[pid])]
            pts.append(
                TrackPoint(
                    seq=seq,
                    t=started + timedelta(seconds=15 * seq),
                    lat=s.lat,
                    lon=s.lon,
                    accuracy_m=s.accuracy_m,
                )
            )
        expected[pid] += per_batch
        event = PatrolPointsReceived.new(
            PointsReceivedData(
                patrol_id=pid,
                ranger_id=ranger,
                village=village,
                received_at=datetime.now(UTC),
                points=tuple(pts),
            ),
            key=ranger,
            producer="replicas-bench",
        )
        messages.append((ranger.encode(), event.to_json()))

    async def check() -> dict[str, Any]:
        reader = ServiceProc(
            "patrol",
            {**system.env(), "HULIN_PATROL_CONSUMERS": "false"},
            log_path=log_dir / f"patrol-api-{system.prefix}log",
        )
        reader.start()
        try:
            await reader.wait_ready()
            token = issue_token("dc-500114", settings)
            wrong = 0
            async with httpx.AsyncClient(timeout=30) as client:
                for pid, n in expected.items():
                    r = await client.get(
                        f"{reader.url}/v1/patrols/{pid}",
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    if r.status_code != 200 or r.json().get("points") != n:
                        wrong += 1
        finally:
            reader.stop()
        return {
            "patrols": len(expected),
            "patrols_with_wrong_point_count": wrong,
            "exact": wrong == 0,
        }

    return Backlog(messages, args.batches * per_batch, check)


# --- incidents: the reports group -----------------------------------------------------------------


async def prepare_incidents(
    system: System, settings: Settings, args: argparse.Namespace, log_dir: Path
) -> Backlog:
    org = load_org(settings.org_file)
    villages = [u for u in org.units.values() if u.level is Level.VILLAGE]
    rng = random.Random(args.seed)

    def site(rng: random.Random) -> tuple[str, float, float]:
        village = rng.choice(villages)
        lat, lon = random_point_in(village, rng, margin_m=200)
        return village.code, lat, lon

    events = report_backlog(
        args.reports,
        site=site,
        township_of=lambda code: org.township_of(code).code,
        district=org.district.code,
        duplicate_share=0.3,  # near an earlier report: merged into its incident
        rng=rng,
        producer="replicas-bench",
    )
    messages = [(e.key.encode(), e.to_json()) for e in events]
    n = len(messages)

    async def check() -> dict[str, Any]:
        async with mongo(settings) as client:
            db = client[f"{settings.mongo_db}_incidents"]
            linked = await db["report_links"].count_documents({})
            names = await db.list_collection_names()
            incidents = 0
            for name in names:
                if re.fullmatch(r"incidents_\d+", name):
                    incidents += await db[name].count_documents({})
        return {"reports_linked": linked, "incidents": incidents, "exact": linked == n}

    return Backlog(messages, n, check)


# --- notify: the alerts group ---------------------------------------------------------------------


async def prepare_notify(
    system: System, settings: Settings, args: argparse.Namespace, log_dir: Path
) -> Backlog:
    from bench.notify_bench import Incidents

    gen = Incidents(load_org(settings.org_file), seed=args.seed)
    events = [gen.next() for _ in range(args.events)]
    messages = [(e.key.encode(), e.to_json()) for e in events]
    ids = {str(e.id) for e in events}

    async def check() -> dict[str, Any]:
        async with mongo(settings) as client:
            db = client[f"{settings.mongo_db}_notify"]
            alerts = [
                a async for a in db["alerts"].find({}, {"event_id": 1, "district": 1, "seq": 1})
            ]
            notifications = await db["notifications"].count_documents({})
        by_district: dict[str, list[int]] = {}
        for a in alerts:
            by_district.setdefault(a["district"], []).append(a["seq"])
        gapless = all(sorted(s) == list(range(1, len(s) + 1)) for s in by_district.values())
        events_alerted = {a["event_id"] for a in alerts}
        return {
            "alerts": len(alerts),
            "events_without_alert": len(ids - events_alerted),
            "alert_seqs_gapless": gapless,
            "notifications": notifications,
            "exact": events_alerted == ids and len(alerts) == len(ids) and gapless,
        }

    return Backlog(messages, len(messages), check)


GROUPS = {
    "patrol": GroupBench(
        "patrol",
        "patrol",
        "points",
        PATROL_POINTS,
        "batches",
        "points",
        {"HULIN_PATROL_API": "false"},
        prepare_patrol,
    ),
    "incidents": GroupBench(
        "incidents", "incidents", "reports", REPORTS, "reports", "reports", {}, prepare_incidents
    ),
    "notify": GroupBench(
        "notify", "notify", "alerts", INCIDENTS, "events", "events", {}, prepare_notify
    ),
}


# --- the run --------------------------------------------------------------------------------------


class mongo:  # noqa: N801 - an async context manager used like a function
    def __init__(self, settings: Settings) -> None:
        self.client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            settings.mongo_uri, serverSelectionTimeoutMS=5000
        )

    async def __aenter__(self) -> AsyncMongoClient[dict[str, Any]]:
        return self.client

    async def __aexit__(self, *exc: object) -> None:
        await self.client.close()


async def produce(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> float:
    """All messages on `topic`, acked; returns the seconds it took."""
    producer = bench_producer(bootstrap)
    await producer.start()
    t = time.monotonic()
    try:
        futures = [await producer.send(topic, value=v, key=k) for k, v in messages]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return time.monotonic() - t


@dataclass
class Sample:
    t: float
    committed: int
    stable_with_all: bool
    split: tuple[int, ...]  # partitions of the topic per member, largest first


async def watch_group(
    bootstrap: str,
    group: str,
    topic: str,
    replicas: int,
    end: int,
    poll_s: float,
    timeout_s: float,
    stall_s: float,
) -> list[Sample]:
    """Samples of the group until its committed offsets on `topic` reach `end`, or stay where
    they are for `stall_s`, or `timeout_s` passes."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    samples: list[Sample] = []
    deadline = time.monotonic() + timeout_s
    moved = time.monotonic()
    try:
        while time.monotonic() < deadline and time.monotonic() - moved < stall_s:
            t = time.monotonic()
            committed = 0
            split: tuple[int, ...] = ()
            stable = False
            try:
                offsets = await admin.list_consumer_group_offsets(group)
                committed = sum(max(0, m.offset) for tp, m in offsets.items() if tp.topic == topic)
                desc = (await admin.describe_consumer_groups([group]))[0].to_object()
                g = desc["groups"][0]
                counts = []
                for m in g["members"]:
                    a = ConsumerProtocolMemberAssignment.decode(m["member_assignment"])
                    counts.append(sum(1 for tp in a.partitions() if tp.topic == topic))
                split = tuple(sorted(counts, reverse=True))
                stable = (
                    g["state"] == "Stable"
                    and len(counts) == replicas
                    and all(c > 0 for c in counts)
                )
            except Exception:
                pass  # the group does not exist yet
            if not samples or committed != samples[-1].committed:
                moved = t
            samples.append(Sample(t, committed, stable, split))
            if committed >= end:
                break
            await asyncio.sleep(max(0.0, poll_s - (time.monotonic() - t)))
    finally:
        await admin.close()
    return samples


def handled_of(text: str, topic: str) -> dict[str, float]:
    """hulin_events_consumed_total of one topic by outcome."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("hulin_events_consumed_total{") and f'topic="{topic}"' in line:
            m = re.search(r'outcome="([^"]+)"', line)
            if m:
                out[m.group(1)] = out.get(m.group(1), 0.0) + float(line.rsplit(" ", 1)[1])
    return out


def store_of(text: str, into: dict[tuple[str, str], list[float]]) -> None:
    """Add a replica's database commands (hulin_store_commands_total and _seconds_total) by
    (command, collection) into `into`: [count, seconds]. A hash-sharded collection counts as its
    family (`incidents_07` as `incidents_*`): one shard's share says nothing."""
    for line in text.splitlines():
        for metric, slot in (
            ("hulin_store_commands_total{", 0),
            ("hulin_store_command_seconds_total{", 1),
        ):
            if line.startswith(metric):
                labels = dict(re.findall(r'(\w+)="([^"]*)"', line[: line.index("}")]))
                collection = re.sub(r"_\d+$", "_*", labels.get("collection", "?"))
                key = (labels.get("command", "?"), collection)
                into.setdefault(key, [0.0, 0.0])[slot] += float(line.rsplit(" ", 1)[1])


def store_top(store: dict[tuple[str, str], list[float]], n: int, top: int = 6) -> str:
    """The costliest database commands per message, summed over the replicas."""
    rows = sorted(store.items(), key=lambda kv: -kv[1][1])[:top]
    return "; ".join(
        f"{cmd} {coll} {count / n:.3f}/msg {seconds * 1000 / n:.2f} ms/msg"
        for (cmd, coll), (count, seconds) in rows
    )


async def one_run(spec: GroupBench, replicas: int, args: argparse.Namespace) -> dict[str, Any]:
    log_dir = Path(args.log_dir)
    system = System(names=[spec.service])
    settings = Settings(topic_prefix=system.prefix, mongo_db=system.db, service=spec.service)
    topic = settings.topic(spec.topic)
    group = f"{settings.group(spec.service)}.{spec.consumer}"
    procs: list[ServiceProc] = []
    try:
        await ensure_topics(settings)
        backlog = await spec.prepare(system, settings, args, log_dir)
        n = len(backlog.messages)
        produce_s = await produce(settings.kafka_bootstrap, topic, backlog.messages)
        print(
            f"[replicas] {spec.name} R={replicas}: {n} {spec.message} produced in "
            f"{produce_s:.1f} s, no replica running; starting {replicas}",
            flush=True,
        )

        env = {**system.env(), **spec.replica_env}
        procs = [
            ServiceProc(spec.service, env, log_path=log_dir / f"{spec.name}-{replicas}-{i}.log")
            for i in range(replicas)
        ]
        t_spawn = time.monotonic()
        for p in procs:
            p.start()
        watcher = asyncio.create_task(
            watch_group(
                settings.kafka_bootstrap,
                group,
                topic,
                replicas,
                n,
                args.poll,
                args.timeout,
                args.stall,
            )
        )
        await asyncio.gather(*(p.wait_ready() for p in procs))
        t_ready = time.monotonic()
        samples = await watcher

        handled: list[float] = []
        deadlettered = 0.0
        store: dict[tuple[str, str], list[float]] = {}
        async with httpx.AsyncClient(timeout=30) as client:
            for p in procs:
                text = (await client.get(f"{p.url}/metrics")).text
                store_of(text, store)
                counts = handled_of(text, topic)
                handled.append(counts.get("handled", 0.0))
                deadlettered += counts.get("deadlettered", 0.0)
        for p in procs:
            p.stop()
        procs = []
        exact = await backlog.check()
    finally:
        for p in procs:
            p.stop()
        await system.drop_database()
        await delete_topics(settings.kafka_bootstrap, system.prefix)

    last = samples[-1]
    drained = last.committed >= n
    joined = next((s for s in samples if s.stable_with_all), None)
    first = None
    if joined is not None:
        first = next(
            (s for s in samples if s.t > joined.t and s.committed > joined.committed), None
        )
    steady_s = (last.t - first.t) if (first is not None and drained) else None
    steady_msgs = (n - first.committed) if first is not None else 0
    per_unit = backlog.units / n
    whole_s = (last.t - t_spawn) if drained else None
    splits: list[tuple[int, ...]] = []  # the assignments seen, in order
    for s in samples:
        if s.split and (not splits or splits[-1] != s.split):
            splits.append(s.split)
    row: dict[str, Any] = {
        "replicas": replicas,
        spec.message: n,
        spec.unit: backlog.units,
        "produce_s": round(produce_s, 2),
        "drained": drained,
        "stalled_at": None if drained else last.committed,
        "ready_s": round(t_ready - t_spawn, 2),
        "joined_s": round(joined.t - t_spawn, 2) if joined else None,
        "committed_at_first_commit": first.committed if first else None,
        "steady_s": round(steady_s, 2) if steady_s else None,
        "steady_share": round(steady_msgs / n, 3) if steady_s else None,
        f"{spec.message}_per_s": round(steady_msgs / steady_s, 1) if steady_s else None,
        f"{spec.unit}_per_s": round(steady_msgs * per_unit / steady_s) if steady_s else None,
        "from_start_s": round(whole_s, 2) if whole_s else None,
        f"{spec.unit}_per_s_from_start": round(backlog.units / whole_s) if whole_s else None,
        "partition_splits_seen": " → ".join("/".join(map(str, s)) for s in splits),
        "handled_per_replica": "/".join(str(int(h)) for h in handled),
        "handled_more_than_once": int(sum(handled) - n) if drained else None,
        "deadlettered": int(deadlettered),
        "store_top": store_top(store, n),
        **exact,
    }
    return row


async def run_group(spec: GroupBench, args: argparse.Namespace) -> dict[str, Any]:
    rows = []
    for replicas in args.replicas:
        row = await one_run(spec, replicas, args)
        print(f"[replicas] {spec.name} R={replicas}: {row}", flush=True)
        rows.append(row)
    rate = f"{spec.unit}_per_s"
    base = rows[0].get(rate)
    for row in rows:
        row["ratio_vs_first"] = round(row[rate] / base, 2) if base and row.get(rate) else None
    return {
        "group": f"hulin.{spec.service}.{spec.consumer}",
        "topic": spec.topic,
        "runs": rows,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {
        "command": "python -m bench.replicas_bench " + " ".join(args.argv),
        "window": "steady: first commit after the group is Stable with every replica holding "
        "partitions → last offset committed; the backlog is produced before any "
        "replica starts",
    }
    heads = []
    for name in args.groups:
        spec = GROUPS[name]
        res = await run_group(spec, args)
        out[name] = res["runs"]
        for r in res["runs"]:
            heads.append(
                headline(
                    f"{name}: {spec.unit}/s drained with {r['replicas']} replica(s)",
                    r[f"{spec.unit}_per_s"],
                    unit=f"{spec.unit}/s",
                )
            )
            heads.append(
                headline(
                    f"{name}: {spec.message} handled twice with {r['replicas']} replica(s)",
                    r["handled_more_than_once"],
                    unit=spec.message,
                )
            )
    out["headline"] = heads
    if args.write:
        write_section("replicas", out)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--groups", type=lambda s: s.split(","), default=list(GROUPS))
    p.add_argument("--replicas", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2])
    p.add_argument("--batches", type=int, default=6000, help="patrol: batches in the backlog")
    p.add_argument("--per-batch", type=int, default=500, help="patrol: fixes per batch")
    p.add_argument("--reports", type=int, default=12000, help="incidents: reports in the backlog")
    p.add_argument("--events", type=int, default=30000, help="notify: events in the backlog")
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--poll", type=float, default=0.25, help="seconds between group polls")
    p.add_argument("--timeout", type=float, default=900, help="seconds to drain, at most")
    p.add_argument(
        "--stall",
        type=float,
        default=60,
        help="give up when the committed offsets stay put this many seconds",
    )
    p.add_argument(
        "--no-write",
        dest="write",
        action="store_false",
        help="print only; leave bench/results alone",
    )
    p.add_argument("--log-dir", default="/tmp/hulin-replicas-bench")
    args = p.parse_args(argv)
    args.argv = argv if argv is not None else sys.argv[1:]
    unknown = set(args.groups) - set(GROUPS)
    if unknown:
        p.error(f"unknown group(s): {', '.join(sorted(unknown))}")
    Path(args.log_dir).mkdir(parents=True, exist_ok=True)
    out = asyncio.run(run(args))
    ok = all(r["drained"] and r["exact"] for g in args.groups for r in out[g])
    return 0 if ok else 1


if __name__ == "__main__":
    exit_on_sigterm()
    sys.exit(main())
