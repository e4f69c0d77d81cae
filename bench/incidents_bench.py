"""Benchmark of the incidents service against the real Kafka and FerretDB (prints figures; it
asserts nothing about timing).

1. Intake: reports posted over HTTP (POST /v1/reports → 202 once on Kafka) per second, beside its
   ceiling measured in the same run: the bare FastAPI endpoint of bench.common (`bare_app`: the
   same body model, validated, answered 202 with nothing behind it and no token check) taking the
   same load. Both run in a process of their own under `uvicorn.run` with the services' settings
   (services/incidents/__main__.py: no access log, uvicorn's defaults otherwise — loop and http
   `auto`, i.e. uvloop and httptools as installed, backlog 2048, no concurrency limit, one
   worker): the service as `python -m services.incidents` with its own topic prefix and
   database, its consumers running as deployed. Both are driven by the same client code
   (`post_reports`) and the same report bodies, built before either run (a fresh id each, the
   next of `--http-sites` sites, its ranger's token header): `--http-concurrency` clients
   (bench.common.RawHttp: a raw HTTP/1.1 keep-alive connection each, writing request bytes built
   before the warm-up and reading the status, headers and answer) posting back to back
   (bench.common.closed_loop) for `--http-seconds` after `--http-warmup-s` not counted; any
   answer but 202 stops the run. Reports/s: 202 answers over the timed part; p50/p99 per
   request, client side. The service is measured first and stopped before the ceiling. The load
   generator shares the machine (and its cores) with both, and with Kafka and FerretDB: each part
   records the CPU the load generator and the server used, in cores (`client_cpu_cores`,
   `server_cpu_cores`). A load generator near 1.0 core (one Python process) is the limit, not
   the server: the ceiling is then a lower bound of the bare endpoint's capacity (what this
   client can drive, on this machine), and its latencies are mostly the client's own queue.
2. Sustained reports/s to stored incidents: report.submitted events produced straight to the topic,
   measured until every one is linked to a stored incident (mixed new incidents and duplicates).
3. Escalation lag with N open incidents (default 10,000) whose acknowledgement deadlines fall due
   over a window: deadline → incident.escalated received from Kafka, p50/p99/max.

Writes bench/results/incidents.json (`http_intake`, `ceiling_bare_fastapi`, `pipeline`,
`escalation`) and prints a Markdown table.
Run: `make bench-incidents` (or `.venv/bin/python -m bench.incidents_bench --help`; `--only http`
for the intake and its ceiling alone).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from pymongo import AsyncMongoClient

from bench.common import (
    BareEndpoint,
    RawHttp,
    System,
    closed_loop,
    delete_topics,
    report_backlog,
)
from services.incidents.app import create_app
from services.incidents.domain.escalation import next_timer_at
from services.incidents.domain.incident import ReportFacts
from services.incidents.domain.lifecycle import open_incident
from services.incidents.repository import REPORT_LINKS, IncidentsRepository
from services.incidents.repository.mapping import to_doc
from services.incidents.settings import IncidentsSettings
from shared.auth import issue_token
from shared.db import drop_databases
from shared.events import IncidentEscalated, parse_event
from shared.kafka import Publisher, ensure_topics
from shared.org import Level, load_org
from shared.policy import load_policy
from shared.settings import Settings
from shared.topics import INCIDENTS
from tests.support.server import serve

ORG = load_org(None)
VILLAGES = [u for u in ORG.units.values() if u.level is Level.VILLAGE]
RESULTS = Path(__file__).with_name("results") / "incidents.json"
# Report bodies prebuilt per second of the run (warm-up and timed part), past what one load
# generator process drives through the bare endpoint; any beyond are built in the loop, counted.
PREBUILT_PER_S = 15_000


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


def report_sites(n: int, seed: int = 7) -> list[tuple[str, float, float]]:
    """`n` (reporter, lat, lon): a ranger of a random village at a random point inside it."""
    rng = random.Random(seed)
    sites = []
    for _ in range(n):
        code, lat, lon = random_point(rng)
        sites.append((f"rg-{code}-1", lat, lon))
    return sites


def report_bodies(
    order: list[tuple[str, float, float]], tokens: dict[str, str], n: int, *, first: int = 0
) -> list[tuple[str, bytes]]:
    """(Authorization header, JSON body) of `n` reports, the k-th at order[(first + k) %
    len(order)] by its ranger, each with a fresh id; observed_at is now (when built)."""
    now = datetime.now(UTC).isoformat()
    out = []
    for k in range(first, first + n):
        who, lat, lon = order[k % len(order)]
        body = {"id": str(uuid.uuid4()), "type": "fire", "lat": lat, "lon": lon, "observed_at": now}
        # json, not orjson: an orjson bytes object keeps its ~4 KiB buffer, 20 times this body
        out.append((tokens[who], json.dumps(body, separators=(",", ":")).encode()))
    return out


async def post_reports(
    url: str,
    sites: list[tuple[str, float, float]],
    tokens: dict[str, str],
    bodies: tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]],
    *,
    concurrency: int,
    seconds: float,
    warmup_s: float,
    server_pid: int | None,
) -> dict[str, Any]:
    """The intake load, the same for the service and for its ceiling: `concurrency` clients
    (bench.common.RawHttp, a keep-alive connection each) each POSTing /v1/reports back to back
    (bench.common.closed_loop) for `seconds`, after `warmup_s` of the same not counted. `bodies`
    is (warm-up, timed part): report bodies built by the caller before either run (a fresh id
    each, the n-th of the timed part at sites[n % len(sites)], the warm-up's from the end); the
    whole requests for this server are built from them before the warm-up, so the timed part
    only writes bytes and reads answers. Past the prebuilt ones a request is built in the loop
    (counted in `bodies_built_in_loop`). Every answer must be a 202 (any other stops the run),
    so `reports` counts 202s. Also the CPU used over the timed part by this process (the load
    generator) and by the server (`server_pid`), in cores."""
    import psutil

    path = "/v1/reports"
    conns = [RawHttp.for_url(url) for _ in range(concurrency)]
    latencies: list[float] = []
    built_in_loop = 0

    def sender(
        order: list[tuple[str, float, float]], prebuilt: list[tuple[str, bytes]]
    ) -> Callable[[int, int], Awaitable[int]]:
        requests = [conns[0].request(path, body, auth) for auth, body in prebuilt]
        taken = itertools.count()

        async def send(c: int, i: int) -> int:
            nonlocal built_in_loop
            n = next(taken)
            if n < len(requests):
                request = requests[n]
            else:
                ((auth, body),) = report_bodies(order, tokens, 1, first=n)
                request = conns[c].request(path, body, auth)
                built_in_loop += 1
            t = time.perf_counter()
            status, answer = await conns[c].send(request)
            latencies.append(time.perf_counter() - t)
            if status != 202:
                raise RuntimeError(f"POST {url}{path}: {status} {answer[:500]!r}")
            return 1

        return send

    warm, timed = bodies
    try:
        send_warm, send_timed = sender(sites[::-1], warm), sender(sites, timed)
        if warmup_s > 0:
            await closed_loop(concurrency, warmup_s, send_warm)
        latencies.clear()
        built_in_loop = 0
        server = psutil.Process(server_pid) if server_pid else None
        server_cpu = sum(server.cpu_times()[:2]) if server else 0.0
        client_cpu = time.process_time()
        n, elapsed = await closed_loop(concurrency, seconds, send_timed)
        client_cpu = time.process_time() - client_cpu
        server_cpu = sum(server.cpu_times()[:2]) - server_cpu if server else float("nan")
    finally:
        for conn in conns:
            await conn.close()
    return {
        "reports": n,
        "concurrency": concurrency,
        "seconds": round(elapsed, 2),
        "reports_per_s": round(n / elapsed, 1),
        "latency_p50_ms": round(pct(latencies, 50) * 1000, 1),
        "latency_p99_ms": round(pct(latencies, 99) * 1000, 1),
        "client_cpu_cores": round(client_cpu / elapsed, 2),
        "server_cpu_cores": round(server_cpu / elapsed, 2),
        "client": "bench.common.RawHttp (raw HTTP/1.1 keep-alive, prebuilt requests)",
        "bodies_prebuilt": len(timed),
        "bodies_built_in_loop": built_in_loop,
    }


async def bench_http(
    sites_n: int, concurrency: int, seconds: float, warmup_s: float
) -> dict[str, dict[str, Any]]:
    """The intake through the incidents service, then its ceiling (the bare FastAPI endpoint),
    with the same sites, tokens, prebuilt bodies and `post_reports`."""
    shared = Settings()
    sites = report_sites(sites_n)
    tokens = {
        who: f"Bearer {issue_token(who, shared, ttl_s=3600)}" for who in {w for w, _, _ in sites}
    }
    bodies = (
        report_bodies(sites[::-1], tokens, int(warmup_s * PREBUILT_PER_S)),
        report_bodies(sites, tokens, int(seconds * PREBUILT_PER_S)),
    )
    system = System(names=["incidents"])
    try:
        await system.start()
        proc = system.procs["incidents"].proc
        intake = await post_reports(
            system.url("incidents"),
            sites,
            tokens,
            bodies,
            concurrency=concurrency,
            seconds=seconds,
            warmup_s=warmup_s,
            server_pid=proc.pid if proc else None,
        )
    finally:
        system.stop()
        await system.drop_database(shared.mongo_uri)
        await delete_topics(shared.kafka_bootstrap, system.prefix)
    async with BareEndpoint() as bare:
        ceiling = await post_reports(
            bare.url,
            sites,
            tokens,
            bodies,
            concurrency=concurrency,
            seconds=seconds,
            warmup_s=warmup_s,
            server_pid=bare.proc.pid if bare.proc else None,
        )
    intake["ratio_to_ceiling"] = round(intake["reports_per_s"] / ceiling["reports_per_s"], 3)
    intake["server"] = "python -m services.incidents (uvicorn.run, its own process)"
    ceiling["server"] = (
        "bench.common.bare_app under bench.common.run_bare (uvicorn.run, own process)"
    )
    return {"http_intake": intake, "ceiling_bare_fastapi": ceiling}


async def bench_pipeline(n: int, duplicate_share: float) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    s = settings(run)
    rng = random.Random(11)
    try:
        await ensure_topics(s)
        events = report_backlog(
            n,
            site=random_point,
            township_of=lambda code: ORG.township_of(code).code,
            district=ORG.district.code,
            duplicate_share=duplicate_share,
            rng=rng,
            producer="bench",
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
            doc = to_doc(incident, next_timer_at(policy, incident))
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


def intake_rows(results: dict[str, Any]) -> list[tuple[str, str]]:
    h, c = results["http_intake"], results.get("ceiling_bare_fastapi")

    def cpu(r: dict[str, Any]) -> str:
        if "client_cpu_cores" not in r:
            return ""
        return f"; CPU cores: client {r['client_cpu_cores']}, server {r['server_cpu_cores']}"

    rows = [
        (
            "HTTP intake (POST /v1/reports → 202 on Kafka)",
            f"{h['reports_per_s']} reports/s (p50 {h['latency_p50_ms']} ms, "
            f"p99 {h['latency_p99_ms']} ms, {h['reports']} reports in {h['seconds']} s, "
            f"{h['concurrency']} clients{cpu(h)})",
        )
    ]
    if c:
        rows.append(
            (
                "Ceiling: bare FastAPI endpoint, same uvicorn settings, same clients and bodies",
                f"{c['reports_per_s']} reports/s (p50 {c['latency_p50_ms']} ms, "
                f"p99 {c['latency_p99_ms']} ms{cpu(c)}); intake at "
                f"{h['reports_per_s'] / c['reports_per_s']:.0%} of it",
            )
        )
    return rows


def markdown_table(rows: list[tuple[str, str]]) -> str:
    out = ["| measure | result |", "|---|---|"]
    out += [f"| {a} | {b} |" for a, b in rows]
    return "\n".join(out)


def table(results: dict[str, Any]) -> str:
    p, e = results["pipeline"], results["escalation"]
    rows = [
        *intake_rows(results),
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
    return markdown_table(rows)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--http-sites", type=int, default=20_000, help="distinct report sites, cycled"
    )
    parser.add_argument("--http-concurrency", type=int, default=20)
    parser.add_argument(
        "--http-seconds", type=float, default=10.0, help="timed part, service and ceiling each"
    )
    parser.add_argument("--http-warmup-s", type=float, default=2.0, help="before it, not counted")
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
        results.update(
            await bench_http(
                args.http_sites, args.http_concurrency, args.http_seconds, args.http_warmup_s
            )
        )
        print("http intake:", results["http_intake"], flush=True)
        print("ceiling (bare FastAPI):", results["ceiling_bare_fastapi"], flush=True)
    if args.only in (None, "pipeline"):
        results["pipeline"] = await bench_pipeline(args.reports, args.duplicate_share)
        print("pipeline:", results["pipeline"], flush=True)
    if args.only not in (None, "escalation"):
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        if args.only == "http":
            print()
            print(markdown_table(intake_rows(results)))
        return
    results["escalation"] = await bench_escalation(args.open_incidents, args.window_s, args.lead_s)
    print("escalation:", results["escalation"], flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(table(results))


if __name__ == "__main__":
    asyncio.run(main())
