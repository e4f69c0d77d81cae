"""Benchmark of the incidents service against the real Kafka and FerretDB (prints figures; it
asserts nothing about timing).

1. Intake: reports posted over HTTP (202 once on Kafka) per second.
2. Sustained reports/s to stored incidents: report.submitted events produced straight to the topic,
   measured until every one is linked to a stored incident (mixed new incidents and duplicates).
3. Escalation lag with N open incidents (default 10,000) whose acknowledgement deadlines fall due
   over a window: deadline → incident.escalated received from Kafka, p50/p99/max.

Writes bench/results/incidents.json and prints a Markdown table.
Run: `make bench-incidents` (or `.venv/bin/python -m bench.incidents_bench --help`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer
from pymongo import AsyncMongoClient

from services.incidents.app import create_app
from services.incidents.domain.incident import ReportFacts
from services.incidents.domain.lifecycle import open_incident
from services.incidents.handlers import to_doc
from services.incidents.repository import REPORT_LINKS, IncidentsRepository
from services.incidents.settings import IncidentsSettings
from shared.auth import issue_token
from shared.db import drop_databases
from shared.events import IncidentEscalated, ReportSubmitted, ReportSubmittedData, parse_event
from shared.kafka import Publisher, ensure_topics
from shared.org import Level, load_org
from shared.policy import load_policy
from shared.topics import INCIDENTS
from tests.support.server import serve

ORG = load_org(None)
VILLAGES = [u for u in ORG.units.values() if u.level is Level.VILLAGE]
RESULTS = Path(__file__).with_name("results") / "incidents.json"


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def random_point(rng: random.Random) -> tuple[str, float, float]:
    """A random point inside a random village (rejection sampling in its bounding box)."""
    from shapely.geometry import Point

    while True:
        village = rng.choice(VILLAGES)
        minx, miny, maxx, maxy = village.boundary.bounds
        lon, lat = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if village.boundary.contains(Point(lon, lat)) and ORG.locate(lat, lon) is not None:
            return ORG.locate(lat, lon).code, lat, lon  # type: ignore[union-attr]


def settings(run: str, **kw: Any) -> IncidentsSettings:
    return IncidentsSettings(
        topic_prefix=f"bench.{run}.", mongo_db=f"hulin_bench_{run}", env="test", **kw
    )


async def drop(s: IncidentsSettings) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(s.mongo_uri)
    try:
        await drop_databases(client, s.mongo_db)
    finally:
        await client.close()


async def bench_http(n: int, concurrency: int) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    s = settings(run)
    rng = random.Random(7)
    try:
        async with serve(create_app(s)) as srv, httpx.AsyncClient(base_url=srv.url) as c:
            bodies = []
            for _ in range(n):
                code, lat, lon = random_point(rng)
                bodies.append(
                    (
                        f"rg-{code}-1",
                        {
                            "id": str(uuid.uuid4()),
                            "type": "fire",
                            "lat": lat,
                            "lon": lon,
                            "observed_at": datetime.now(UTC).isoformat(),
                        },
                    )
                )
            tokens = {who: f"Bearer {issue_token(who, s)}" for who, _ in bodies}
            queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
            for item in bodies:
                queue.put_nowait(item)
            latencies: list[float] = []

            async def worker() -> None:
                while not queue.empty():
                    who, body = queue.get_nowait()
                    t = time.perf_counter()
                    r = await c.post(
                        "/v1/reports", json=body, headers={"Authorization": tokens[who]}
                    )
                    latencies.append(time.perf_counter() - t)
                    assert r.status_code == 202, r.text

            start = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            elapsed = time.perf_counter() - start
        return {
            "reports": n,
            "concurrency": concurrency,
            "seconds": round(elapsed, 2),
            "reports_per_s": round(n / elapsed, 1),
            "latency_p50_ms": round(pct(latencies, 50) * 1000, 1),
            "latency_p99_ms": round(pct(latencies, 99) * 1000, 1),
        }
    finally:
        await drop(s)


async def bench_pipeline(n: int, duplicate_share: float) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    s = settings(run)
    rng = random.Random(11)
    try:
        await ensure_topics(s)
        events: list[ReportSubmitted] = []
        sites: list[tuple[str, float, float]] = []
        now = datetime.now(UTC)
        for _ in range(n):
            if sites and rng.random() < duplicate_share:
                code, lat, lon = rng.choice(sites)
                lat += rng.uniform(-0.001, 0.001)
            else:
                code, lat, lon = random_point(rng)
                sites.append((code, lat, lon))
            township = ORG.township_of(code).code
            rid = str(uuid.uuid4())
            events.append(
                ReportSubmitted.new(
                    ReportSubmittedData(
                        report_id=rid,
                        type=rng.choice(["fire", "pest", "illegal_logging"]),
                        lat=lat,
                        lon=lon,
                        observed_at=now,
                        received_at=now,
                        reporter_id=f"rg-{code}-1",
                        reporter_role="ranger",
                        village=code,
                        township=township,
                        district=ORG.district.code,
                    ),
                    key=code,
                    producer="bench",
                )
            )
        async with serve(create_app(s)):
            client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(s.mongo_uri)
            links = client[s.database_name][REPORT_LINKS]
            publisher = Publisher(s)
            await publisher.start()
            start = time.perf_counter()
            for i in range(0, n, 500):
                await publisher.publish_many(events[i : i + 500])
            produced = time.perf_counter() - start
            await publisher.stop()
            done = 0
            while done < n:
                await asyncio.sleep(1.0)  # counting scans the links (FerretDB): not too often
                done = await links.count_documents({})
                if time.perf_counter() - start > 900:
                    break
            elapsed = time.perf_counter() - start
            repo = IncidentsRepository(client[s.database_name], shards=s.incident_shards)
            incidents = await repo.count_incidents()
            await client.close()
        return {
            "reports": n,
            "stored": done,
            "incidents": incidents,
            "duplicate_share": duplicate_share,
            "produce_seconds": round(produced, 2),
            "seconds": round(elapsed, 2),
            "reports_per_s": round(done / elapsed, 1),
        }
    finally:
        await drop(s)


async def bench_escalation(n: int, window_s: float, lead_s: float) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    s = settings(run)
    policy = load_policy(None)
    rng = random.Random(13)
    try:
        await ensure_topics(s)
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(s.mongo_uri, tz_aware=True)
        repo = IncidentsRepository(client[s.database_name], shards=s.incident_shards)
        now = datetime.now(UTC)
        first_due = now + timedelta(seconds=lead_s)
        deadlines: dict[str, datetime] = {}
        by_shard: dict[str, list[dict[str, Any]]] = {}
        for i in range(n):
            code, lat, lon = random_point(rng)
            report = ReportFacts(
                id=str(uuid.uuid4()),
                type="fire",
                lat=lat,
                lon=lon,
                observed_at=now,
                received_at=now,
                reporter_id=f"rg-{code}-1",
                reporter_role="ranger",
                source="app",
                village=code,
                township=ORG.township_of(code).code,
                district=ORG.district.code,
            )
            from services.incidents.domain.placement import Placement

            placement = Placement(code, report.township, report.district, (), False)
            incident = open_incident(
                report,
                incident_id=str(uuid.uuid4()),
                placement=placement,
                policy=policy,
                now=now,
            ).incident
            due = first_due + timedelta(seconds=window_s * i / n)
            incident = incident.model_copy(
                update={"version": 1, "next_escalation_at": due, "level_reached_at": now}
            )
            deadlines[incident.id] = due
            doc = to_doc(incident, policy)
            by_shard.setdefault(repo._shard(incident.id).name, []).append(doc)
        t = time.perf_counter()
        for name, docs in by_shard.items():
            await client[s.database_name][name].insert_many(docs, ordered=False)
        seeded_s = time.perf_counter() - t

        consumer = AIOKafkaConsumer(
            s.topic(INCIDENTS),
            bootstrap_servers=s.kafka_bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        lags: list[float] = []
        seen: set[str] = set()
        hops_seen: set[tuple[str, int, int]] = set()
        event_ids: set[str] = set()
        dupes = 0  # the same hop of the same incident twice (a real double escalation)
        republished = 0  # the same event again (at-least-once; consumers drop it by its id)
        async with serve(create_app(s)):
            ready_in = (datetime.now(UTC) - now).total_seconds()
            end = first_due + timedelta(seconds=window_s + 60)
            while len(seen) < n and datetime.now(UTC) < end:
                batches = await consumer.getmany(timeout_ms=100)
                received = datetime.now(UTC)
                for records in batches.values():
                    for record in records:
                        event = parse_event(record.value or b"")
                        if not isinstance(event, IncidentEscalated):
                            continue
                        if str(event.id) in event_ids:
                            republished += 1
                            continue
                        event_ids.add(str(event.id))
                        iid = event.data.incident.id
                        hop = (iid, event.data.from_level, event.data.to_level)
                        if hop in hops_seen:
                            dupes += 1
                            continue
                        hops_seen.add(hop)
                        if iid in seen:
                            continue  # a later hop (its own deadline): not this measure
                        seen.add(iid)
                        lags.append((received - deadlines[iid]).total_seconds())
        await consumer.stop()
        await client.close()
        return {
            "open_incidents": n,
            "window_s": window_s,
            "due_per_s": round(n / window_s, 1),
            "seed_seconds": round(seeded_s, 1),
            "startup_to_ready_s": round(ready_in, 1),
            "escalated": len(seen),
            "duplicates": dupes,
            "republished_events": republished,
            "lag_p50_s": round(pct(lags, 50), 3),
            "lag_p99_s": round(pct(lags, 99), 3),
            "lag_max_s": round(max(lags), 3) if lags else None,
            "lag_mean_s": round(statistics.mean(lags), 3) if lags else None,
        }
    finally:
        await drop(s)


def table(results: dict[str, Any]) -> str:
    h, p, e = results["http_intake"], results["pipeline"], results["escalation"]
    rows = [
        (
            "HTTP intake (POST /v1/reports → 202 on Kafka)",
            f"{h['reports_per_s']} reports/s (p50 {h['latency_p50_ms']} ms, "
            f"p99 {h['latency_p99_ms']} ms, {h['reports']} reports, {h['concurrency']} clients)",
        ),
        (
            "Reports → stored incidents (sustained)",
            f"{p['reports_per_s']} reports/s ({p['stored']}/{p['reports']} reports → "
            f"{p['incidents']} incidents in {p['seconds']} s, "
            f"{int(p['duplicate_share'] * 100)} % duplicates)",
        ),
        (
            "Escalation lag p50 / p99 / max (deadline → event on Kafka)",
            f"{e['lag_p50_s']} s / {e['lag_p99_s']} s / {e['lag_max_s']} s",
        ),
        (
            "Escalation load",
            f"{e['open_incidents']} open incidents, deadlines over {e['window_s']} s "
            f"({e['due_per_s']}/s); {e['escalated']} escalated, {e['duplicates']} duplicate "
            f"hops, {e.get('republished_events', 0)} events republished",
        ),
    ]
    out = ["| measure | result |", "|---|---|"]
    out += [f"| {a} | {b} |" for a, b in rows]
    return "\n".join(out)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--http-reports", type=int, default=1000)
    parser.add_argument("--http-concurrency", type=int, default=20)
    parser.add_argument("--reports", type=int, default=3000)
    parser.add_argument("--duplicate-share", type=float, default=0.3)
    parser.add_argument("--open-incidents", type=int, default=10_000)
    parser.add_argument("--window-s", type=float, default=300.0)
    parser.add_argument("--lead-s", type=float, default=30.0, help="first deadline after seeding")
    parser.add_argument("--only", choices=["http", "pipeline", "escalation"], default=None)
    args = parser.parse_args()
    import logging

    logging.disable(logging.WARNING)
    results: dict[str, Any] = {"at": datetime.now(UTC).isoformat()}
    if RESULTS.exists() and args.only:
        results = {**json.loads(RESULTS.read_text()), **results}
    if args.only in (None, "http"):
        results["http_intake"] = await bench_http(args.http_reports, args.http_concurrency)
        print("http intake:", results["http_intake"], flush=True)
    if args.only in (None, "pipeline"):
        results["pipeline"] = await bench_pipeline(args.reports, args.duplicate_share)
        print("pipeline:", results["pipeline"], flush=True)
    if args.only not in (None, "escalation"):
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        return
    results["escalation"] = await bench_escalation(args.open_incidents, args.window_s, args.lead_s)
    print("escalation:", results["escalation"], flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(table(results))


if __name__ == "__main__":
    asyncio.run(main())
